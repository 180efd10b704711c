import { describe, expect, it } from "vitest";
import { deletingOrgHold, deletionCondition, deletionState, parseGrace } from "./deletion.ts";

const DAY = 86_400_000;
const org = (deletion?: { requestedAt: string; requestedBy: string }) => ({
  spec: { displayName: "Acme", ...(deletion ? { deletion } : {}) },
  metadata: {},
});

describe("parseGrace", () => {
  it("reads days, hours, minutes, seconds and their sums", () => {
    expect(parseGrace("30d")).toBe(30 * DAY);
    expect(parseGrace("720h")).toBe(30 * DAY);
    expect(parseGrace("1d12h")).toBe(1.5 * DAY);
    expect(parseGrace("45s")).toBe(45_000);
    expect(parseGrace("500ms")).toBe(500);
  });
  it("refuses what is not a positive duration, naming the variable", () => {
    for (const bad of ["", "30", "30 days", "-1d", "0s", "1w"])
      expect(() => parseGrace(bad)).toThrow(/ATRIUM_ORG_DELETION_GRACE/);
  });
});

describe("deletionState", () => {
  const asked = "2026-03-01T10:00:00Z";
  const at = (iso: string) => new Date(iso);
  it("is Active without a deletion request", () => {
    expect(deletionState(org(), at(asked), 30 * DAY)).toEqual({ state: "Active" });
  });
  it("is in Grace until requestedAt + grace, counting the time left", () => {
    const s = deletionState(
      org({ requestedAt: asked, requestedBy: "a@x.example" }),
      at("2026-03-24T10:00:00Z"),
      30 * DAY,
    );
    expect(s).toEqual({
      state: "Grace",
      deletesAt: at("2026-03-31T10:00:00Z"),
      requestedBy: "a@x.example",
      remainingMs: 7 * DAY,
    });
  });
  it("is Due at the end of the grace period and after it", () => {
    const o = org({ requestedAt: asked, requestedBy: "a@x.example" });
    expect(deletionState(o, at("2026-03-31T10:00:00Z"), 30 * DAY).state).toBe("Due");
    expect(deletionState(o, at("2026-03-31T09:59:59Z"), 30 * DAY).state).toBe("Grace");
    expect(deletionState(o, at("2027-01-01T00:00:00Z"), 30 * DAY).state).toBe("Due");
  });
  it("never purges on a request time that does not parse", () => {
    const o = org({ requestedAt: "yesterday", requestedBy: "a@x.example" });
    const s = deletionState(o, at("2027-01-01T00:00:00Z"), 1000);
    expect(s.state).toBe("Grace");
  });
});

describe("deletingOrgHold", () => {
  it("holds the apps of an org asked to be deleted or being removed, and no other", () => {
    expect(deletingOrgHold(undefined)).toBeUndefined();
    expect(deletingOrgHold(org())).toBeUndefined();
    expect(deletingOrgHold(org({ requestedAt: "2026-03-01T10:00:00Z", requestedBy: "a@x.example" }))).toEqual({
      replicas: 0,
      stopReason: "OrganizationDeleting",
    });
    expect(deletingOrgHold({ ...org(), metadata: { deletionTimestamp: "2026-03-01T10:00:00Z" } })?.replicas).toBe(0);
  });
});

describe("deletionCondition", () => {
  const grace = deletionState(
    org({ requestedAt: "2026-03-01T10:00:00Z", requestedBy: "a@x.example" }),
    new Date("2026-03-02T10:00:00Z"),
    30 * DAY,
  );
  it("says who asked and when the org goes while in grace", () => {
    const c = deletionCondition(grace, undefined);
    expect(c).toMatchObject({ type: "DeletionScheduled", status: "True", reason: "DeletionRequested" });
    expect(c?.message).toContain("a@x.example");
    expect(c?.message).toContain("2026-03-31T10:00:00.000Z");
  });
  it("is False (Restored) after a restore, and absent on orgs never scheduled", () => {
    expect(deletionCondition({ state: "Active" }, { status: "True" })).toMatchObject({
      status: "False",
      reason: "Restored",
    });
    expect(deletionCondition({ state: "Active" }, undefined)).toBeUndefined();
  });
});

describe("ATRIUM_ORG_DELETION_GRACE", () => {
  it("defaults to 30 days and takes a short grace for tests", async () => {
    const { defaultConfig } = await import("../config.ts");
    expect(defaultConfig({}).orgDeletionGraceMs).toBe(30 * DAY);
    expect(defaultConfig({ ATRIUM_ORG_DELETION_GRACE: "45s" }).orgDeletionGraceMs).toBe(45_000);
    expect(() => defaultConfig({ ATRIUM_ORG_DELETION_GRACE: "soon" })).toThrow(/ATRIUM_ORG_DELETION_GRACE/);
  });
});
