import { describe, expect, it } from "vitest";
import { isPermission, PERMISSION_GROUPS, PERMISSION_PATTERN, PERMISSIONS } from "./permissions.ts";
import { BUILT_IN_ROLES, DEFAULT_ROLE, MAX_LEVEL } from "./roles.ts";

describe("permission catalog", () => {
  it("has unique permissions shaped area:action", () => {
    expect(new Set(PERMISSIONS).size).toBe(PERMISSIONS.length);
    for (const p of PERMISSIONS) expect(p).toMatch(new RegExp(PERMISSION_PATTERN));
  });

  it("groups every permission under the group of its area", () => {
    for (const group of PERMISSION_GROUPS)
      for (const p of Object.keys(group.permissions)) expect(isPermission(p)).toBe(true);
    expect(isPermission("apps:everything")).toBe(false);
  });
});

describe("built-in roles", () => {
  it("are ordered Admin > Co-Admin > Manager > Member > Viewer by strictly falling level", () => {
    expect(BUILT_IN_ROLES.map((r) => r.displayName)).toEqual(["Admin", "Co-Admin", "Manager", "Member", "Viewer"]);
    const levels = BUILT_IN_ROLES.map((r) => r.level);
    expect(levels[0]).toBe(MAX_LEVEL);
    for (let i = 1; i < levels.length; i++) expect(levels[i]).toBeLessThan(levels[i - 1] as number);
  });

  it("only hold catalog permissions, each role a subset of the one above it", () => {
    for (const role of BUILT_IN_ROLES)
      for (const p of role.permissions) expect(isPermission(p), `${role.name} ${p}`).toBe(true);
    for (let i = 1; i < BUILT_IN_ROLES.length; i++) {
      const above = new Set(BUILT_IN_ROLES[i - 1]?.permissions);
      for (const p of BUILT_IN_ROLES[i]?.permissions ?? [])
        expect(above.has(p), `${BUILT_IN_ROLES[i]?.name} ${p}`).toBe(true);
    }
  });

  it("give Admin everything and keep deletion and billing for Admin alone", () => {
    expect([...(BUILT_IN_ROLES[0]?.permissions ?? [])].sort()).toEqual([...PERMISSIONS].sort());
    for (const role of BUILT_IN_ROLES.slice(1)) {
      expect(role.permissions).not.toContain("org:delete");
      expect(role.permissions).not.toContain("billing:manage");
    }
  });

  it("name an existing default role for invitations", () => {
    expect(BUILT_IN_ROLES.map((r) => r.name)).toContain(DEFAULT_ROLE);
  });
});
