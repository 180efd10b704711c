import { describe, expect, it } from "vitest";
import {
  addMonthsClamped,
  calendarDays,
  DAY_MS,
  dueWithoutSpan,
  entitlementFor,
  invoiceTotal,
  mulDivHalfEven,
  nextPeriod,
  periodEnd,
  periodWithoutSpan,
  planChange,
  prorateUpgrade,
  renewalDue,
  type SubscriptionFacts,
  sameEntitlement,
  transitionAt,
  trialEnd,
  trialNoticesDue,
} from "./domain.ts";

const d = (s: string) => new Date(s.length === 10 ? `${s}T00:00:00.000Z` : s);
const day = (x: Date) => x.toISOString().slice(0, 10);

describe("periods", () => {
  it.each([
    ["2025-01-31", "monthly", 0, "2025-02-28"],
    ["2024-01-31", "monthly", 0, "2024-02-29"],
    ["2025-01-31", "monthly", 1, "2025-03-31"], // counted from the anchor: not dragged to the 28th
    ["2025-01-31", "monthly", 2, "2025-04-30"],
    ["2025-03-31", "monthly", 0, "2025-04-30"],
    ["2025-01-15", "monthly", 0, "2025-02-15"],
    ["2025-12-15", "monthly", 0, "2026-01-15"],
    ["2025-11-30", "monthly", 2, "2026-02-28"],
    ["2024-02-29", "annual", 0, "2025-02-28"],
    ["2024-02-29", "annual", 3, "2028-02-29"],
    ["2025-06-01", "annual", 0, "2026-06-01"],
  ] as const)("%s %s period %i ends %s", (anchor, interval, index, end) => {
    expect(day(periodEnd(d(anchor), interval, index))).toBe(end);
  });

  it("keeps the time of day", () => {
    expect(addMonthsClamped(d("2025-01-31T13:45:10.250Z"), 1).toISOString()).toBe("2025-02-28T13:45:10.250Z");
  });

  it("has no periods for plans paid once", () => {
    expect(() => periodEnd(d("2025-01-01"), "one-time")).toThrow(/no periods/);
    expect(() => periodEnd(d("2025-01-01"), "lifetime")).toThrow(/no periods/);
  });

  it.each([
    ["2025-01-31", "2025-02-28", "2025-03-31"],
    ["2025-01-31", "2025-03-31", "2025-04-30"],
    ["2025-01-31", "2025-04-30", "2025-05-31"],
  ])("from anchor %s the period after the one ending %s ends %s", (anchor, end, next) => {
    const p = nextPeriod(d(anchor), "monthly", d(end));
    expect([day(p.start), day(p.end)]).toEqual([end, next]);
  });

  it.each([
    ["2025-01-01", "2025-01-31", 30],
    ["2025-02-01", "2025-03-01", 28],
    ["2024-02-01", "2024-03-01", 29],
    ["2025-03-01T23:59:00Z", "2025-03-02T00:01:00Z", 1],
    ["2025-03-02", "2025-03-01", -1],
  ])("from %s to %s is %i calendar days", (a, b, n) => {
    expect(calendarDays(d(a), d(b))).toBe(n);
  });

  it("ends a trial its days after it starts, to the millisecond", () => {
    expect(trialEnd(d("2025-01-20T10:00:00Z"), 30).toISOString()).toBe("2025-02-19T10:00:00.000Z");
  });
});

describe("money", () => {
  it.each([
    [5, 1, 2, 2], // 2.5 → 2 (even)
    [7, 1, 2, 4], // 3.5 → 4 (even)
    [1, 1, 3, 0], // 0.33 → 0
    [2, 1, 3, 1], // 0.67 → 1
    [-5, 1, 2, -2], // −2.5 → −2
    [4900, 15, 30, 2450],
    [4900, 14, 31, 2213], // 2212.90 → 2213
    [999, 1, 2, 500], // 499.5 → 500 (even)
    [1001, 1, 2, 500], // 500.5 → 500 (even)
    [100_000_000, 366, 366, 100_000_000],
  ])("%i × %i ÷ %i rounds half-even to %i", (a, b, c, expected) => {
    expect(mulDivHalfEven(a, b, c)).toBe(expected);
  });

  it("refuses floats and a zero divisor", () => {
    expect(() => mulDivHalfEven(1.5, 1, 2)).toThrow();
    expect(() => mulDivHalfEven(1, 1, 0)).toThrow();
  });

  it("totals an invoice as the sum of quantity × unit amount", () => {
    expect(invoiceTotal([])).toBe(0);
    expect(
      invoiceTotal([
        { quantity: 1, unitAmount: 4900 },
        { quantity: 3, unitAmount: 250 },
        { quantity: 1, unitAmount: -1200 },
      ]),
    ).toBe(4450);
  });
});

const basic = { id: "basic", interval: "monthly", amount: 1000 } as const;
const pro = { id: "pro", interval: "monthly", amount: 3000 } as const;
const yearly = { id: "yearly", interval: "annual", amount: 10_000 } as const;
const yearlyPro = { id: "yearly-pro", interval: "annual", amount: 30_000 } as const;
const once = { id: "once", interval: "one-time", amount: 20_000 } as const;
const forever = { id: "forever", interval: "lifetime", amount: 50_000 } as const;

describe("plan changes", () => {
  it.each([
    [basic, basic, "none"],
    [basic, pro, "upgrade"],
    [pro, basic, "downgrade"],
    [basic, yearly, "downgrade"], // 10,000/12 a month < 1,000
    [basic, yearlyPro, "upgrade"], // 30,000/12 = 2,500 a month > 1,000
    [yearlyPro, pro, "upgrade"], // 3,000 a month > 2,500
    [basic, once, "upgrade"],
    [basic, forever, "upgrade"],
    [once, basic, "downgrade"],
  ] as const)("%o → %o is %s", (from, to, kind) => {
    expect(planChange(from, to)).toBe(kind);
  });

  const period = { start: d("2025-04-01"), end: d("2025-05-01") }; // 30 days

  it.each([
    // at, credit days left, charge, credit, total
    ["2025-04-01T09:00:00Z", 30, 3000, 1000, 2000],
    ["2025-04-16T09:00:00Z", 15, 1500, 500, 1000],
    ["2025-04-30T23:00:00Z", 1, 100, 33, 67],
    ["2025-04-21T00:00:00Z", 10, 1000, 333, 667],
  ])("basic → pro at %s: %i days left, +%i −%i = %i", (at, left, charge, credit, total) => {
    const p = prorateUpgrade(basic, pro, period, d(at));
    expect(p.lines.map((l) => l.amount)).toEqual([charge, -credit]);
    expect(p.lines[0]?.description).toContain(`${left} of 30 days`);
    expect(p.total).toBe(total);
    expect(p.total).toBe(invoiceTotal(p.lines));
    expect([p.periodStart, p.periodEnd]).toEqual([period.start, period.end]);
  });

  it("charges an upgrade to another interval in full from now, with a new period, less the old plan's unused days", () => {
    const at = d("2025-04-16T09:00:00Z");
    const p = prorateUpgrade(basic, yearlyPro, period, at);
    expect(p.lines.map((l) => l.amount)).toEqual([30_000, -500]);
    expect(p.total).toBe(29_500);
    expect(p.periodStart).toEqual(at);
    expect(p.periodEnd?.toISOString()).toBe("2026-04-16T09:00:00.000Z");
  });

  it("charges a one-time or lifetime plan in full with no period", () => {
    const p = prorateUpgrade(basic, forever, period, d("2025-04-16"));
    expect(p.total).toBe(50_000 - 500);
    expect(p.periodEnd).toBeNull();
  });

  it("never credits more than it charges (the ledger refunds nothing)", () => {
    const cheapAnnual = { id: "y", interval: "annual", amount: 100 } as const;
    const p = prorateUpgrade(pro, cheapAnnual, period, d("2025-04-02"));
    expect(p.lines.map((l) => l.amount)).toEqual([100, -100]);
    expect(p.total).toBe(0);
  });
});

const sub = (over: Partial<SubscriptionFacts> = {}): SubscriptionFacts => ({
  id: "s1",
  org: "acme",
  template: "wiki",
  app: "docs",
  planId: null,
  interval: null,
  state: "trialing",
  pausedReason: null,
  trialEnd: d("2025-05-01T12:00:00Z"),
  currentPeriodEnd: null,
  cancelAtPeriodEnd: false,
  ...over,
});
const monthly = (over: Partial<SubscriptionFacts> = {}) =>
  sub({
    state: "active",
    planId: "basic",
    interval: "monthly",
    trialEnd: null,
    currentPeriodEnd: d("2025-06-01"),
    ...over,
  });

describe("states", () => {
  it.each([
    ["trialing, before its end", sub(), "2025-05-01T11:59:59Z", null, undefined],
    ["trialing, at its end", sub(), "2025-05-01T12:00:00Z", null, ["paused", "TrialEnded", "trial.ended"]],
    [
      "trialing, canceled, at its end",
      sub({ cancelAtPeriodEnd: true }),
      "2025-05-02",
      null,
      ["canceled", null, "trial.ended"],
    ],
    ["active, period running", monthly(), "2025-05-20", null, undefined],
    [
      "active, canceled at period end, reached",
      monthly({ cancelAtPeriodEnd: true }),
      "2025-06-01",
      null,
      ["canceled", null, undefined],
    ],
    ["active, canceled, not reached", monthly({ cancelAtPeriodEnd: true }), "2025-05-31", null, undefined],
    ["active, invoice not due", monthly(), "2025-05-20", "2025-05-21", undefined],
    ["active, invoice due", monthly(), "2025-05-21", "2025-05-21", ["past_due", null, undefined]],
    ["past due, in grace", monthly({ state: "past_due" }), "2025-05-27", "2025-05-21", undefined],
    [
      "past due, grace over",
      monthly({ state: "past_due" }),
      "2025-05-28",
      "2025-05-21",
      ["paused", "Unpaid", undefined],
    ],
    ["past due, paid", monthly({ state: "past_due" }), "2025-05-28", null, ["active", null, undefined]],
    ["paused stays paused", sub({ state: "paused", pausedReason: "TrialEnded" }), "2030-01-01", null, undefined],
    ["canceled stays canceled", sub({ state: "canceled" }), "2030-01-01", null, undefined],
  ] as const)("%s", (_name, s, now, dueAt, expected) => {
    const t = transitionAt(s, d(now), dueAt ? d(dueAt) : null);
    expect(t ? [t.state, t.pausedReason, t.event] : undefined).toEqual(expected);
  });

  it.each([
    [monthly(), "2025-06-01", true],
    [monthly(), "2025-05-31T23:59:59Z", false],
    [monthly({ cancelAtPeriodEnd: true }), "2025-06-02", false],
    [monthly({ state: "past_due" }), "2025-06-02", true],
    [monthly({ interval: "one-time", currentPeriodEnd: null }), "2030-01-01", false],
    [sub(), "2030-01-01", false],
  ])("renewal due for %o at %s: %s", (s, now, due) => {
    expect(renewalDue(s, d(now))).toBe(due);
  });

  it.each([
    ["2025-04-20T12:00:00Z", []], // 11 days left
    ["2025-04-24T12:00:00Z", [7]], // exactly 7 days left
    ["2025-04-30T11:00:00Z", [7]], // 25 h left
    ["2025-04-30T12:00:00Z", [1]], // exactly 1 day left
    ["2025-05-01T11:59:00Z", [1]],
    ["2025-05-01T12:00:00Z", []], // ended: the trial.ended event, not a notice
  ])("trial notices at %s: %o", (now, notices) => {
    expect(trialNoticesDue(sub(), d(now))).toEqual(notices);
  });
});

describe("entitlement", () => {
  it.each([
    [sub(), true, "Trialing", "2025-05-01T12:00:00.000Z"],
    [monthly(), true, "Active", new Date(d("2025-06-01").getTime() + 14 * DAY_MS).toISOString()],
    [monthly({ cancelAtPeriodEnd: true }), true, "Active", "2025-06-01T00:00:00.000Z"],
    [monthly({ interval: "one-time", currentPeriodEnd: null }), true, "Active", undefined],
    [monthly({ interval: "lifetime", app: null, currentPeriodEnd: null }), true, "Lifetime", undefined],
    [monthly({ state: "past_due", graceEnd: d("2025-06-15") } as never), true, "PastDue", "2025-06-15T00:00:00.000Z"],
    [sub({ state: "paused", pausedReason: "TrialEnded" }), false, "TrialEnded", undefined],
    [sub({ state: "paused", pausedReason: "PaymentRequired" }), false, "PaymentRequired", undefined],
    [monthly({ state: "paused", pausedReason: "Unpaid" }), false, "Paused", undefined],
    [monthly({ state: "canceled" }), false, "Canceled", undefined],
    [monthly({ state: "expired" }), false, "Expired", undefined],
  ])("%o: allowed %s, %s, until %s", (s, allowed, reason, until) => {
    const e = entitlementFor(s, "docs");
    expect([e.allowed, e.reason, e.until]).toEqual([allowed, reason, until]);
    expect(e.subscription).toBe("s1");
  });

  it("tells a waiting install where to pay and who can", () => {
    const e = entitlementFor(sub({ state: "paused", pausedReason: "PaymentRequired" }), "docs");
    expect(e.message).toContain("No free trial left");
    expect(e.message).toContain("/orgs/acme/apps/docs");
    expect(e.message).toContain("billing:manage");
  });

  it("compares entitlements without their decision time", () => {
    const e = entitlementFor(sub(), "docs");
    expect(sameEntitlement({ ...e, decidedAt: "2025-01-01T00:00:00Z" }, e)).toBe(true);
    expect(sameEntitlement(undefined, e)).toBe(false);
    expect(sameEntitlement({ ...e, until: "2025-05-02T00:00:00.000Z" }, e)).toBe(false);
  });
});

describe("a span without the apps (deletion grace, then a restore)", () => {
  const from = d("2026-03-10");
  const to = d("2026-03-30"); // 20 days
  const sub = (state: string, interval: string | null, end: string | null) => ({
    state,
    interval,
    currentPeriodEnd: end ? d(end) : null,
  });
  it.each([
    // A monthly period running at the request ends 20 days later, and periods count from there.
    ["active", "monthly", "2026-03-25", "2026-04-14"],
    ["past_due", "monthly", "2026-04-01", "2026-04-21"],
    ["active", "annual", "2026-12-31", "2027-01-20"],
    // Ended at or before the request: owed before the span, nothing moves.
    ["active", "monthly", "2026-03-10", undefined],
    ["active", "monthly", "2026-03-01", undefined],
    // No running period: trials end on time, paused and canceled ones run no period, one-time and lifetime have none.
    ["trialing", null, null, undefined],
    ["paused", "monthly", "2026-03-25", undefined],
    ["canceled", "monthly", "2026-03-25", undefined],
    ["active", "one-time", null, undefined],
    ["active", "lifetime", null, undefined],
  ])("%s %s ending %s ends %s", (state, interval, end, moved) => {
    const result = periodWithoutSpan(sub(state, interval, end), from, to);
    expect(result && day(result.currentPeriodEnd)).toBe(moved);
    if (result) expect(result.billingAnchor).toEqual(result.currentPeriodEnd);
  });

  it("renews from the moved end a whole period later: no period, so no invoice, covers the span", () => {
    const moved = periodWithoutSpan(sub("active", "monthly", "2026-03-25"), from, to);
    if (!moved) throw new Error("expected the period to move");
    const next = nextPeriod(moved.billingAnchor, "monthly", moved.currentPeriodEnd);
    expect([day(next.start), day(next.end)]).toEqual(["2026-04-14", "2026-05-14"]);
  });

  it("moves nothing for an empty or backwards span", () => {
    expect(periodWithoutSpan(sub("active", "monthly", "2026-03-25"), to, to)).toBeUndefined();
    expect(periodWithoutSpan(sub("active", "monthly", "2026-03-25"), to, from)).toBeUndefined();
    expect(dueWithoutSpan(d("2026-03-12"), to, from)).toBeUndefined();
  });

  it.each([
    ["2026-03-15", "2026-04-04"], // not yet due at the request: as long to pay after the restore
    ["2026-03-05", "2026-03-25"], // past due at the request, 2 of the 7 days of grace left: still 2 after
    ["2026-03-03", undefined], // its 7 days of grace ran out at the request: the app was to pause
    ["2026-02-20", undefined],
  ])("an open invoice due %s is due %s", (due, moved) => {
    const result = dueWithoutSpan(d(due), from, to);
    expect(result && day(result)).toBe(moved);
  });
});
