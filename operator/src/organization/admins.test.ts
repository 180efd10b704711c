import { activeAdminsAmong, type Member } from "@atrium/crds";
import { describe, expect, it } from "vitest";
import { adminCondition, invitedAdmins } from "./admins.ts";
import { retainedClaims, retainPatch } from "./volumes.ts";

const levels: Record<string, number> = { admin: 100, manager: 60 };
const level = (role: string) => levels[role];
const m = (
  name: string,
  role: string,
  more: Partial<Member["spec"]> = {},
  joined = true,
  created = "2026-01-01T00:00:00Z",
): Member => ({
  apiVersion: "atrium.dev/v1alpha1",
  kind: "Member",
  metadata: { name, creationTimestamp: created },
  spec: { email: `${name}@acme.example`, role, ...more },
  ...(joined ? { status: { joinedAt: "2026-01-02T00:00:00Z" } } : {}),
});

describe("activeAdminsAmong", () => {
  it("counts joined, active members at the Admin level who own their address", () => {
    const admins = activeAdminsAmong(
      [
        m("ann", "admin"),
        m("bob", "admin", { active: false }),
        m("cat", "admin", {}, false),
        m("dan", "manager"),
        // A newer duplicate of dan's address, as Admin: grants nothing.
        m("dan2", "admin", { email: "DAN@acme.example" }, true, "2026-02-01T00:00:00Z"),
      ],
      level,
    );
    expect(admins.map((a) => a.metadata.name)).toEqual(["ann"]);
  });

  it("AdminPresent is False with NoActiveAdmin when none is left", () => {
    expect(adminCondition([])).toMatchObject({ type: "AdminPresent", status: "False", reason: "NoActiveAdmin" });
    expect(adminCondition([m("ann", "admin")])).toMatchObject({ status: "True", message: "1 active Admin: ann" });
  });

  it("says AdminInvited while the only Admins are invited and have not joined (a new org)", () => {
    const now = new Date("2026-01-03T00:00:00Z");
    const pending = (name: string, expires: string) => ({
      ...m(name, "admin", {}, false),
      status: { invitationExpiresAt: expires },
    });
    const members = [
      pending("ann", "2026-01-09T00:00:00Z"),
      pending("old", "2026-01-02T00:00:00Z"),
      m("dan", "manager"),
    ];
    const invited = invitedAdmins(members, level, now);
    expect(invited.map((a) => a.metadata.name)).toEqual(["ann"]);
    expect(adminCondition([], invited)).toMatchObject({ status: "False", reason: "AdminInvited" });
    expect(adminCondition([], invited).message).toContain("ann@acme.example");
    expect(adminCondition([m("ann", "admin")], invited)).toMatchObject({ status: "True" });
  });
});

describe("retained volumes", () => {
  const claim = (owned: boolean, volumeName?: string) => ({
    metadata: {
      name: "docs-data",
      namespace: "org-acme",
      labels: { "app.kubernetes.io/instance": "docs" },
      ...(owned
        ? { ownerReferences: [{ apiVersion: "atrium.dev/v1alpha1", kind: "AppInstance", name: "docs", uid: "u" }] }
        : {}),
    },
    spec: volumeName ? { volumeName } : {},
  });

  it("keeps only bound claims without an owner (deletionPolicy Retain)", () => {
    expect(
      retainedClaims([claim(true, "pv-1"), claim(false), claim(false, "pv-2")]).map((c) => c.spec?.volumeName),
    ).toEqual(["pv-2"]);
  });

  it("sets reclaim policy Retain and labels the volume with org and app, once", () => {
    const volume = { metadata: { name: "pv-2" }, spec: { persistentVolumeReclaimPolicy: "Delete" } };
    const patch = retainPatch("acme", claim(false, "pv-2"), volume);
    expect(patch).toEqual({
      metadata: {
        labels: { "atrium.dev/organization": "acme", "atrium.dev/app": "docs" },
        annotations: { "atrium.dev/retained-claim": "org-acme/docs-data" },
      },
      spec: { persistentVolumeReclaimPolicy: "Retain" },
    });
    const kept = {
      metadata: { name: "pv-2", ...(patch as any).metadata },
      spec: { persistentVolumeReclaimPolicy: "Retain" },
    };
    expect(retainPatch("acme", claim(false, "pv-2"), kept)).toBeUndefined();
  });
});
