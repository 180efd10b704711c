import { describe, expect, it } from "vitest";
import { mayActOn, mayAssign, mayDefineRole, mayInvite, removesLastAdmin } from "./rank.ts";
import { BUILT_IN_ROLES, DEFAULT_ROLE } from "./roles.ts";

const role = (name: string) => {
  const r = BUILT_IN_ROLES.find((b) => b.name === name);
  if (!r) throw new Error(name);
  return { name: r.name, level: r.level, permissions: r.permissions };
};
const rank = (name: string, email = `${name}@x.example`) => {
  const r = role(name);
  return { email, level: r.level, permissions: new Set<string>(r.permissions) };
};
const NAMES = BUILT_IN_ROLES.map((r) => r.name);

describe("mayAssign: Admin any role, Co-Admin Manager and below, nobody what they lack", () => {
  const expected: Record<string, string[]> = {
    admin: NAMES,
    "co-admin": ["manager", "member", "viewer"],
    manager: ["member", "viewer"], // by rank; Manager lacks members:role, checked by the routes
    member: ["viewer"],
    viewer: [],
  };
  for (const actor of NAMES)
    it(`${actor} assigns exactly ${expected[actor]?.join(", ") || "nothing"}`, () => {
      const allowed = NAMES.filter((target) => mayAssign(rank(actor), role(target)).ok);
      expect(allowed).toEqual(expected[actor]);
    });

  it("refuses a lower custom role carrying a permission the actor lacks", () => {
    const custom = { name: "billing-lead", level: 50, permissions: ["billing:manage"] };
    const verdict = mayAssign(rank("co-admin"), custom);
    expect(verdict).toEqual({ ok: false, reason: expect.stringContaining("billing:manage") });
  });
});

describe("mayActOn: only members below, Admin on anyone", () => {
  it.each([
    ["admin", "admin", true],
    ["admin", "viewer", true],
    ["co-admin", "admin", false],
    ["co-admin", "co-admin", false],
    ["co-admin", "manager", true],
    ["manager", "member", true],
    ["member", "member", false],
    ["viewer", "viewer", false],
  ])("%s on %s → %s", (actor, target, ok) => {
    expect(mayActOn(rank(actor), { email: "t@x.example", level: role(target).level }).ok).toBe(ok);
  });

  it("nobody but an Admin changes their own membership", () => {
    const self = rank("co-admin", "me@x.example");
    expect(mayActOn(self, { email: "me@x.example", level: 10 }).ok).toBe(false);
  });
});

describe("mayInvite", () => {
  it("a Manager invites at the default role only", () => {
    expect(mayInvite(rank("manager"), role(DEFAULT_ROLE), DEFAULT_ROLE).ok).toBe(true);
    expect(mayInvite(rank("manager"), role("viewer"), DEFAULT_ROLE).ok).toBe(false);
  });
  it("a Co-Admin invites a Manager but not a Co-Admin", () => {
    expect(mayInvite(rank("co-admin"), role("manager"), DEFAULT_ROLE).ok).toBe(true);
    expect(mayInvite(rank("co-admin"), role("co-admin"), DEFAULT_ROLE).ok).toBe(false);
  });
  it("a Viewer invites nobody", () => {
    expect(mayInvite(rank("viewer"), role(DEFAULT_ROLE), DEFAULT_ROLE).ok).toBe(false);
  });
});

describe("mayDefineRole", () => {
  it("refuses a role at or above the definer's level, or with permissions they lack", () => {
    expect(mayDefineRole(rank("co-admin"), { level: 80, permissions: [] }).ok).toBe(false);
    expect(mayDefineRole(rank("co-admin"), { level: 70, permissions: ["org:delete"] }).ok).toBe(false);
    expect(mayDefineRole(rank("co-admin"), { level: 70, permissions: ["apps:view"] }).ok).toBe(true);
    expect(mayDefineRole(rank("admin"), { level: 100, permissions: [] }).ok).toBe(false);
    expect(mayDefineRole(rank("admin"), { level: 99, permissions: ["org:delete"] }).ok).toBe(true);
  });
});

describe("removesLastAdmin", () => {
  it("protects the only Admin and no one else", () => {
    expect(removesLastAdmin(["a@x"], "a@x")).toBe(true);
    expect(removesLastAdmin(["a@x", "b@x"], "a@x")).toBe(false);
    expect(removesLastAdmin(["a@x"], "b@x")).toBe(false);
  });
});
