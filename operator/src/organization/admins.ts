// Whether an organization still has someone who can manage it. The API refuses to demote or
// deactivate the last Admin, but kubectl can (and a Member's email can collide with an older
// one's): the Organization then says so in its AdminPresent condition.
// Who counts as an active Admin is @atrium/crds' activeAdminsAmong (the API's rule too).
import { MAX_LEVEL, type Member, memberPhase, membersByEmail } from "@atrium/crds";
import type { ConditionInput } from "../runtime/conditions.ts";

/**
 * Members invited as Admin who have not joined yet (and whose invitation still holds): a new
 * organization's first Admin is one of these until they log in.
 */
export function invitedAdmins<M extends Member>(
  members: readonly M[],
  levelOf: (role: string) => number | undefined,
  now: Date,
) {
  return [...membersByEmail(members).owners.values()].filter(
    (m) => memberPhase(m, now) === "Invited" && (levelOf(m.spec.role) ?? 0) >= MAX_LEVEL,
  );
}

export function adminCondition(admins: readonly Member[], invited: readonly Member[] = []): ConditionInput {
  if (admins.length === 0 && invited.length > 0)
    return {
      type: "AdminPresent",
      status: "False",
      reason: "AdminInvited",
      message: `No Admin has joined yet; invited: ${invited
        .map((m) => m.spec.email)
        .sort()
        .join(", ")} (they become Admin when they accept and log in)`,
    };
  if (admins.length === 0)
    return {
      type: "AdminPresent",
      status: "False",
      reason: "NoActiveAdmin",
      message:
        "No active member holds the Admin role, so nobody can manage the organization; give a joined, active member the role admin (kubectl edit member)",
    };
  const names = admins.map((m) => m.metadata.name).sort();
  const shown = names.length > 3 ? `${names.slice(0, 3).join(", ")} and ${names.length - 3} more` : names.join(", ");
  return {
    type: "AdminPresent",
    status: "True",
    reason: "ActiveAdmin",
    message: `${names.length} active ${names.length === 1 ? "Admin" : "Admins"}: ${shown}`,
  };
}
