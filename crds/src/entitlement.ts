// May this app run now? One decision, taken the same way by the operator (before it runs an
// app) and the gateway (before it wakes one), from what both already hold in memory: the
// AppInstance with the entitlement the API published into its status, and its AppTemplate.
// A pure function of its inputs and the clock, so a trial ends on time even while the API is down.
import type { AppInstance, Entitlement, EntitlementReason } from "./kinds/appinstance.ts";
import type { AppTemplate } from "./kinds/apptemplate.ts";

export type EntitlementDecision = {
  allowed: boolean;
  reason: EntitlementReason | "AwaitingSubscription" | "TemplateMissing";
  /** Until when the decision holds; undefined: until the published entitlement changes. */
  until?: string;
  message: string;
};

/** A template with plans costs money; one without is free to run. */
export const isPaid = (template: Pick<AppTemplate, "spec"> | undefined): boolean =>
  (template?.spec.pricing?.plans.length ?? 0) > 0;

/** What an allowed entitlement becomes once its `until` has passed. */
const lapsedReason = (e: Entitlement): EntitlementReason =>
  e.reason === "Trialing" ? "TrialEnded" : "PaymentRequired";

export function decideEntitlement(
  app: Pick<AppInstance, "status">,
  template: Pick<AppTemplate, "spec"> | undefined,
  now: number,
): EntitlementDecision {
  // Fail closed: without its template nobody can tell whether the app is paid for.
  if (!template) return { allowed: false, reason: "TemplateMissing", message: "The app's AppTemplate does not exist" };
  if (!isPaid(template)) return { allowed: true, reason: "Free", message: "" };
  const published = app.status?.entitlement;
  if (!published)
    return {
      allowed: false,
      reason: "AwaitingSubscription",
      message: "Waiting for Atrium's API to start a trial or record a subscription for this app",
    };
  if (published.allowed && published.until && Date.parse(published.until) <= now) {
    const reason = lapsedReason(published);
    return {
      allowed: false,
      reason,
      message: reason === "TrialEnded" ? "The free trial has ended; subscribe to run the app again" : "Payment is due",
    };
  }
  return {
    allowed: published.allowed,
    reason: published.reason,
    ...(published.allowed && published.until ? { until: published.until } : {}),
    message: published.message ?? "",
  };
}
