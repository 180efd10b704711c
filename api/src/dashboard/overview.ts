// The organization overview's pure parts: member counts by phase, app counts, and the quick
// actions a caller may take (only those their permissions allow: the console shows no button
// that would answer 403).
import { type AppInstance, type Member, memberPhase, type Permission } from "@atrium/crds";

export const QUICK_ACTIONS = [
  { id: "invite-member", label: "Invite a member", path: "members", needs: ["members:invite"] },
  { id: "install-app", label: "Install an app", path: "marketplace", needs: ["apps:install", "marketplace:view"] },
  { id: "create-key", label: "Create an API key", path: "api-keys", needs: ["apikeys:create"] },
  { id: "create-role", label: "Create a role", path: "roles", needs: ["roles:create"] },
  { id: "view-billing", label: "View billing", path: "billing", needs: ["billing:view"] },
  { id: "export-data", label: "Export the organization's data", path: "settings#export", needs: ["org:export"] },
] as const satisfies readonly { id: string; label: string; path: string; needs: readonly Permission[] }[];

export type QuickActionId = (typeof QUICK_ACTIONS)[number]["id"];
export type QuickAction = { id: QuickActionId; label: string; href: string };

/** The quick actions whose every permission the caller holds, with console links into `org`. */
export const quickActions = (org: string, can: (p: Permission) => boolean): QuickAction[] =>
  QUICK_ACTIONS.filter((a) => a.needs.every(can)).map((a) => ({
    id: a.id,
    label: a.label,
    href: `/orgs/${org}/${a.path}`,
  }));

/**
 * Members by phase (crds memberPhase): active, invited (an invitation not yet expired) and
 * deactivated. An expired invitation is none of them: that person was never a member.
 */
export function memberCounts(members: readonly Member[], now: Date) {
  const counts = { active: 0, invited: 0, deactivated: 0 };
  for (const m of members) {
    const phase = memberPhase(m, now);
    if (phase === "Active") counts.active++;
    else if (phase === "Invited") counts.invited++;
    else if (phase === "Deactivated") counts.deactivated++;
  }
  return counts;
}

/** Installed apps and those running now (phase Running, as the Organization's status counts them). */
export const appCounts = (apps: readonly Pick<AppInstance, "status">[]) => ({
  installed: apps.length,
  running: apps.filter((a) => a.status?.phase === "Running").length,
});
