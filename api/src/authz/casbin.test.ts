import { BUILT_IN_ROLES, PERMISSIONS } from "@atrium/crds";
import { describe, expect, it } from "vitest";
import { Authorizer, type OrgPolicy } from "./casbin.ts";

const roles = BUILT_IN_ROLES.map((r) => ({ name: r.name, permissions: r.permissions }));
const policy = (members: OrgPolicy["members"]): OrgPolicy => ({ roles, members });

describe("Authorizer", () => {
  it("answers from the index exactly what Casbin's enforcer answers", async () => {
    const authz = new Authorizer();
    const members = BUILT_IN_ROLES.map((r, i) => ({ subject: `u${i}@x.example`, role: r.name }));
    await authz.update("acme", policy(members));
    await authz.update("globex", policy([{ subject: "u0@x.example", role: "viewer" }]));
    let checked = 0;
    for (const org of ["acme", "globex", "initech"])
      for (const m of [...members, { subject: "stranger@x.example" }])
        for (const p of PERMISSIONS) {
          expect(authz.can(m.subject, org, p), `${m.subject} ${org} ${p}`).toBe(authz.enforce(m.subject, org, p));
          checked++;
        }
    expect(checked).toBe(3 * 6 * PERMISSIONS.length);
    expect(authz.can("u0@x.example", "acme", "org:delete")).toBe(true);
    expect(authz.can("u0@x.example", "globex", "org:delete")).toBe(false);
  });

  it("a role change replaces the org's decisions; other orgs keep theirs", async () => {
    const authz = new Authorizer();
    await authz.update("acme", policy([{ subject: "a@x", role: "viewer" }]));
    await authz.update("globex", policy([{ subject: "a@x", role: "admin" }]));
    expect(authz.can("a@x", "acme", "members:invite")).toBe(false);
    await authz.update("acme", policy([{ subject: "a@x", role: "manager" }]));
    expect(authz.can("a@x", "acme", "members:invite")).toBe(true);
    expect(authz.can("a@x", "globex", "org:delete")).toBe(true);
    await authz.update("acme", null);
    expect(authz.can("a@x", "acme", "members:view")).toBe(false);
  });

  it("coalesces a burst of updates and ends on the last policy", async () => {
    const authz = new Authorizer();
    const burst = ["viewer", "member", "manager", "co-admin", "viewer"].map((role) =>
      authz.update("acme", policy([{ subject: "a@x", role }])),
    );
    await Promise.all(burst);
    expect(authz.can("a@x", "acme", "members:view")).toBe(true);
    expect(authz.can("a@x", "acme", "apps:access")).toBe(false);
    expect(authz.rebuilds).toBeLessThan(5);
  });
});
