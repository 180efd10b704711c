// Prices per view and an app's state in words: what the marketplace cards and the apps pages say.
import { describe, expect, it } from "vitest";
import type { AppSummary, Plan } from "../api/client.ts";
import { statusOf, subscriptionState, trialNote } from "./app-status.ts";
import { formatMoney, moneyList, priceIn } from "./prices.ts";

const plan = (interval: Plan["interval"], amount: number, currency = "USD"): Plan => ({
  id: interval,
  interval,
  amount,
  currency,
});
const app = (over: Partial<AppSummary>): AppSummary => ({
  name: "a",
  template: "t",
  displayName: "T",
  version: "1",
  phase: "Running",
  health: "Healthy",
  url: null,
  lastActivity: null,
  stopsAt: null,
  stoppedReason: null,
  entitlement: null,
  subscription: null,
  ...over,
});

describe("prices", () => {
  it("formats minor units by the currency's own digits", () => {
    expect(formatMoney(499, "USD")).toMatch(/4\.99/);
    expect(formatMoney(500, "JPY")).toMatch(/500/);
    expect(formatMoney(500, "JPY")).not.toMatch(/5\.00/);
    expect(formatMoney(1000, "BHD")).toMatch(/1\.000/); // three minor digits
  });

  it("lists amounts per currency without adding across currencies, and a dash for nothing", () => {
    const text = moneyList([
      { currency: "USD", amount: 1200 },
      { currency: "EUR", amount: 500 },
      { currency: "JPY", amount: 0 },
    ]);
    expect(text).toMatch(/^\S*12\.00\S* \+ \S*5\.00\S*$/);
    expect(text).toContain("€");
    expect(moneyList([{ currency: "USD", amount: 0 }])).toBe("—");
    expect(moneyList([])).toBe("—");
  });

  it("shows the plan of the chosen view, converts monthly and annual into each other, else says there is none", () => {
    const both = [plan("monthly", 900), plan("annual", 9000)];
    expect(priceIn(both, "monthly").text).toMatch(/9\.00 \/ month$/);
    expect(priceIn(both, "annual").text).toMatch(/90\.00 \/ year$/);
    expect(priceIn([plan("annual", 3000)], "monthly")).toEqual({
      text: expect.stringMatching(/^≈ .*2\.50 \/ month$/),
      note: "billed annual",
    });
    expect(priceIn([plan("monthly", 300)], "annual").text).toMatch(/^≈ .*36\.00 \/ year$/);
    expect(priceIn([plan("lifetime", 4900, "EUR")], "monthly")).toEqual({
      text: expect.stringMatching(/49\.00 lifetime$/),
      note: "no monthly plan",
    });
    expect(priceIn([], "annual")).toEqual({ text: "Free" });
    expect(priceIn([plan("monthly", 0)], "monthly")).toEqual({ text: "Free" });
  });
});

describe("an app's status in words", () => {
  it("tells an idle stop (wakes on the next visit) from a stop on request, a payment stop and a failure", () => {
    expect(statusOf(app({ phase: "Stopped", stoppedReason: "No traffic for 12h; scaled to zero" }))).toEqual({
      label: "Stopped (idle)",
      tone: "grey",
      detail: "Wakes on next visit",
    });
    expect(
      statusOf(app({ phase: "Stopped", stoppedReason: "Stopped by policy (spec.idle.policy: Stopped)" })).detail,
    ).toBe("Stopped on request; Start runs it again");
    const unpaid = app({
      phase: "Stopped",
      stoppedReason: "Payment is due",
      entitlement: { allowed: false, reason: "TrialEnded", until: null, message: "Subscribe to run it again" },
    });
    expect(statusOf(unpaid)).toEqual({
      label: "Stopped: trial ended",
      tone: "red",
      detail: "Subscribe to run it again",
    });
    expect(statusOf(app({ phase: "Failed", stoppedReason: "image pull failed" }))).toMatchObject({
      label: "Failed",
      detail: "image pull failed",
    });
    expect(statusOf(app({ phase: "Deploying" })).label).toBe("Starting");
  });

  it("counts the days a trial has left from the subscription", () => {
    const now = Date.parse("2026-12-01T12:00:00Z");
    const sub = (state: string, trialEndsAt: string | null) =>
      ({ subscription: { state, trialEndsAt } }) as unknown as Pick<AppSummary, "subscription">;
    expect(trialNote(sub("trialing", "2026-12-04T11:00:00Z"), now)).toBe("Trial ends in 3 days");
    expect(trialNote(sub("trialing", "2026-12-02T11:00:00Z"), now)).toBe("Trial ends in 1 day");
    expect(trialNote(sub("trialing", "2026-12-01T11:00:00Z"), now)).toBe("Trial ends today");
    expect(trialNote(sub("active", "2026-12-04T11:00:00Z"), now)).toBeUndefined();
    expect(trialNote({ subscription: null }, now)).toBeUndefined();
  });

  it("says billing's subscription states in words", () => {
    expect(subscriptionState("trialing")).toBe("Free trial");
    expect(subscriptionState("past_due")).toBe("Payment overdue");
    expect(subscriptionState("Active")).toBe("Active");
    expect(subscriptionState("on_hold")).toBe("on_hold");
  });
});
