// The console's copy of the rank rules answers as the API's own does, case by case.
import { BUILT_IN_ROLES, DEFAULT_ROLE, PERMISSIONS } from "@atrium/crds";
import { describe, expect, it } from "vitest";
import * as server from "../../../api/src/authz/rank.ts";
import * as console from "./rank.ts";

const custom = [
  { name: "auditor", level: 30, permissions: ["audit:view", "members:view"] },
  { name: "deployer", level: 70, permissions: ["apps:install", "apps:restart"] },
  { name: "lead", level: 99, permissions: [...PERMISSIONS].filter((p) => p !== "org:delete") },
];
const roles = [...BUILT_IN_ROLES.map((r) => ({ ...r, permissions: [...r.permissions] })), ...custom];
const actors = roles.map((r) => ({
  level: r.level,
  permissions: new Set<string>(r.permissions),
  email: `${r.name}@x`,
}));

describe("console rank rules", () => {
  it("match api/src/authz/rank.ts for every actor and role", () => {
    for (const actor of actors)
      for (const role of roles) {
        const where = `${actor.email} -> ${role.name}`;
        expect(console.mayAssign(actor, role), where).toEqual(server.mayAssign(actor, role));
        expect(console.mayInvite(actor, role, DEFAULT_ROLE), where).toEqual(
          server.mayInvite(actor, role, DEFAULT_ROLE),
        );
        expect(console.mayDefineRole(actor, role), where).toEqual(server.mayDefineRole(actor, role));
        const target = { email: `${role.name}@x`, level: role.level };
        expect(console.mayActOn(actor, target), where).toEqual(server.mayActOn(actor, target));
      }
  });
});
