import { describe, expect, it } from "vitest";
import type { Principal } from "../auth/principal.ts";
import { loadConfig } from "../config.ts";
import { confirmsDeletion, deletionRefusal, isDeleting, orgView } from "./lifecycle.ts";
import { isPlatformAdmin, platformAdminsFrom } from "./platform.ts";

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

  it("stops the API on a malformed address or the unsupported group setting, naming the variable", () => {
    expect(() => loadConfig({ ...PEPPERS, ATRIUM_PLATFORM_ADMINS: "ops@example.com, not-an-email" })).toThrow(
      /ATRIUM_PLATFORM_ADMINS: "not-an-email"/,
    );
    expect(() => loadConfig({ ...PEPPERS, ATRIUM_PLATFORM_ADMIN_GROUP: "atrium-admins" })).toThrow(
      /ATRIUM_PLATFORM_ADMIN_GROUP/,
    );
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
      createdAt: "2026-01-01T00:00:00Z",
      ready: true,
      memberCount: 3,
      appCount: 2,
      runningAppCount: 1,
      deletion: null,
    });
    expect(orgView(org(deletion)).deletion).toEqual({
      requestedAt: "2026-03-01T10:00:00Z",
      requestedBy: "a@x.example",
      deletesAt: "2026-03-31T10:00:00Z",
    });
  });
});
