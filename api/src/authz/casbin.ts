// Authorization is Casbin's rbac-with-domains model, one domain per organization: members
// hold roles in a domain (g) and roles hold permissions in a domain (p).
//
// Casbin evaluates its matcher once per policy line, so one enforcer holding every org takes
// ~100 ms a decision at 200 orgs (measured: bench/scenarios/authz.ts). Instead each org's
// policy is loaded into its own enforcer whenever that org's roles or members change, and
// Casbin's answer for every member (getImplicitPermissionsForUser) is materialized into a
// set. A decision is then a set lookup; the sets are replaced whole, never patched, so a
// decision sees either the old policy or the new one.
import { type Enforcer, newEnforcer, newModelFromString } from "casbin";

export const MODEL = `
[request_definition]
r = sub, dom, act

[policy_definition]
p = sub, dom, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.dom == p.dom && g(r.sub, p.sub, r.dom) && r.act == p.act
`;

export type OrgPolicy = {
  roles: ReadonlyArray<{ name: string; permissions: readonly string[] }>;
  /** Only members who may act (joined and active) belong here. */
  members: ReadonlyArray<{ subject: string; role: string }>;
};

const roleSubject = (role: string) => `role:${role}`;

/** A fresh enforcer holding one org's policy. */
export async function orgEnforcer(org: string, policy: OrgPolicy): Promise<Enforcer> {
  const enforcer = await newEnforcer(newModelFromString(MODEL));
  const p = policy.roles.flatMap((r) => r.permissions.map((perm) => [roleSubject(r.name), org, perm]));
  const g = policy.members.map((m) => [m.subject, roleSubject(m.role), org]);
  if (p.length) await enforcer.addPolicies(p);
  if (g.length) await enforcer.addGroupingPolicies(g);
  return enforcer;
}

/** Every subject's effective permissions in the org, as Casbin computes them. */
export async function materialize(
  org: string,
  enforcer: Enforcer,
  subjects: readonly string[],
): Promise<Map<string, ReadonlySet<string>>> {
  const index = new Map<string, ReadonlySet<string>>();
  for (const subject of subjects) {
    const rules = await enforcer.getImplicitPermissionsForUser(subject, org);
    index.set(subject, new Set(rules.filter((rule) => rule[1] === org).map((rule) => rule[2] as string)));
  }
  return index;
}

/**
 * The decision index over all orgs. `update` rebuilds one org; concurrent updates of the same
 * org are coalesced so the last policy always wins.
 */
export class Authorizer {
  private readonly decisions = new Map<string, Map<string, ReadonlySet<string>>>();
  private readonly enforcers = new Map<string, Enforcer>();
  private readonly pending = new Map<string, OrgPolicy | null>();
  private readonly running = new Set<string>();
  private readonly idle = new Map<string, Array<() => void>>();
  rebuilds = 0;

  /** Replaces an org's policy (null: the org is gone). Resolves once decisions reflect it. */
  update(org: string, policy: OrgPolicy | null): Promise<void> {
    this.pending.set(org, policy);
    const done = new Promise<void>((resolve) => {
      const waiters = this.idle.get(org) ?? [];
      waiters.push(resolve);
      this.idle.set(org, waiters);
    });
    if (!this.running.has(org)) void this.drain(org);
    return done;
  }

  private async drain(org: string): Promise<void> {
    this.running.add(org);
    try {
      while (this.pending.has(org)) {
        const policy = this.pending.get(org) ?? null;
        this.pending.delete(org);
        const waiters = this.idle.get(org) ?? [];
        this.idle.delete(org);
        try {
          await this.rebuild(org, policy);
        } finally {
          for (const resolve of waiters) resolve();
        }
      }
    } finally {
      this.running.delete(org);
    }
  }

  private async rebuild(org: string, policy: OrgPolicy | null): Promise<void> {
    this.rebuilds++;
    if (!policy) {
      this.decisions.delete(org);
      this.enforcers.delete(org);
      return;
    }
    const enforcer = await orgEnforcer(org, policy);
    const index = await materialize(
      org,
      enforcer,
      policy.members.map((m) => m.subject),
    );
    this.enforcers.set(org, enforcer);
    this.decisions.set(org, index);
  }

  can(subject: string, org: string, permission: string): boolean {
    return this.decisions.get(org)?.get(subject)?.has(permission) ?? false;
  }

  permissionsOf(subject: string, org: string): ReadonlySet<string> {
    return this.decisions.get(org)?.get(subject) ?? new Set();
  }

  /** Asks Casbin itself (slow path): tests check the index against it. */
  enforce(subject: string, org: string, permission: string): boolean {
    return this.enforcers.get(org)?.enforceSync(subject, org, permission) ?? false;
  }
}
