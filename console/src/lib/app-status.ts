// What an installed app is doing, in words a person acts on.
import type { AppSummary } from "../api/client.ts";

export type Tone = "green" | "blue" | "amber" | "red" | "grey";
export type StatusWords = { label: string; tone: Tone; detail?: string | undefined };

const DAY = 86_400_000;
/** "Trial ends in 3 days" from the subscription, when the app is in a trial. */
export function trialNote(app: Pick<AppSummary, "subscription">, now = Date.now()): string | undefined {
  const sub = app.subscription;
  if (!sub?.trialEndsAt || sub.state.toLowerCase() !== "trialing") return undefined;
  const days = Math.max(0, Math.ceil((Date.parse(sub.trialEndsAt) - now) / DAY));
  return days === 0 ? "Trial ends today" : `Trial ends in ${days} day${days === 1 ? "" : "s"}`;
}

const SUBSCRIPTION_WORDS: Record<string, string> = {
  trialing: "Free trial",
  active: "Active",
  past_due: "Payment overdue",
  paused: "Paused",
  canceled: "Canceled",
  expired: "Expired",
};

/** Billing's subscription state ("past_due") in words; a state added later shows as it is. */
export const subscriptionState = (state: string): string => SUBSCRIPTION_WORDS[state.toLowerCase()] ?? state;

/** What the app is doing, in words a person acts on: why it stopped, whether it wakes by itself. */
export function statusOf(app: AppSummary): StatusWords {
  const e = app.entitlement;
  if (e && !e.allowed && (app.phase === "Stopped" || app.phase === "Stopping"))
    return {
      label: e.reason === "TrialEnded" ? "Stopped: trial ended" : "Stopped: payment needed",
      tone: "red",
      detail: e.message ?? undefined,
    };
  switch (app.phase) {
    case "Running":
      return { label: "Running", tone: "green", detail: app.health === "Unhealthy" ? "Unhealthy" : undefined };
    case "Pending":
    case "Deploying":
    case "Starting":
      return { label: app.phase === "Pending" ? "Pending" : "Starting", tone: "blue" };
    case "Stopping":
      return { label: "Stopping", tone: "amber" };
    case "Stopped": {
      // The operator's words: "No traffic for 12h; scaled to zero…" (idle) or "Stopped by policy…".
      if (/^Stopped by policy/.test(app.stoppedReason ?? ""))
        return { label: "Stopped", tone: "grey", detail: "Stopped on request; Start runs it again" };
      if (!app.stoppedReason || /^No traffic/.test(app.stoppedReason))
        return { label: "Stopped (idle)", tone: "grey", detail: "Wakes on next visit" };
      return { label: "Stopped", tone: "grey", detail: app.stoppedReason };
    }
    case "Failed":
      return { label: "Failed", tone: "red", detail: app.stoppedReason ?? "See the app's conditions" };
    default:
      return { label: app.phase, tone: "grey" };
  }
}
