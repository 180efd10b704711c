// The economic overview's arithmetic, as pure functions of rows and the clock: what the
// organization has committed to pay per month, what it bought outright this month, which trials
// end soon and what they would cost, what is due, and an estimate of what stopping idle apps
// saved. Money is integers in the currency's minor unit; amounts of different currencies are
// never added together (there is no exchange rate in Atrium, so each currency is its own line).
import type { PricingPlan } from "@atrium/crds";
import { DAY_MS, isRecurring, mulDivHalfEven } from "../billing/domain.ts";
import type { ResourcePrices } from "../config.ts";

export type Money = { currency: string; amount: number };

/** What the overview reads of a subscription (a database row fits). */
export type SubscriptionFacts = {
  app: string | null;
  template: string;
  planId: string | null;
  interval: string | null;
  amount: number | null;
  currency: string | null;
  state: string;
  trialEnd: Date | null;
};

export type Trial = {
  app: string;
  template: string;
  endsAt: string;
  /** The monthly amount the organization would pay once the trial ends; null when no recurring plan says. */
  monthlyAmount: number | null;
  currency: string | null;
};

/** Adds amounts per currency, in currency order (stable answers, easy to compare). */
export function sumByCurrency(items: Iterable<Money>): Money[] {
  const totals = new Map<string, number>();
  for (const { currency, amount } of items) totals.set(currency, (totals.get(currency) ?? 0) + amount);
  return [...totals]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([currency, amount]) => ({ currency, amount }));
}

/**
 * A plan's price per month: monthly at face value, annual ÷ 12 rounded half to even to the minor
 * unit (as proration rounds, billing/domain.ts); one-time and lifetime plans have none (paid once).
 */
export function monthlyEquivalent(plan: { interval: string | null; amount: number | null }): number | null {
  if (plan.amount === null) return null;
  if (plan.interval === "monthly") return plan.amount;
  if (plan.interval === "annual") return mulDivHalfEven(plan.amount, 1, 12);
  return null;
}

/** The states in which a recurring subscription is being paid for (a paused or ended one is not). */
const PAYING = new Set(["active", "past_due"]);

/**
 * Committed spend per month: every paying recurring subscription at its monthly equivalent, per
 * currency. A subscription canceled at its period's end still counts until then (it is paid).
 */
export function committedMonthly(subs: readonly SubscriptionFacts[]): Money[] {
  const items: Money[] = [];
  for (const s of subs) {
    if (!PAYING.has(s.state) || !isRecurring(s.interval) || s.currency === null) continue;
    const monthly = monthlyEquivalent(s);
    if (monthly !== null) items.push({ currency: s.currency, amount: monthly });
  }
  return sumByCurrency(items);
}

/** The first instant of the UTC calendar month of `now`. */
export const monthStart = (now: Date): Date => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));

/**
 * One-time and lifetime plans are purchases, not commitments: their invoices issued this UTC
 * month (open or paid; void ones are not purchases), totalled per currency.
 */
export function purchasesThisMonth(
  invoices: readonly { currency: string; total: number; issuedAt: Date; status: string; interval: string | null }[],
  now: Date,
): Money[] {
  const from = monthStart(now).getTime();
  return sumByCurrency(
    invoices
      .filter(
        (i) =>
          i.status !== "void" &&
          (i.interval === "one-time" || i.interval === "lifetime") &&
          i.issuedAt.getTime() >= from &&
          i.issuedAt.getTime() <= now.getTime(),
      )
      .map((i) => ({ currency: i.currency, amount: i.total })),
  );
}

/**
 * What a trial puts at stake per month when it ends: the chosen plan's monthly equivalent if one
 * was chosen (null if that plan is paid once), else the template's cheapest recurring plan per
 * month, among the plans in the currency of its first recurring plan (amounts in two currencies
 * cannot be compared without a rate). A template without recurring plans: null.
 */
export function atStake(
  plans: readonly Pick<PricingPlan, "id" | "interval" | "amount" | "currency">[],
  chosen: string | null,
): { amount: number; currency: string } | null {
  const pick = chosen ? plans.find((p) => p.id === chosen) : undefined;
  if (pick) {
    const amount = monthlyEquivalent(pick);
    return amount === null ? null : { amount, currency: pick.currency };
  }
  const recurring = plans.filter((p) => isRecurring(p.interval));
  const currency = recurring[0]?.currency;
  let best: number | null = null;
  for (const p of recurring) {
    if (p.currency !== currency) continue;
    const amount = monthlyEquivalent(p) as number;
    if (best === null || amount < best) best = amount;
  }
  return best === null || currency === undefined ? null : { amount: best, currency };
}

/**
 * Trials that end within 7 and within 30 days of `now` (the 30-day list includes the 7-day one),
 * soonest first, each with the monthly amount at stake. `plansOf` gives a template's plans (the
 * catalog); a template gone from the catalog leaves the amount unknown (null) but the trial listed.
 */
export function trialsEnding(
  subs: readonly SubscriptionFacts[],
  plansOf: (template: string) => readonly Pick<PricingPlan, "id" | "interval" | "amount" | "currency">[] | undefined,
  now: Date,
): { within7Days: Trial[]; within30Days: Trial[] } {
  const t = now.getTime();
  const ending = subs
    .filter((s) => s.state === "trialing" && s.trialEnd && s.trialEnd.getTime() > t)
    .filter((s) => (s.trialEnd as Date).getTime() <= t + 30 * DAY_MS)
    .sort(
      (a, b) =>
        (a.trialEnd as Date).getTime() - (b.trialEnd as Date).getTime() || (a.app ?? "").localeCompare(b.app ?? ""),
    );
  const trials = ending.map((s) => {
    const plans = plansOf(s.template);
    const stake = plans ? atStake(plans, s.planId) : null;
    return {
      trial: {
        app: s.app ?? "",
        template: s.template,
        endsAt: (s.trialEnd as Date).toISOString(),
        monthlyAmount: stake?.amount ?? null,
        currency: stake?.currency ?? null,
      },
      end: (s.trialEnd as Date).getTime(),
    };
  });
  return {
    within7Days: trials.filter((x) => x.end <= t + 7 * DAY_MS).map((x) => x.trial),
    within30Days: trials.map((x) => x.trial),
  };
}

/** Open invoices: how many, and how much per currency. */
export function invoicesDue(open: readonly { currency: string; total: number }[]): {
  count: number;
  byCurrency: Money[];
} {
  return {
    count: open.length,
    byCurrency: sumByCurrency(open.map((i) => ({ currency: i.currency, amount: i.total }))),
  };
}

export const SAVINGS_PERIOD_DAYS = 30;

/** One app's time stopped for idleness over the period, from the usage rollups. */
export type IdleStops = {
  app: string;
  /** Seconds the app was stopped for idleness. */
  stoppedSeconds: number;
  /** Those seconds × the app's CPU request in cores at its stop. */
  cpuCoreSeconds: number;
  /** Those seconds × its memory request in GiB. */
  gibSeconds: number;
};

const hours = (seconds: number) => Math.round((seconds / 3600) * 100) / 100;

/**
 * Saved by auto-stop, an estimate: Σ over apps of (core-hours stopped for idleness × the price of
 * a CPU core-hour + GiB-hours stopped × the price of a GiB-hour), in USD cents rounded to the
 * nearest cent. What the stopped app would have held (its requests) is priced as a cloud would
 * price the node capacity it frees; nothing says the capacity was given back, hence "estimate".
 */
export function savedByAutoStop(stops: readonly IdleStops[], prices: ResourcePrices) {
  let stopped = 0;
  let cpu = 0;
  let gib = 0;
  let dollars = 0;
  for (const s of stops) {
    stopped += s.stoppedSeconds;
    cpu += s.cpuCoreSeconds;
    gib += s.gibSeconds;
    dollars += (s.cpuCoreSeconds / 3600) * prices.cpuHour + (s.gibSeconds / 3600) * prices.gibHour;
  }
  return {
    estimate: true as const,
    currency: "USD" as const,
    amount: Math.round(dollars * 100),
    periodDays: SAVINGS_PERIOD_DAYS,
    stoppedHours: hours(stopped),
    cpuCoreHours: hours(cpu),
    gibHours: hours(gib),
    cpuHourPrice: prices.cpuHour,
    gibHourPrice: prices.gibHour,
    formula:
      `Σ over apps of (CPU core-hours stopped for idleness × ${prices.cpuHour} USD + GiB-hours stopped for idleness × ` +
      `${prices.gibHour} USD), over the last ${SAVINGS_PERIOD_DAYS} UTC days (today so far included); an app's cores ` +
      "and GiB are its CPU and memory requests when it stopped; prices per hour from ATRIUM_PRICE_CPU_HOUR and " +
      "ATRIUM_PRICE_GIB_HOUR (defaults: OpenCost's default list prices); the amount in cents, rounded to the nearest cent",
  };
}
