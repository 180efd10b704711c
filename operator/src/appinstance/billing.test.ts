import type { AppInstance, EntitlementDecision } from "@atrium/crds";
import { describe, expect, it } from "vitest";
import { billingHold, billingStopText, paymentProblem, stoppedByBilling, untilLapseMs } from "./billing.ts";

const allowed: EntitlementDecision = { allowed: true, reason: "Active", message: "" };
const refused: EntitlementDecision = {
  allowed: false,
  reason: "TrialEnded",
  message: "The free trial has ended; subscribe to run the app again",
};
const STOPPED_AT = "2026-12-01T10:00:00Z";
const STARTED = "2026-11-01T00:00:00Z";

/** An app at zero with the Idle reason of its stop. */
const stopped = (
  reason: string,
  status: Partial<NonNullable<AppInstance["status"]>> = {},
  spec: Partial<AppInstance["spec"]> = {},
): AppInstance => ({
  apiVersion: "atrium.dev/v1alpha1",
  kind: "AppInstance",
  metadata: { name: "a" },
  spec: { template: "t", ...spec },
  status: {
    phase: "Stopped",
    stoppedAt: STOPPED_AT,
    lastActivity: "2026-12-01T09:59:00Z",
    startedAt: STARTED,
    conditions: [{ type: "Idle", status: "True", reason, message: "", lastTransitionTime: STOPPED_AT }],
    ...status,
  },
});

describe("billingHold", () => {
  it("keeps an app billing does not allow at zero, whatever its idle policy", () => {
    for (const policy of ["Auto", "AlwaysOn", "Stopped"] as const)
      expect(
        billingHold(stopped("Idle", { phase: "Running" }, { idle: { policy, timeout: "1h" } }), refused, STARTED),
      ).toEqual({
        replicas: 0,
        stopReason: "PaymentRequired",
      });
  });

  it("leaves an allowed app that billing never stopped to its idle policy", () => {
    expect(billingHold(stopped("Idle"), allowed, STARTED)).toBeUndefined();
    expect(billingHold(stopped("PaymentRequired", { phase: "Running" }), allowed, STARTED)).toBeUndefined();
  });

  it("keeps an app billing stopped at zero once it is allowed again, until a request comes", () => {
    expect(billingHold(stopped("PaymentRequired"), allowed, STARTED)).toEqual({
      replicas: 0,
      stopReason: "ResumesOnRequest",
    });
    // On the next pass the Idle reason is ResumesOnRequest: still held.
    expect(billingHold(stopped("ResumesOnRequest"), allowed, STARTED)?.replicas).toBe(0);
    // The gateway recorded a request after the stop (to wake it): the hold ends.
    expect(billingHold(stopped("ResumesOnRequest", { lastActivity: "2026-12-01T10:00:01Z" }), allowed, STARTED)).toBe(
      undefined,
    );
  });

  it("lets a change of the spec start it, as it does an idle-stopped app", () => {
    expect(billingHold(stopped("ResumesOnRequest"), allowed, "2026-12-01T11:00:00Z")).toBeUndefined();
  });

  it("starts an app nobody ever used once it is allowed (an install whose trial came late)", () => {
    expect(billingHold(stopped("PaymentRequired", { lastActivity: undefined }), allowed, STARTED)).toBeUndefined();
  });

  it("does not hold an app its owners pinned at zero: its idle policy says why", () => {
    expect(
      billingHold(stopped("PaymentRequired", {}, { idle: { policy: "Stopped", timeout: "1h" } }), allowed, STARTED),
    ).toBe(undefined);
  });
});

describe("stoppedByBilling", () => {
  it("is true for a stopped or stopping app whose Idle reason is billing's", () => {
    expect(stoppedByBilling(stopped("PaymentRequired"))).toBe(true);
    expect(stoppedByBilling(stopped("ResumesOnRequest", { phase: "Stopping" }))).toBe(true);
    expect(stoppedByBilling(stopped("Idle"))).toBe(false);
    expect(stoppedByBilling(stopped("PaymentRequired", { phase: "Starting" }))).toBe(false);
  });
});

describe("untilLapseMs", () => {
  const now = new Date("2026-12-01T12:00:00Z");
  it("is the time left of an allowed decision with an end", () => {
    expect(untilLapseMs({ ...allowed, reason: "Trialing", until: "2026-12-01T12:00:30Z" }, now)).toBe(30_000);
  });
  it("is nothing for a decision without an end, or a refusal", () => {
    expect(untilLapseMs(allowed, now)).toBeUndefined();
    expect(untilLapseMs({ ...refused, until: "2026-12-01T12:00:30Z" }, now)).toBeUndefined();
  });
});

describe("what status says", () => {
  it("gives Ready the decision's message, or says why without one", () => {
    expect(paymentProblem(refused)).toEqual({ reason: "PaymentRequired", message: refused.message });
    expect(paymentProblem({ allowed: false, reason: "Canceled", message: "" }).message).toContain("Canceled");
  });

  it("starts the stop reason with PaymentRequired, keeps the volume in it, and fits the CRD's 256", () => {
    const text = billingStopText("PaymentRequired", refused);
    expect(text).toBe(
      "PaymentRequired: scaled to zero, the volume is kept. The free trial has ended; subscribe to run the app again",
    );
    const long = billingStopText("PaymentRequired", { ...refused, message: "x".repeat(1024) });
    expect(long).toHaveLength(256);
    expect(long.startsWith("PaymentRequired: scaled to zero, the volume is kept.")).toBe(true);
    expect(billingStopText("ResumesOnRequest", undefined)).toContain("starts on the next request");
  });
});
