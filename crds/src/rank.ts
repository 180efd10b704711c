// Rank rules: who may do what to whom. Pure functions of levels and permission sets; the
// API's routes call them after Casbin has said the caller holds the permission at all, and the
// console calls the same ones to hide or disable what the API would refuse (the API decides).
//
// - Admin (the top level) may assign every role and act on every member, other Admins too.
// - Everyone else acts only on members strictly below their own level, assigns only roles
//   strictly below it (so a Co-Admin assigns Manager and below), and only roles whose
//   permissions they hold themselves: nobody hands out what they lack.
// - Inviting at the default role needs only members:invite (a Manager's one way to add people).
// - The last active Admin cannot be removed, demoted or deactivated.
import { MAX_LEVEL } from "./roles.ts";

export type Rank = { level: number; permissions: ReadonlySet<string> };
export type RoleShape = { name: string; level: number; permissions: readonly string[] };

export type Verdict = { ok: true } | { ok: false; reason: string };
const ok: Verdict = { ok: true };
const no = (reason: string): Verdict => ({ ok: false, reason });

const isTop = (r: Rank) => r.level >= MAX_LEVEL;

export function holdsAll(actor: Rank, permissions: readonly string[]): string[] {
  return permissions.filter((p) => !actor.permissions.has(p));
}

/** May the actor give this role to someone (by invitation or a role change)? */
export function mayAssign(actor: Rank, role: RoleShape): Verdict {
  if (isTop(actor)) return ok;
  if (role.level >= actor.level) return no(`Role "${role.name}" is not below your own rank`);
  const lacking = holdsAll(actor, role.permissions);
  if (lacking.length) return no(`Role "${role.name}" grants permissions you lack: ${lacking.join(", ")}`);
  return ok;
}

/** May the actor act on this member at all (edit, change role, deactivate, remove)? */
export function mayActOn(actor: Rank & { email: string }, target: { email: string; level: number }): Verdict {
  if (isTop(actor)) return ok;
  if (actor.email === target.email) return no("You cannot change your own membership");
  if (target.level >= actor.level) return no("You can only act on members below your rank");
  return ok;
}

/** Invitations: the default role needs only members:invite; any other role is an assignment. */
export function mayInvite(actor: Rank, role: RoleShape, defaultRole: string): Verdict {
  if (role.name === defaultRole && actor.permissions.has("members:invite")) return ok;
  if (!actor.permissions.has("members:role")) return no(`You may invite at the default role "${defaultRole}" only`);
  return mayAssign(actor, role);
}

/** May the actor create or edit a custom role with this shape? */
export function mayDefineRole(actor: Rank, role: { level: number; permissions: readonly string[] }): Verdict {
  if (!isTop(actor) && role.level >= actor.level) return no("A role you define must rank below your own");
  if (role.level >= MAX_LEVEL) return no(`Only the built-in Admin role has level ${MAX_LEVEL}`);
  const lacking = holdsAll(actor, role.permissions);
  if (lacking.length) return no(`You cannot grant permissions you lack: ${lacking.join(", ")}`);
  return ok;
}

/**
 * Would this change leave the org without an active Admin? `admins` name the members who are
 * active Admins now; `target` loses the role or the activity. The routes ask twice: on their
 * caches, then under the org's guard on the members read live (api/src/authz/admin-guard.ts).
 */
export function removesLastAdmin(admins: readonly string[], target: string): boolean {
  return admins.includes(target) && admins.length <= 1;
}
