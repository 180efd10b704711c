import type { AppInstance } from "@atrium/crds";
import { describe, expect, it } from "vitest";
import { idleState, parseDuration, WAKE_GRACE_MS } from "./idle.ts";

const at = (iso: string) => new Date(iso);
const app = (idle: AppInstance["spec"]["idle"], status: AppInstance["status"] = {}): AppInstance => ({
  apiVersion: "atrium.dev/v1alpha1",
  kind: "AppInstance",
  metadata: { name: "a", creationTimestamp: "2026-01-01T00:00:00Z" },
  spec: { template: "t", ...(idle ? { idle } : {}) },
  status,
});

describe("parseDuration", () => {
  it.each([
    ["90s", 90_000],
    ["12h", 43_200_000],
    ["1h30m", 5_400_000],
    ["500ms", 500],
  ])("%s", (text, ms) => expect(parseDuration(text)).toBe(ms));
  it("refuses what the CRD would refuse", () => expect(() => parseDuration("forever")).toThrow("not a duration"));
});

describe("idleState", () => {
  it("stops 12 h after creation when nothing ever happened (default timeout)", () => {
    expect(idleState(app(undefined), at("2026-01-01T11:59:00Z"))).toMatchObject({
      replicas: 1,
      stopsAt: at("2026-01-01T12:00:00Z"),
      requeueAfterMs: 60_000,
    });
    expect(idleState(app(undefined), at("2026-01-01T12:00:00Z"))).toEqual({ replicas: 0, stopReason: "Idle" });
  });

  it("counts from the last activity", () => {
    const a = app({ policy: "Auto", timeout: "30m" }, { lastActivity: "2026-03-01T10:00:00Z" });
    expect(idleState(a, at("2026-03-01T10:29:59Z")).replicas).toBe(1);
    expect(idleState(a, at("2026-03-01T10:30:00Z")).replicas).toBe(0);
  });

  it("gives a changed app a full timeout from its start, even with old activity", () => {
    const a = app(
      { policy: "Auto", timeout: "1h" },
      { lastActivity: "2026-03-01T00:00:00Z", startedAt: "2026-03-01T09:00:00Z" },
    );
    expect(idleState(a, at("2026-03-01T09:59:00Z")).replicas).toBe(1);
  });

  it("wakes when activity is newer than the deadline it stopped at", () => {
    const stopped = app({ policy: "Auto", timeout: "1h" }, { lastActivity: "2026-03-01T00:00:00Z" });
    expect(idleState(stopped, at("2026-03-01T05:00:00Z")).replicas).toBe(0);
    const woken = app({ policy: "Auto", timeout: "1h" }, { lastActivity: "2026-03-01T05:00:00Z" });
    expect(idleState(woken, at("2026-03-01T05:00:01Z")).replicas).toBe(1);
  });

  it("pins AlwaysOn up and Stopped down", () => {
    expect(idleState(app({ policy: "AlwaysOn", timeout: "1s" }), at("2030-01-01T00:00:00Z"))).toEqual({ replicas: 1 });
    expect(idleState(app({ policy: "Stopped", timeout: "12h" }), at("2026-01-01T00:00:01Z"))).toEqual({
      replicas: 0,
      stopReason: "PolicyStopped",
    });
  });

  it("keeps a woken app up for the wake grace, even with a 1 s timeout", () => {
    const woken = app(
      { policy: "Auto", timeout: "1s" },
      { lastActivity: "2026-03-01T05:00:00Z", wokenAt: "2026-03-01T05:00:00Z" },
    );
    expect(WAKE_GRACE_MS).toBe(300_000);
    expect(idleState(woken, at("2026-03-01T05:00:02Z"))).toMatchObject({
      replicas: 1,
      stopsAt: at("2026-03-01T05:05:00Z"),
    });
    expect(idleState(woken, at("2026-03-01T05:05:00Z")).replicas).toBe(0);
    // A longer timeout is not shortened by it.
    const long = app(
      { policy: "Auto", timeout: "1h" },
      { lastActivity: "2026-03-01T05:00:00Z", wokenAt: "2026-03-01T05:00:00Z" },
    );
    expect(idleState(long, at("2026-03-01T05:30:00Z")).replicas).toBe(1);
  });
});
