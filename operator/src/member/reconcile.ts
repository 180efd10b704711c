import { type Member, memberPhase, membersByEmail, normalizeEmail } from "@atrium/crds";
import { R } from "@atrium/kube";
import { type Deps, type Obj, writeStatus } from "../deps.ts";
import { requeueAfter } from "../requeue.ts";
import { setCondition } from "../runtime/conditions.ts";
import type { Outcome } from "../runtime/queue.ts";

/**
 * Why a member grants nothing, if it does not: a newer Member with an address an older one of
 * the org already holds (kubectl accepts it; the API's authorization ignores it, by the same
 * rule), or a role that does not exist.
 */
export function memberCondition(
  member: Obj<Member>,
  owner: Obj<Member> | undefined,
  role: { spec: { displayName: string } } | undefined,
  phase: string,
) {
  if (owner)
    return {
      type: "Ready",
      status: "False" as const,
      reason: "DuplicateEmail",
      message: `${normalizeEmail(member.spec.email)} already belongs to member ${owner.metadata.name} (the older one); this member grants nothing. Delete it, or change the role on ${owner.metadata.name}.`,
    };
  if (!role)
    return {
      type: "Ready",
      status: "False" as const,
      reason: "RoleNotFound",
      message: `OrgRole "${member.spec.role}" does not exist in namespace ${member.metadata.namespace}`,
    };
  return { type: "Ready", status: "True" as const, reason: phase, message: `Holds role ${role.spec.displayName}` };
}

export const reconcileMember =
  (deps: Deps) =>
  async (key: string): Promise<Outcome> => {
    const member = deps.caches.members.get(key) as Obj<Member> | undefined;
    if (!member || member.metadata.deletionTimestamp) return;
    const now = deps.now();
    const phase = memberPhase(member, now);
    const namespace = member.metadata.namespace as string;
    const role = deps.caches.orgRoles.get(`${namespace}/${member.spec.role}`);
    const owner = membersByEmail(deps.caches.members.inNamespace(namespace)).duplicates.get(member.metadata.name);
    const condition = memberCondition(member, owner, role, phase);
    const status = {
      phase,
      observedGeneration: member.metadata.generation,
      conditions: setCondition(member.status?.conditions, condition, member.metadata.generation, now),
    };
    const before = member.status?.conditions?.find((c) => c.type === "Ready")?.reason;
    const changed = await writeStatus(deps, R.member, member, status);
    if (changed && member.status?.phase && member.status.phase !== phase)
      deps.record(member, "Normal", phase, `Member ${member.spec.email} is now ${phase}`);
    if (changed && condition.status === "False" && before !== condition.reason)
      deps.record(member, "Warning", condition.reason, condition.message);
    // Wake up when a pending invitation expires (in steps: it may be far away).
    const expires = member.status?.invitationExpiresAt;
    if (phase === "Invited" && expires) return requeueAfter(Date.parse(expires) - now.getTime() + 1000);
    return;
  };
