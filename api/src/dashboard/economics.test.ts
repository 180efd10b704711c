// The economic overview against hand-computed fixtures: the amounts in the comments are worked
// out by hand, not by the code under test.
import { describe, expect, it } from "vitest";
import { OPENCOST_DEFAULT_PRICES } from "../config.ts";
import {
  atStake,
  committedMonthly,
  invoicesDue,
  monthlyEquivalent,
  purchasesThisMonth,
  type SubscriptionFacts,
  savedByAutoStop,
  sumByCurrency,
  trialsEnding,
} from "./economics.ts";

const NOW = new Date("2026-03-15T12:00:00Z");
const sub = (facts: Partial<SubscriptionFacts>): SubscriptionFacts => ({
  app: "app",
  template: "tpl",
  planId: "p",
  interval: "monthly",
  amount: 0,
  currency: "USD",
  state: "active",
  trialEnd: null,
  ...facts,
});

describe("monthlyEquivalent", () => {
  it.each([
    ["monthly at face value", "monthly", 1000, 1000],
    ["annual / 12, exact", "annual", 12_000, 1000],
    ["annual / 12 = 83.5: half to even, up to 84", "annual", 1002, 84],
    ["annual / 12 = 84.5: half to even, down to 84", "annual", 1014, 84],
    ["annual / 12 = 83.83: nearest, 84", "annual", 1006, 84],
    ["annual / 12 = 0.25: 0", "annual", 3, 0],
    ["one-time: paid once, no monthly amount", "one-time", 4900, null],
    ["lifetime: paid once, no monthly amount", "lifetime", 9900, null],
  ] as const)("%s", (_name, interval, amount, expected) => {
    expect(monthlyEquivalent({ interval, amount })).toBe(expected);
  });
});

describe("committedMonthly", () => {
  it("adds paying recurring subscriptions per currency, never across currencies", () => {
    const subs = [
      sub({ interval: "monthly", amount: 1000 }), // USD 1000
      sub({ interval: "annual", amount: 12_000 }), // USD 1000
      sub({ interval: "annual", amount: 1002, state: "past_due" }), // USD 84 (83.5, half-even)
      sub({ interval: "annual", amount: 1014 }), // USD 84 (84.5, half-even)
      sub({ interval: "annual", amount: 6000, currency: "EUR" }), // EUR 500
      sub({ interval: "monthly", amount: 700, cancelAtPeriodEnd: true } as Partial<SubscriptionFacts>), // USD 700: paid until the period ends
      sub({ interval: "monthly", amount: 500, state: "paused" }), // not paid
      sub({ interval: "monthly", amount: 900, state: "canceled" }), // not paid
      sub({ interval: "monthly", amount: 300, state: "trialing" }), // a trial commits nothing yet
      sub({ interval: "one-time", amount: 4900 }), // a purchase, not a commitment
      sub({ interval: "lifetime", amount: 9900, currency: "EUR", app: null }), // likewise
      sub({ interval: null, amount: null, currency: null, planId: null, state: "trialing" }),
    ];
    // USD: 1000 + 1000 + 84 + 84 + 700 = 2868; EUR: 500.
    expect(committedMonthly(subs)).toEqual([
      { currency: "EUR", amount: 500 },
      { currency: "USD", amount: 2868 },
    ]);
  });

  it("is empty without paying subscriptions", () => {
    expect(committedMonthly([sub({ state: "paused" })])).toEqual([]);
  });
});

describe("purchasesThisMonth", () => {
  const invoice = (i: { currency?: string; total: number; issuedAt: string; status?: string; interval: string }) => ({
    currency: i.currency ?? "USD",
    total: i.total,
    issuedAt: new Date(i.issuedAt),
    status: i.status ?? "paid",
    interval: i.interval,
  });
  it("counts one-time and lifetime invoices of this UTC month, open or paid, apart per currency", () => {
    const invoices = [
      invoice({ total: 4900, issuedAt: "2026-03-02T10:00:00Z", interval: "one-time" }), // USD 4900
      invoice({ total: 9900, currency: "EUR", issuedAt: "2026-03-10T00:00:00Z", status: "open", interval: "lifetime" }),
      invoice({ total: 1500, issuedAt: "2026-03-01T00:00:00Z", interval: "lifetime" }), // USD 1500: the month's first instant
      invoice({ total: 2500, issuedAt: "2026-02-28T23:59:59Z", interval: "one-time" }), // last month
      invoice({ total: 1000, issuedAt: "2026-03-05T00:00:00Z", status: "void", interval: "lifetime" }), // void
      invoice({ total: 1000, issuedAt: "2026-03-01T00:00:00Z", interval: "monthly" }), // recurring: committed, not bought
    ];
    expect(purchasesThisMonth(invoices, NOW)).toEqual([
      { currency: "EUR", amount: 9900 },
      { currency: "USD", amount: 6400 },
    ]);
  });
});

const PLANS: Record<
  string,
  { id: string; interval: "monthly" | "annual" | "one-time" | "lifetime"; amount: number; currency: string }[]
> = {
  // Cheapest per month: the annual plan, 12000 / 12 = 1000 (the one-time plan is no monthly amount).
  "tpl-a": [
    { id: "monthly", interval: "monthly", amount: 1500, currency: "USD" },
    { id: "annual", interval: "annual", amount: 12_000, currency: "USD" },
    { id: "once", interval: "one-time", amount: 500, currency: "USD" },
  ],
  "tpl-b": [
    { id: "monthly", interval: "monthly", amount: 50, currency: "EUR" },
    { id: "annual", interval: "annual", amount: 1014, currency: "EUR" },
  ],
  "tpl-c": [{ id: "once", interval: "one-time", amount: 4900, currency: "USD" }],
  // Two currencies: compared within the first recurring plan's (EUR): min(900, 9600 / 12 = 800) = 800.
  "tpl-g": [
    { id: "eur", interval: "monthly", amount: 900, currency: "EUR" },
    { id: "usd", interval: "monthly", amount: 500, currency: "USD" },
    { id: "eur-annual", interval: "annual", amount: 9600, currency: "EUR" },
  ],
};

describe("atStake", () => {
  it.each([
    ["no plan chosen: the cheapest per month", "tpl-a", null, { amount: 1000, currency: "USD" }],
    ["the chosen plan, even if dearer", "tpl-a", "monthly", { amount: 1500, currency: "USD" }],
    ["the chosen annual plan per month (84.5 → 84)", "tpl-b", "annual", { amount: 84, currency: "EUR" }],
    ["a chosen one-time plan: no monthly amount", "tpl-a", "once", null],
    ["only one-time plans: none", "tpl-c", null, null],
    ["two currencies: within the first recurring plan's", "tpl-g", null, { amount: 800, currency: "EUR" }],
  ] as const)("%s", (_name, template, chosen, expected) => {
    expect(atStake(PLANS[template] ?? [], chosen)).toEqual(expected);
  });
});

describe("trialsEnding", () => {
  const trial = (app: string, template: string, trialEnd: string, planId: string | null = null) =>
    sub({
      app,
      template,
      planId,
      interval: null,
      amount: null,
      currency: null,
      state: "trialing",
      trialEnd: new Date(trialEnd),
    });
  const subs = [
    trial("gamma", "tpl-c", "2026-04-10T00:00:00Z"), // in 25.5 days: within 30 only, nothing monthly
    trial("wiki", "tpl-a", "2026-03-16T09:00:00Z"), // tomorrow: within 7
    trial("beta", "tpl-b", "2026-03-20T12:00:00Z", "annual"), // exactly 5 days
    trial("late", "tpl-a", "2026-04-20T00:00:00Z"), // in 35.5 days: neither
    trial("ended", "tpl-a", "2026-03-15T11:00:00Z"), // an hour ago: over
    trial("gone", "tpl-missing", "2026-03-18T00:00:00Z"), // template no longer in the catalog
    trial("edge", "tpl-g", "2026-03-22T12:00:00Z"), // exactly 7 days: within 7
    trial("edge30", "tpl-g", "2026-04-14T12:00:00Z"), // exactly 30 days: within 30
    sub({ app: "paid", template: "tpl-a", state: "active", trialEnd: new Date("2026-03-16T00:00:00Z") }), // not trialing
  ];
  const result = trialsEnding(subs, (t) => PLANS[t], NOW);

  it("lists trials ending within 7 days, soonest first, with the monthly amount at stake", () => {
    expect(result.within7Days).toEqual([
      { app: "wiki", template: "tpl-a", endsAt: "2026-03-16T09:00:00.000Z", monthlyAmount: 1000, currency: "USD" },
      { app: "gone", template: "tpl-missing", endsAt: "2026-03-18T00:00:00.000Z", monthlyAmount: null, currency: null },
      { app: "beta", template: "tpl-b", endsAt: "2026-03-20T12:00:00.000Z", monthlyAmount: 84, currency: "EUR" },
      { app: "edge", template: "tpl-g", endsAt: "2026-03-22T12:00:00.000Z", monthlyAmount: 800, currency: "EUR" },
    ]);
  });

  it("lists trials ending within 30 days, those within 7 included", () => {
    expect(result.within30Days.map((t) => t.app)).toEqual(["wiki", "gone", "beta", "edge", "gamma", "edge30"]);
    expect(result.within30Days[4]).toEqual({
      app: "gamma",
      template: "tpl-c",
      endsAt: "2026-04-10T00:00:00.000Z",
      monthlyAmount: null,
      currency: null,
    });
  });
});

describe("invoicesDue", () => {
  it("counts open invoices and totals them per currency", () => {
    expect(
      invoicesDue([
        { currency: "USD", total: 1000 },
        { currency: "EUR", total: 99 },
        { currency: "USD", total: 250 },
      ]),
    ).toEqual({
      count: 3,
      byCurrency: [
        { currency: "EUR", amount: 99 },
        { currency: "USD", amount: 1250 },
      ],
    });
    expect(invoicesDue([])).toEqual({ count: 0, byCurrency: [] });
  });
});

describe("savedByAutoStop", () => {
  // x: 10 h stopped at 0.5 core and 1 GiB; y: 20 h stopped at 2 cores and 4 GiB.
  const stops = [
    { app: "x", stoppedSeconds: 36_000, cpuCoreSeconds: 18_000, gibSeconds: 36_000 },
    { app: "y", stoppedSeconds: 72_000, cpuCoreSeconds: 144_000, gibSeconds: 288_000 },
  ];

  it("prices core-hours and GiB-hours at OpenCost's default list prices, in cents", () => {
    // x: 5 core-h × 0.031611 + 10 GiB-h × 0.004237 = 0.158055 + 0.04237 = 0.200425
    // y: 40 core-h × 0.031611 + 80 GiB-h × 0.004237 = 1.26444 + 0.33896 = 1.6034
    // Σ = 1.803825 USD → 180 cents.
    const saved = savedByAutoStop(stops, OPENCOST_DEFAULT_PRICES);
    expect(saved).toMatchObject({
      estimate: true,
      currency: "USD",
      amount: 180,
      periodDays: 30,
      stoppedHours: 30,
      cpuCoreHours: 45,
      gibHours: 90,
      cpuHourPrice: 0.031611,
      gibHourPrice: 0.004237,
    });
    expect(saved.formula).toContain("0.031611");
    expect(saved.formula).toContain("0.004237");
    expect(saved.formula).toContain("stopped for idleness");
  });

  it("takes configured prices", () => {
    // x: 5 × 0.05 + 10 × 0.01 = 0.35; y: 40 × 0.05 + 80 × 0.01 = 2.8; Σ = 3.15 USD → 315 cents.
    expect(savedByAutoStop(stops, { cpuHour: 0.05, gibHour: 0.01 }).amount).toBe(315);
  });

  it("is zero without idle stops", () => {
    expect(savedByAutoStop([], OPENCOST_DEFAULT_PRICES)).toMatchObject({ amount: 0, stoppedHours: 0 });
  });
});

describe("sumByCurrency", () => {
  it("keeps currencies apart, ordered by code", () => {
    expect(
      sumByCurrency([
        { currency: "USD", amount: 1 },
        { currency: "JPY", amount: 500 },
        { currency: "USD", amount: 2 },
      ]),
    ).toEqual([
      { currency: "JPY", amount: 500 },
      { currency: "USD", amount: 3 },
    ]);
  });
});
