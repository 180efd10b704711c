// Billing's part in whether an app runs: the entitlement decision (crds/src/entitlement.ts, the
// rule the gateway applies too) turned into replicas, a stop reason and a time to look again.
// Pure, so every case is a unit test.
import type { AppInstance, EntitlementDecision } from "@atrium/crds";
import { findCondition } from "../runtime/conditions.ts";
import type { IdleState } from "./idle.ts";
import type { Problem } from "./status.ts";

/**
 * Idle reasons billing gives an app at zero: PaymentRequired while billing does not allow it to
 * run; ResumesOnRequest once it does again, until the next request (billing alone starts nothing).
 */
export const BILLING_STOPS: ReadonlySet<string> = new Set(["PaymentRequired", "ResumesOnRequest"]);

const time = (iso: string | undefined) => (iso ? Date.parse(iso) : Number.NaN);

/** The app is at zero because billing put it there (now, or before it was paid for again). */
export function stoppedByBilling(app: Pick<AppInstance, "status">): boolean {
  const phase = app.status?.phase;
  if (phase !== "Stopped" && phase !== "Stopping") return false;
  return BILLING_STOPS.has(findCondition(app.status?.conditions, "Idle")?.reason ?? "");
}

/** Traffic came after the app stopped: the gateway recorded it to wake the app. */
export const trafficSinceStop = (app: Pick<AppInstance, "status">): boolean =>
  time(app.status?.lastActivity) > time(app.status?.stoppedAt);

/**
 * Billing's hold on the app, or undefined when idle policy alone decides:
 * - not allowed: at zero, whatever the idle policy (the volume is kept: only replicas change);
 * - allowed again after a billing stop: still at zero until a request comes after the stop, as
 *   after an idle stop. Two exceptions start it as before: a change of its spec (`started`
 *   moves, as it gives an idle-stopped app a fresh grace), and an app nobody ever used (no
 *   activity at all: an install whose first entitlement came after the operator's first look).
 */
export function billingHold(
  app: Pick<AppInstance, "spec" | "status">,
  decision: EntitlementDecision,
  started: string,
): IdleState | undefined {
  if (!decision.allowed) return { replicas: 0, stopReason: "PaymentRequired" };
  if (app.spec.idle?.policy === "Stopped" || !stoppedByBilling(app)) return undefined;
  const stoppedAt = time(app.status?.stoppedAt);
  if (!app.status?.lastActivity || Number.isNaN(stoppedAt)) return undefined;
  if (trafficSinceStop(app) || time(started) > stoppedAt) return undefined;
  return { replicas: 0, stopReason: "ResumesOnRequest" };
}

/**
 * How long until an allowed decision lapses (a trial's or a period's end), so the app is
 * stopped on time even when nothing else happens (the API down, no event at all).
 */
export function untilLapseMs(decision: EntitlementDecision, now: Date): number | undefined {
  if (!decision.allowed || !decision.until) return undefined;
  const until = Date.parse(decision.until);
  return Number.isNaN(until) ? undefined : Math.max(0, until - now.getTime());
}

/** What Ready says while billing keeps the app at zero: the decision's own words. */
export const paymentProblem = (decision: EntitlementDecision): Problem => ({
  reason: "PaymentRequired",
  message: decision.message || `Billing does not allow this app to run (${decision.reason})`,
});

/** status.stoppedReason is at most 256 characters (CRD). */
const STOPPED_REASON_MAX = 256;

/** status.stoppedReason for a billing stop, in the words of the idle stops ("…; the volume is kept"). */
export function billingStopText(
  stopReason: "PaymentRequired" | "ResumesOnRequest",
  decision: EntitlementDecision | undefined,
): string {
  if (stopReason === "ResumesOnRequest")
    return "Stopped while payment was due; allowed to run again, it starts on the next request; the volume is kept";
  const text = `PaymentRequired: scaled to zero, the volume is kept. ${decision ? paymentProblem(decision).message : ""}`;
  return text.length > STOPPED_REASON_MAX ? `${text.slice(0, STOPPED_REASON_MAX - 1)}…` : text.trimEnd();
}
