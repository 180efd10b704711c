import { type Member, memberPhase } from "@atrium/crds";
import { R } from "@atrium/kube";
import { type Deps, type Obj, writeStatus } from "../deps.ts";
import { setCondition } from "../runtime/conditions.ts";
import type { Outcome } from "../runtime/queue.ts";

export const reconcileMember =
  (deps: Deps) =>
  async (key: string): Promise<Outcome> => {
    const member = deps.caches.members.get(key) as Obj<Member> | undefined;
    if (!member || member.metadata.deletionTimestamp) return;
    const now = deps.now();
    const phase = memberPhase(member, now);
    const role = deps.caches.orgRoles.get(`${member.metadata.namespace}/${member.spec.role}`);
    const condition = role
      ? { type: "Ready", status: "True" as const, reason: phase, message: `Holds role ${role.spec.displayName}` }
      : {
          type: "Ready",
          status: "False" as const,
          reason: "RoleNotFound",
          message: `OrgRole "${member.spec.role}" does not exist in namespace ${member.metadata.namespace}`,
        };
    const status = {
      phase,
      observedGeneration: member.metadata.generation,
      conditions: setCondition(member.status?.conditions, condition, member.metadata.generation, now),
    };
    const changed = await writeStatus(deps, R.member, member, status);
    if (changed && member.status?.phase && member.status.phase !== phase)
      deps.record(member, "Normal", phase, `Member ${member.spec.email} is now ${phase}`);
    if (changed && !role) deps.record(member, "Warning", "RoleNotFound", condition.message);
    // Wake up when a pending invitation expires.
    const expires = member.status?.invitationExpiresAt;
    if (phase === "Invited" && expires)
      return { requeueAfterMs: Math.max(0, Date.parse(expires) - now.getTime()) + 1000 };
    return;
  };
