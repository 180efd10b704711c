import { BUILT_IN_ROLES, type Member, type Permission } from "@atrium/crds";
import { describe, expect, it } from "vitest";
import { appCounts, memberCounts, quickActions } from "./overview.ts";

const NOW = new Date("2026-03-15T12:00:00Z");
const member = (spec: Partial<Member["spec"]>, status: Member["status"] = {}): Member => ({
  apiVersion: "atrium.dev/v1alpha1",
  kind: "Member",
  metadata: { name: "m" },
  spec: { email: "m@example.com", role: "member", ...spec },
  status,
});
const roleCan = (name: string) => {
  const held = new Set<string>(BUILT_IN_ROLES.find((r) => r.name === name)?.permissions ?? []);
  return (p: Permission) => held.has(p);
};

describe("quickActions", () => {
  it.each([
    ["admin", ["invite-member", "install-app", "create-key", "create-role", "view-billing", "export-data"]],
    ["co-admin", ["invite-member", "install-app", "create-key", "create-role", "view-billing", "export-data"]],
    ["manager", ["invite-member", "install-app", "create-key", "view-billing"]],
    ["member", ["create-key"]],
    ["viewer", []],
  ])("%s gets what their permissions allow", (role, ids) => {
    expect(quickActions("acme", roleCan(role)).map((a) => a.id)).toEqual(ids);
  });

  it("needs every permission of an action (installing needs the marketplace too)", () => {
    const only =
      (...ps: Permission[]) =>
      (p: Permission) =>
        ps.includes(p);
    expect(quickActions("acme", only("apps:install"))).toEqual([]);
    expect(quickActions("acme", only("apps:install", "marketplace:view"))).toEqual([
      { id: "install-app", label: "Install an app", href: "/orgs/acme/marketplace" },
    ]);
    expect(quickActions("acme", only("org:export"))).toEqual([
      { id: "export-data", label: "Export the organization's data", href: "/orgs/acme/settings#export" },
    ]);
  });
});

describe("memberCounts", () => {
  it("counts active, invited and deactivated members; an expired invitation is none", () => {
    const members = [
      member({}, { joinedAt: "2026-01-01T00:00:00Z" }),
      member({}, { joinedAt: "2026-01-02T00:00:00Z" }),
      member({}, { invitationExpiresAt: "2026-03-20T00:00:00Z" }),
      member({}),
      member({}, { invitationExpiresAt: "2026-03-01T00:00:00Z" }),
      member({ active: false }, { joinedAt: "2026-01-01T00:00:00Z" }),
    ];
    expect(memberCounts(members, NOW)).toEqual({ active: 2, invited: 2, deactivated: 1 });
  });
});

describe("appCounts", () => {
  it("counts installed apps and those Running", () => {
    expect(
      appCounts([
        { status: { phase: "Running" } },
        { status: { phase: "Stopped" } },
        {},
        { status: { phase: "Starting" } },
      ]),
    ).toEqual({ installed: 4, running: 1 });
  });
});
