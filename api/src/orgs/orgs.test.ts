import { describe, expect, it } from "vitest";
import type { Principal } from "../auth/principal.ts";
import { loadConfig } from "../config.ts";
import { confirmsDeletion, deletionRefusal, isDeleting, orgView } from "./lifecycle.ts";
import { isPlatformAdmin, platformAdminsFrom, platformGroupCookie, provesPlatformGroup } from "./platform.ts";

const PEPPERS = { ATRIUM_KEY_PEPPERS: "1:0123456789abcdef0123" };
const session = (email: string): Principal => ({
  kind: "session",
  sessionId: "s",
  userId: "u",
  email,
  name: "N",
  csrfToken: "c",
});
const key = (email: string): Principal => ({
  kind: "apikey",
  keyId: "K",
  keyType: "STANDARD",
  org: "acme",
  email,
  memberName: "m",
  scopes: [],
});

describe("platform administrators (ATRIUM_PLATFORM_ADMINS)", () => {
  it("fails closed: nobody is one when nothing is configured", () => {
    const admins = loadConfig(PEPPERS).platformAdmins;
    expect(admins.emails.size).toBe(0);
    expect(isPlatformAdmin(admins, session("ops@example.com"))).toBe(false);
    expect(isPlatformAdmin(platformAdminsFrom({ ATRIUM_PLATFORM_ADMINS: " , " }), session("ops@example.com"))).toBe(
      false,
    );
  });

  it("names logged-in people by email, in any case and spacing, and never an API key", () => {
    const admins = loadConfig({
      ...PEPPERS,
      ATRIUM_PLATFORM_ADMINS: " Ops@Example.com,alice@example.org ",
    }).platformAdmins;
    expect([...admins.emails].sort()).toEqual(["alice@example.org", "ops@example.com"]);
    expect(isPlatformAdmin(admins, session("OPS@example.com"))).toBe(true);
    expect(isPlatformAdmin(admins, session("bob@example.com"))).toBe(false);
    expect(isPlatformAdmin(admins, key("ops@example.com"))).toBe(false);
    expect(isPlatformAdmin(admins, undefined)).toBe(false);
  });

  it("stops the API on a malformed address, naming the variable", () => {
    expect(() => loadConfig({ ...PEPPERS, ATRIUM_PLATFORM_ADMINS: "ops@example.com, not-an-email" })).toThrow(
      /ATRIUM_PLATFORM_ADMINS: "not-an-email"/,
    );
  });
});

describe("platform administrators by OIDC group (ATRIUM_PLATFORM_ADMIN_GROUP)", () => {
  const config = loadConfig({ ...PEPPERS, ATRIUM_PLATFORM_ADMIN_GROUP: " atrium-platform " });
  const { peppers, platformAdmins: admins } = config;

  it("names a session whose login carried the group, never an API key", () => {
    expect(admins.group).toBe("atrium-platform");
    expect(
      isPlatformAdmin(admins, {
        ...(session("anyone@example.com") as Principal & { kind: "session" }),
        platformGroup: true,
      }),
    ).toBe(true);
    expect(isPlatformAdmin(admins, session("anyone@example.com"))).toBe(false);
    expect(loadConfig(PEPPERS).platformAdmins.group).toBeUndefined();
  });

  it("proves the group with a cookie bound to one session and the configured group", () => {
    const value = platformGroupCookie(peppers, "session-1", "atrium-platform");
    expect(provesPlatformGroup(peppers, "session-1", "atrium-platform", value)).toBe(true);
    // Another session, another group, no group configured, a forged or altered value: no.
    expect(provesPlatformGroup(peppers, "session-2", "atrium-platform", value)).toBe(false);
    expect(provesPlatformGroup(peppers, "session-1", "other-group", value)).toBe(false);
    expect(provesPlatformGroup(peppers, "session-1", undefined, value)).toBe(false);
    expect(provesPlatformGroup(peppers, "session-1", "atrium-platform", undefined)).toBe(false);
    const altered = `${value.slice(0, -2)}${value.at(-2) === "A" ? "B" : "A"}${value.at(-1)}`;
    expect(provesPlatformGroup(peppers, "session-1", "atrium-platform", altered)).toBe(false);
    expect(provesPlatformGroup(peppers, "session-1", "atrium-platform", value.replace(/^1\./, "2."))).toBe(false);
    const otherPepper = loadConfig({ ATRIUM_KEY_PEPPERS: "1:another-pepper-0123456789" }).peppers;
    expect(provesPlatformGroup(otherPepper, "session-1", "atrium-platform", value)).toBe(false);
  });

  it("keeps proving after a pepper rotation while the old pepper is still configured", () => {
    const value = platformGroupCookie(peppers, "s", "g");
    const rotated = loadConfig({
      ATRIUM_KEY_PEPPERS: `${PEPPERS.ATRIUM_KEY_PEPPERS},2:the-next-pepper-0123456789`,
    }).peppers;
    expect(provesPlatformGroup(rotated, "s", "g", value)).toBe(true);
    expect(platformGroupCookie(rotated, "s", "g")).toMatch(/^2\./);
  });
});

const org = (spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}) => ({
  metadata: { name: "acme", creationTimestamp: "2026-01-01T00:00:00Z", ...metadata },
  spec: { displayName: "Acme", ...spec },
  status: {
    memberCount: 3,
    appCount: 2,
    runningAppCount: 1,
    deletesAt: "2026-03-31T10:00:00Z",
    conditions: [
      {
        type: "Ready",
        status: "True" as const,
        reason: "Reconciled",
        message: "",
        lastTransitionTime: "2026-01-01T00:00:00Z",
      },
    ],
  },
});
const deletion = { deletion: { requestedAt: "2026-03-01T10:00:00Z", requestedBy: "a@x.example" } };

describe("organization lifecycle rules", () => {
  it("confirms a deletion only with the exact name", () => {
    expect(confirmsDeletion("acme", "acme")).toBe(true);
    for (const wrong of ["", "Acme", " acme", "acme ", "org-acme"]) expect(confirmsDeletion("acme", wrong)).toBe(false);
  });

  it("is deleting while scheduled or being removed", () => {
    expect(isDeleting(undefined)).toBe(false);
    expect(isDeleting(org())).toBe(false);
    expect(isDeleting(org(deletion))).toBe(true);
    expect(isDeleting(org({}, { deletionTimestamp: "2026-04-01T00:00:00Z" }))).toBe(true);
  });

  it("deletes only what is not scheduled, restores only what is, and neither once removal began", () => {
    expect(deletionRefusal(org(), "delete")).toBeUndefined();
    expect(deletionRefusal(org(deletion), "delete")).toMatch(/already scheduled/);
    expect(deletionRefusal(org(deletion), "restore")).toBeUndefined();
    expect(deletionRefusal(org(), "restore")).toMatch(/not scheduled/);
    const removing = org(deletion, { deletionTimestamp: "2026-04-01T00:00:00Z" });
    expect(deletionRefusal(removing, "restore")).toMatch(/already being removed/);
    expect(deletionRefusal(removing, "delete")).toMatch(/already being removed/);
  });

  it("shows the counts from status and the deletion with the operator's deadline", () => {
    expect(orgView(org())).toEqual({
      name: "acme",
      displayName: "Acme",
      description: null,
      logoUrl: null,
      createdAt: "2026-01-01T00:00:00Z",
      ready: true,
      memberCount: 3,
      appCount: 2,
      runningAppCount: 1,
      deletion: null,
    });
    expect(orgView(org(), "/api/orgs/acme/logo/ab").logoUrl).toBe("/api/orgs/acme/logo/ab");
    expect(orgView(org(deletion)).deletion).toEqual({
      requestedAt: "2026-03-01T10:00:00Z",
      requestedBy: "a@x.example",
      deletesAt: "2026-03-31T10:00:00Z",
    });
  });
});
