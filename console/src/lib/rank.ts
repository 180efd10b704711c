// Which actions to offer: the API's rank rules (api/src/authz/rank.ts) seen from the caller's
// side, so the console hides or disables what the API would refuse. The API still decides;
// rank.test.ts holds both to the same table so they cannot drift apart.
import { MAX_LEVEL } from "../../../crds/src/roles.ts";

export type Rank = { level: number; permissions: ReadonlySet<string> };
export type RoleShape = { name: string; level: number; permissions: readonly string[] };
export type Verdict = { ok: true } | { ok: false; reason: string };

const ok: Verdict = { ok: true };
const no = (reason: string): Verdict => ({ ok: false, reason });
const isTop = (r: Rank) => r.level >= MAX_LEVEL;
const lacking = (actor: Rank, permissions: readonly string[]) => permissions.filter((p) => !actor.permissions.has(p));

export function mayAssign(actor: Rank, role: RoleShape): Verdict {
  if (isTop(actor)) return ok;
  if (role.level >= actor.level) return no(`Role "${role.name}" is not below your own rank`);
  const missing = lacking(actor, role.permissions);
  if (missing.length) return no(`Role "${role.name}" grants permissions you lack: ${missing.join(", ")}`);
  return ok;
}

export function mayActOn(actor: Rank & { email: string }, target: { email: string; level: number }): Verdict {
  if (isTop(actor)) return ok;
  if (actor.email === target.email) return no("You cannot change your own membership");
  if (target.level >= actor.level) return no("You can only act on members below your rank");
  return ok;
}

export function mayInvite(actor: Rank, role: RoleShape, defaultRole: string): Verdict {
  if (role.name === defaultRole && actor.permissions.has("members:invite")) return ok;
  if (!actor.permissions.has("members:role")) return no(`You may invite at the default role "${defaultRole}" only`);
  return mayAssign(actor, role);
}

export function mayDefineRole(actor: Rank, role: { level: number; permissions: readonly string[] }): Verdict {
  if (!isTop(actor) && role.level >= actor.level) return no("A role you define must rank below your own");
  if (role.level >= MAX_LEVEL) return no(`Only the built-in Admin role has level ${MAX_LEVEL}`);
  const missing = lacking(actor, role.permissions);
  if (missing.length) return no(`You cannot grant permissions you lack: ${missing.join(", ")}`);
  return ok;
}
