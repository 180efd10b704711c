// Deleting an organization in two steps: asked for (spec.deletion, written by the API), then
// done when the grace period is over. Meanwhile its apps stay stopped and the API refuses its
// keys; removing spec.deletion restores it. Pure, so every case is a unit test.
import type { Organization } from "@atrium/crds";

export const DEFAULT_DELETION_GRACE = "30d";

/** The reason an app of an organization in its grace period is held at zero. */
export const ORG_DELETING = "OrganizationDeleting";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A grace period as ATRIUM_ORG_DELETION_GRACE gives it: 30d, 720h, 90s, 1d12h. Throws with the
 * variable named, so a typo stops the operator at start rather than purging early or never.
 */
export function parseGrace(text: string, name = "ATRIUM_ORG_DELETION_GRACE"): number {
  let total = 0;
  let rest = text.trim();
  if (!rest) throw new Error(`${name}: empty; give a duration such as 30d, 720h or 90s`);
  while (rest.length) {
    const m = /^(\d+)(ms|s|m|h|d)/.exec(rest);
    if (!m) throw new Error(`${name}: "${text}" is not a duration such as 30d, 720h or 90s`);
    total += Number(m[1]) * (UNITS[m[2] as string] as number);
    rest = rest.slice(m[0].length);
  }
  if (total <= 0) throw new Error(`${name}: "${text}" must be longer than zero`);
  return total;
}

export type DeletionState =
  | { state: "Active" }
  /** Asked for; `deletesAt` is when the grace period ends. */
  | { state: "Grace"; deletesAt: Date; requestedBy: string; remainingMs: number }
  /** The grace period is over: delete the Organization now. */
  | { state: "Due"; deletesAt: Date; requestedBy: string };

/**
 * Where an organization stands. A request time that does not parse (the CRD checks the format,
 * so only a bug writes one) counts as "now" on every pass: such an organization is never
 * purged, rather than purged at once.
 */
export function deletionState(org: Pick<Organization, "spec">, now: Date, graceMs: number): DeletionState {
  const deletion = org.spec.deletion;
  if (!deletion) return { state: "Active" };
  const asked = Date.parse(deletion.requestedAt);
  const from = Number.isFinite(asked) ? asked : now.getTime();
  const deletesAt = new Date(from + graceMs);
  const remainingMs = deletesAt.getTime() - now.getTime();
  if (remainingMs <= 0) return { state: "Due", deletesAt, requestedBy: deletion.requestedBy };
  return { state: "Grace", deletesAt, requestedBy: deletion.requestedBy, remainingMs };
}

/**
 * The app reconciler's hold for an organization asked to be deleted (in its grace period or
 * already being removed): the app stays at zero whatever its idle policy and billing.
 */
export const deletingOrgHold = (
  org: (Pick<Organization, "spec"> & { metadata: { deletionTimestamp?: string } }) | undefined,
): { replicas: 0; stopReason: typeof ORG_DELETING } | undefined =>
  org && (org.spec.deletion || org.metadata.deletionTimestamp) ? { replicas: 0, stopReason: ORG_DELETING } : undefined;

type ConditionInput = { type: string; status: "True" | "False" | "Unknown"; reason: string; message: string };

/**
 * The DeletionScheduled condition: True during the grace period; False (Restored) once a
 * scheduled deletion was taken back; absent on an organization never scheduled for deletion,
 * so the status of every other organization stays as it was.
 */
export function deletionCondition(
  deletion: DeletionState,
  previous: { status: string } | undefined,
): ConditionInput | undefined {
  if (deletion.state === "Grace")
    return {
      type: "DeletionScheduled",
      status: "True",
      reason: "DeletionRequested",
      message: `Deletion asked for by ${deletion.requestedBy}: apps stopped, API keys refused; deleted at ${deletion.deletesAt.toISOString()} unless restored (POST /api/orgs/<org>/restore)`,
    };
  if (deletion.state === "Active" && previous)
    return { type: "DeletionScheduled", status: "False", reason: "Restored", message: "Not scheduled for deletion" };
  return undefined;
}
