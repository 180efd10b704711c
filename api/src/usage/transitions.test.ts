import { describe, expect, it } from "vitest";
import { type Last, requestsOf, stopCause, transitionOf, type WatchedApp } from "./transitions.ts";

const NOW = Date.parse("2026-12-01T12:00:00Z");
const iso = (t: string) => `2026-12-01T${t}Z`;
/** What a key holds: the time in full (milliseconds). */
const full = (t: string) => new Date(iso(t)).toISOString();

/** An app as the operator leaves it (status fields as operator/src/appinstance/reconcile.ts writes them). */
const app = (status: Record<string, unknown>, extra: Record<string, unknown> = {}): WatchedApp =>
  ({
    metadata: { name: "wiki", namespace: "org-acme", uid: "u1", creationTimestamp: iso("08:00:00"), ...extra },
    spec: { template: "echo" },
    status,
  }) as unknown as WatchedApp;

const idleCondition = (reason: string) => ({ type: "Idle", status: "True", reason, message: "" });
const ready = (status: "True" | "False", at: string, reason = "Running") => ({
  type: "Ready",
  status,
  reason,
  message: "",
  lastTransitionTime: iso(at),
});
const started = (cause: string, at: string): Last => ({ kind: "start", cause, at: Date.parse(iso(at)) });
const stopped = (cause: string, at: string): Last => ({ kind: "stop", cause, at: Date.parse(iso(at)) });

describe("stopCause", () => {
  it.each([
    ["Idle", "No traffic for 12h; scaled to zero, the volume is kept", "idle"],
    ["PolicyStopped", "Stopped by policy (spec.idle.policy: Stopped); the volume is kept", "manual"],
    ["PaymentRequired", "PaymentRequired: scaled to zero, the volume is kept. …", "payment"],
    ["ResumesOnRequest", "ResumesOnRequest: …", "payment"],
    ["OrganizationDeleting", "The organization is scheduled for deletion; …", "deletion"],
  ])("the Idle condition's reason %s is %s", (reason, text, cause) => {
    expect(stopCause(app({ phase: "Stopped", conditions: [idleCondition(reason)], stoppedReason: text }))).toBe(cause);
    // Without the condition, the words of stoppedReason say the same.
    expect(stopCause(app({ phase: "Stopped", stoppedReason: text }))).toBe(cause);
  });
});

describe("transitionOf", () => {
  it.each<[string, WatchedApp, Last, boolean, unknown]>([
    [
      "first seen running: the install, at startedAt",
      app({ phase: "Running", startedAt: iso("08:00:05") }),
      undefined,
      false,
      { key: "u1:start:install", kind: "start", cause: "install", at: Date.parse(iso("08:00:05")) },
    ],
    [
      "already known to run: nothing",
      app({ phase: "Running", startedAt: iso("08:00:05") }),
      started("install", "08:00:05"),
      false,
      undefined,
    ],
    [
      "stopped for idleness: a stop at stoppedAt",
      app({ phase: "Stopped", stoppedAt: iso("10:00:00"), conditions: [idleCondition("Idle")] }),
      started("install", "08:00:05"),
      false,
      { key: `u1:stop:after:${full("08:00:05")}`, kind: "stop", cause: "idle", at: Date.parse(iso("10:00:00")) },
    ],
    [
      "the same stop again (a relist), or stoppedAt written again a second later: nothing",
      app({ phase: "Stopped", stoppedAt: iso("10:00:01"), conditions: [idleCondition("Idle")] }),
      stopped("idle", "10:00:00"),
      false,
      undefined,
    ],
    [
      "first seen stopped (nothing recorded before): a stop keyed by its own time",
      app({ phase: "Stopped", stoppedAt: iso("10:00:00"), conditions: [idleCondition("Idle")] }),
      undefined,
      false,
      { key: `u1:stop:first:${iso("10:00:00")}`, kind: "stop", cause: "idle", at: Date.parse(iso("10:00:00")) },
    ],
    [
      "stopping (not yet stopped): nothing",
      app({ phase: "Stopping", stoppedAt: iso("09:59:58"), conditions: [idleCondition("Idle")] }),
      started("install", "08:00:05"),
      false,
      undefined,
    ],
    [
      "woken by traffic: a start at wokenAt",
      app({ phase: "Starting", startedAt: iso("08:00:05"), wokenAt: iso("11:00:00") }),
      stopped("idle", "10:00:00"),
      false,
      { key: `u1:start:after:${full("10:00:00")}`, kind: "start", cause: "wake", at: Date.parse(iso("11:00:00")) },
    ],
    [
      "started after a manual stop (policy back to Auto): manual",
      app({ phase: "Starting", startedAt: iso("11:00:00"), wokenAt: iso("11:00:00") }),
      stopped("manual", "10:00:00"),
      false,
      { key: `u1:start:after:${full("10:00:00")}`, kind: "start", cause: "manual", at: Date.parse(iso("11:00:00")) },
    ],
    [
      "started by a spec change while stopped for idleness (startedAt = wokenAt): change",
      app({ phase: "Starting", startedAt: iso("11:00:00"), wokenAt: iso("11:00:00") }),
      stopped("idle", "10:00:00"),
      false,
      { key: `u1:start:after:${full("10:00:00")}`, kind: "start", cause: "change", at: Date.parse(iso("11:00:00")) },
    ],
    [
      "an older wokenAt (from the previous wake) is not this start; not yet Ready: nothing",
      app({ phase: "Starting", startedAt: iso("08:00:05"), wokenAt: iso("09:00:00") }),
      stopped("failure", "10:00:00"),
      false,
      undefined,
    ],
    [
      "back from a failure once Ready: a change at Ready's transition",
      app({ phase: "Running", wokenAt: iso("09:00:00"), conditions: [ready("True", "10:30:00")] }),
      stopped("failure", "10:00:00"),
      false,
      { key: `u1:start:after:${full("10:00:00")}`, kind: "start", cause: "change", at: Date.parse(iso("10:30:00")) },
    ],
    [
      "failed after running: a failure stop at Ready's transition",
      app({ phase: "Failed", conditions: [ready("False", "09:30:00", "CrashLoopBackOff")] }),
      started("install", "08:00:05"),
      false,
      { key: `u1:stop:after:${full("08:00:05")}`, kind: "stop", cause: "failure", at: Date.parse(iso("09:30:00")) },
    ],
    [
      "failed without ever running: nothing",
      app({ phase: "Failed", conditions: [ready("False", "08:00:01", "TemplateNotFound")] }),
      undefined,
      false,
      undefined,
    ],
    [
      "payment stop",
      app({ phase: "Stopped", stoppedAt: iso("10:00:00"), conditions: [idleCondition("PaymentRequired")] }),
      started("install", "08:00:05"),
      false,
      { key: `u1:stop:after:${full("08:00:05")}`, kind: "stop", cause: "payment", at: Date.parse(iso("10:00:00")) },
    ],
    [
      "the organization's deletion",
      app({ phase: "Stopped", stoppedAt: iso("10:00:00"), conditions: [idleCondition("OrganizationDeleting")] }),
      started("install", "08:00:05"),
      false,
      { key: `u1:stop:after:${full("08:00:05")}`, kind: "stop", cause: "deletion", at: Date.parse(iso("10:00:00")) },
    ],
    [
      "deleted while running: a deletion stop",
      app({ phase: "Running" }, { deletionTimestamp: iso("11:30:00") }),
      started("wake", "11:00:00"),
      true,
      { key: "u1:stop:deleted", kind: "stop", cause: "deletion", at: Date.parse(iso("11:30:00")) },
    ],
    ["deleted while stopped: nothing", app({ phase: "Stopped" }), stopped("idle", "10:00:00"), true, undefined],
  ])("%s", (_name, a, last, deleted, expected) => {
    expect(transitionOf(a, last, deleted, NOW)).toEqual(expected);
  });
});

describe("requestsOf", () => {
  it("takes the app's requests, else its template's, as the operator does", () => {
    const template = { spec: { resources: { cpu: "250m", memory: "512Mi" } } } as never;
    const own = { spec: { template: "echo", resources: { cpu: "2" } } } as never;
    expect(requestsOf(own, template)).toEqual({ cpuMillis: 2000, memoryBytes: 512 * 2 ** 20 });
    expect(requestsOf({ spec: { template: "echo" } } as never, undefined)).toEqual({ cpuMillis: 0, memoryBytes: 0 });
  });
});
