// Billing's arithmetic and rules, as pure functions of their inputs and the clock: periods,
// proration, the subscription state machine and the entitlement a subscription gives. Money is
// integers in the currency's minor unit (cents, yen) and never a float; dates are UTC.
import type { Entitlement, EntitlementReason, PricingInterval, PricingPlan } from "@atrium/crds";

export const DAY_MS = 86_400_000;
/** A renewal invoice is due this long after its period starts. */
export const DUE_DAYS = 7;
/** A past-due subscription keeps running this long after its invoice was due, then pauses. */
export const GRACE_DAYS = 7;
export const TRIAL_NOTICE_DAYS = [7, 1] as const;

export type SubscriptionState = "trialing" | "active" | "past_due" | "paused" | "canceled" | "expired";
/** Why a paused subscription is paused. */
export type PausedReason = "TrialEnded" | "PaymentRequired" | "Unpaid";

// ---- Periods ----

const daysInMonth = (year: number, month: number) => new Date(Date.UTC(year, month + 1, 0)).getUTCDate();

/**
 * `months` calendar months after `anchor`, on the anchor's day of the month or the month's last
 * day when it has fewer (Jan 31 + 1 month = Feb 28, or 29; + 2 months = Mar 31: counted from the
 * anchor, so a short month does not drag every later period to the 28th). Time of day is kept.
 */
export function addMonthsClamped(anchor: Date, months: number): Date {
  const total = anchor.getUTCFullYear() * 12 + anchor.getUTCMonth() + months;
  const year = Math.floor(total / 12);
  const month = total - year * 12;
  const day = Math.min(anchor.getUTCDate(), daysInMonth(year, month));
  return new Date(
    Date.UTC(
      year,
      month,
      day,
      anchor.getUTCHours(),
      anchor.getUTCMinutes(),
      anchor.getUTCSeconds(),
      anchor.getUTCMilliseconds(),
    ),
  );
}

const MONTHS: Partial<Record<PricingInterval, number>> = { monthly: 1, annual: 12 };

/** Whether a plan renews each period (monthly, annual) rather than being paid once. */
export const isRecurring = (interval: PricingInterval | string | null | undefined): boolean =>
  interval === "monthly" || interval === "annual";

/**
 * The end of the `index`-th period (0 = the first) of a recurring plan whose periods count from
 * `anchor`: the first monthly period from Jan 31 ends Feb 28 (29), the second Mar 31.
 */
export function periodEnd(anchor: Date, interval: PricingInterval, index = 0): Date {
  const months = MONTHS[interval];
  if (!months) throw new Error(`a ${interval} plan has no periods`);
  return addMonthsClamped(anchor, months * (index + 1));
}

/** The period after the one ending at `end`, for periods counted from `anchor`. */
export function nextPeriod(anchor: Date, interval: PricingInterval, end: Date): { start: Date; end: Date } {
  for (let index = 0; index < 10_000; index++) {
    const candidate = periodEnd(anchor, interval, index);
    if (candidate.getTime() > end.getTime()) return { start: end, end: candidate };
  }
  throw new Error("period index out of range");
}

/** Whole UTC calendar days from a's date to b's date (b earlier: negative). */
export function calendarDays(a: Date, b: Date): number {
  const day = (d: Date) => Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  return Math.round((day(b) - day(a)) / DAY_MS);
}

/** When a trial of `days` days that starts at `start` ends (the same time of day). */
export const trialEnd = (start: Date, days: number): Date => new Date(start.getTime() + days * DAY_MS);

// ---- Money ----

/**
 * a × b / c rounded half to even (banker's rounding), on integers. Proration rounds once per
 * line, and half-even keeps many small roundings from drifting one way.
 */
export function mulDivHalfEven(a: number, b: number, c: number): number {
  if (![a, b, c].every(Number.isSafeInteger) || c <= 0) throw new Error("integers and a positive divisor, please");
  const n = BigInt(a) * BigInt(b);
  const d = BigInt(c);
  const sign = n < 0n ? -1n : 1n;
  const abs = n * sign;
  let q = abs / d;
  const twice = (abs - q * d) * 2n;
  if (twice > d || (twice === d && q % 2n === 1n)) q += 1n;
  return Number(q * sign);
}

export type Line = { description: string; quantity: number; unitAmount: number; amount: number };

/** An invoice's total is the sum of its lines, each quantity × unit amount. */
export function invoiceTotal(lines: readonly Pick<Line, "quantity" | "unitAmount">[]): number {
  return lines.reduce((sum, l) => sum + l.quantity * l.unitAmount, 0);
}

type Priced = Pick<PricingPlan, "id" | "interval" | "amount">;

/**
 * Is moving from `from` to `to` an upgrade (takes effect now) or a downgrade (at the period's
 * end)? Between recurring plans: by price per day of a period (amount ÷ period length in
 * months, compared crosswise on integers). Paying once (one-time, lifetime) is always "now".
 */
export function planChange(from: Priced, to: Priced): "none" | "upgrade" | "downgrade" {
  if (from.id === to.id) return "none";
  if (!isRecurring(to.interval)) return "upgrade";
  if (!isRecurring(from.interval)) return "downgrade";
  const perMonth = (p: Priced) => [p.amount, MONTHS[p.interval] as number] as const;
  const [a, am] = perMonth(from);
  const [b, bm] = perMonth(to);
  return b * am > a * bm ? "upgrade" : "downgrade";
}

export type Proration = {
  lines: Line[];
  total: number;
  /** The period the new plan runs for from now: the old one's rest (same interval) or a new one. */
  periodStart: Date;
  periodEnd: Date | null;
};

/**
 * An upgrade at `at` within the period [start, end): a credit for the old plan's unused days and
 * a charge for the new plan. Days are UTC calendar days, the day of the change counting as
 * unused. Same interval: the new plan is charged for the same remaining days and the period
 * stays; another interval (monthly → annual) or a one-time/lifetime plan: the new plan is
 * charged in full from now. The credit never exceeds the charge: the local ledger refunds nothing.
 */
export function prorateUpgrade(
  old: Priced,
  next: Priced,
  period: { start: Date; end: Date },
  at: Date,
  anchorForNewPeriod: Date = at,
): Proration {
  const total = Math.max(1, calendarDays(period.start, period.end));
  const left = Math.min(total, Math.max(0, calendarDays(at, period.end)));
  const credit = mulDivHalfEven(old.amount, left, total);
  const sameInterval = old.interval === next.interval && isRecurring(next.interval);
  const charge = sameInterval ? mulDivHalfEven(next.amount, left, total) : next.amount;
  const lines: Line[] = [
    {
      description: sameInterval
        ? `Plan ${next.id}, ${left} of ${total} days`
        : `Plan ${next.id}${isRecurring(next.interval) ? `, ${next.interval}` : ` (${next.interval})`}`,
      quantity: 1,
      unitAmount: charge,
      amount: charge,
    },
  ];
  const applied = Math.min(credit, charge);
  if (applied > 0)
    lines.push({
      description: `Unused ${left} of ${total} days of plan ${old.id}`,
      quantity: 1,
      unitAmount: -applied,
      amount: -applied,
    });
  return {
    lines,
    total: invoiceTotal(lines),
    periodStart: sameInterval ? period.start : at,
    periodEnd: sameInterval
      ? period.end
      : isRecurring(next.interval)
        ? periodEnd(anchorForNewPeriod, next.interval as PricingInterval)
        : null,
  };
}

// ---- States ----

/** Everything the rules read of a subscription (a database row fits). */
export type SubscriptionFacts = {
  id: string;
  org: string;
  template: string;
  app: string | null;
  planId: string | null;
  interval: string | null;
  state: string;
  pausedReason: string | null;
  trialEnd: Date | null;
  currentPeriodEnd: Date | null;
  cancelAtPeriodEnd: boolean;
};

export type Transition = { state: SubscriptionState; pausedReason: PausedReason | null; event?: "trial.ended" };

/**
 * What time alone does to a subscription at `now` (the scheduler applies it): a trial that ended
 * pauses (TrialEnded) or, if it was canceled, becomes canceled; a period that ended with
 * cancelAtPeriodEnd becomes canceled; a past-due subscription whose grace ran out pauses (Unpaid).
 * Renewals (a recurring period ended, not canceled) are `renewalDue`; payments are not time's.
 */
export function transitionAt(
  s: SubscriptionFacts,
  now: Date,
  oldestOpenDueAt: Date | null = null,
): Transition | undefined {
  const t = now.getTime();
  switch (s.state) {
    case "trialing":
      if (s.trialEnd && s.trialEnd.getTime() <= t)
        return s.cancelAtPeriodEnd
          ? { state: "canceled", pausedReason: null, event: "trial.ended" }
          : { state: "paused", pausedReason: "TrialEnded", event: "trial.ended" };
      return undefined;
    case "active":
    case "past_due":
      if (s.cancelAtPeriodEnd && s.currentPeriodEnd && s.currentPeriodEnd.getTime() <= t)
        return { state: "canceled", pausedReason: null };
      if (s.state === "active" && oldestOpenDueAt && oldestOpenDueAt.getTime() <= t)
        return { state: "past_due", pausedReason: null };
      if (s.state === "past_due" && oldestOpenDueAt && oldestOpenDueAt.getTime() + GRACE_DAYS * DAY_MS <= t)
        return { state: "paused", pausedReason: "Unpaid" };
      if (s.state === "past_due" && !oldestOpenDueAt) return { state: "active", pausedReason: null };
      return undefined;
    default:
      return undefined;
  }
}

/** A recurring, active (or past-due) subscription whose period ended and that is not canceled renews. */
export const renewalDue = (s: SubscriptionFacts, now: Date): boolean =>
  (s.state === "active" || s.state === "past_due") &&
  isRecurring(s.interval) &&
  !s.cancelAtPeriodEnd &&
  s.currentPeriodEnd !== null &&
  s.currentPeriodEnd.getTime() <= now.getTime();

// ---- A span the organization could not use its apps (its deletion grace, then a restore) ----

/**
 * Where a subscription's running period ends once a span in which its apps could not run (an
 * organization's deletion grace period, `from` its request `to` its restore) is taken out of it:
 * the period's clock stops for the span, so its end moves by the span's length, and later
 * periods count from that new end (the billing anchor), so none of them, nor an invoice, covers
 * the span. Only a recurring period that was running when the span began (active or past due,
 * its end after `from`) moves: one that had ended before was owed before the span; trials end
 * on time (a trial costs nothing); one-time and lifetime plans have no period. undefined: nothing moves.
 */
export function periodWithoutSpan(
  s: Pick<SubscriptionFacts, "state" | "interval" | "currentPeriodEnd">,
  from: Date,
  to: Date,
): { currentPeriodEnd: Date; billingAnchor: Date } | undefined {
  const span = to.getTime() - from.getTime();
  if (span <= 0 || !isRecurring(s.interval) || !s.currentPeriodEnd) return undefined;
  if (s.state !== "active" && s.state !== "past_due") return undefined;
  if (s.currentPeriodEnd.getTime() <= from.getTime()) return undefined;
  const end = new Date(s.currentPeriodEnd.getTime() + span);
  return { currentPeriodEnd: end, billingAnchor: end };
}

/**
 * An open invoice's due date once the same span is taken out: its dunning (due, then GRACE_DAYS
 * of past due before the app pauses) waited during the span, so what was left of it when the span
 * began is left after it. An invoice whose dunning had run out before the span keeps its date.
 */
export function dueWithoutSpan(dueAt: Date, from: Date, to: Date): Date | undefined {
  const span = to.getTime() - from.getTime();
  if (span <= 0 || dueAt.getTime() + GRACE_DAYS * DAY_MS <= from.getTime()) return undefined;
  return new Date(dueAt.getTime() + span);
}

/** The trial notices due at `now`: the 7-day one while 1 < days left ≤ 7, the 1-day one within a day. */
export function trialNoticesDue(s: Pick<SubscriptionFacts, "state" | "trialEnd">, now: Date): (7 | 1)[] {
  if (s.state !== "trialing" || !s.trialEnd) return [];
  const left = s.trialEnd.getTime() - now.getTime();
  if (left <= 0) return [];
  if (left <= DAY_MS) return [1];
  if (left <= 7 * DAY_MS) return [7];
  return [];
}

// ---- Entitlement ----

/** Where to pay, for the messages an app's owner sees in its status and the gateway's 402. */
export const payHint = (org: string, app: string | null) =>
  `a member with the billing:manage permission can subscribe at /orgs/${org}/apps/${app ?? ""}`.replace(/\/$/, "");

const iso = (d: Date) => d.toISOString();

/**
 * The entitlement a subscription gives its install(s) at `now`, as published into the
 * AppInstance's status (decidedAt is added by the publisher). `app` names the install the
 * message is for (a lifetime subscription covers several). Allowed ones carry `until` when they
 * lapse by time alone (a trial's end, a period's end plus the time to pay its renewal), so the
 * operator stops the app on time even while the API is down.
 */
export function entitlementFor(
  s: SubscriptionFacts & { graceEnd?: Date | null },
  app: string,
  options: { openInvoice?: boolean } = {},
): Omit<Entitlement, "decidedAt"> {
  const hint = payHint(s.org, app);
  const base = { subscription: s.id, ...(s.planId ? { plan: s.planId } : {}) };
  const no = (reason: EntitlementReason, message: string) => ({ ...base, allowed: false, reason, message });
  switch (s.state) {
    case "trialing":
      return {
        ...base,
        allowed: true,
        reason: "Trialing",
        ...(s.trialEnd ? { until: iso(s.trialEnd) } : {}),
        message: s.trialEnd ? `Free trial until ${iso(s.trialEnd)}` : "Free trial",
      };
    case "active":
      if (s.interval === "lifetime")
        return { ...base, allowed: true, reason: "Lifetime", message: "Paid for good (lifetime plan)" };
      if (!isRecurring(s.interval) || !s.currentPeriodEnd)
        return { ...base, allowed: true, reason: "Active", message: "Paid for good (one-time plan)" };
      if (s.cancelAtPeriodEnd)
        return {
          ...base,
          allowed: true,
          reason: "Active",
          until: iso(s.currentPeriodEnd),
          message: `Canceled: runs until ${iso(s.currentPeriodEnd)}`,
        };
      return {
        ...base,
        allowed: true,
        reason: "Active",
        // The renewal invoice is due DUE_DAYS into the next period, then GRACE_DAYS of past due.
        until: iso(new Date(s.currentPeriodEnd.getTime() + (DUE_DAYS + GRACE_DAYS) * DAY_MS)),
        message: `Renews ${iso(s.currentPeriodEnd)}`,
      };
    case "past_due":
      return {
        ...base,
        allowed: true,
        reason: "PastDue",
        ...(s.graceEnd ? { until: iso(s.graceEnd) } : {}),
        message: `An invoice is past due; ${hint}${s.graceEnd ? ` before ${iso(s.graceEnd)}` : ""}`,
      };
    case "paused": {
      const pending = options.openInvoice ? " (an invoice awaits payment)" : "";
      if (s.pausedReason === "TrialEnded") return no("TrialEnded", `The free trial has ended${pending}; ${hint}`);
      if (s.pausedReason === "Unpaid") return no("Paused", `Paused for an unpaid invoice; ${hint}`);
      return no(
        "PaymentRequired",
        s.planId
          ? `Payment required${pending}; ${hint}`
          : `No free trial left for this app in the organization: payment required; ${hint}`,
      );
    }
    case "canceled":
      return no("Canceled", `The subscription was canceled; ${hint}`);
    default:
      return no("Expired", `The subscription has ended; ${hint}`);
  }
}

/** Two entitlements say the same thing (decidedAt aside): then nothing needs publishing. */
export function sameEntitlement(a: Partial<Entitlement> | undefined, b: Partial<Entitlement>): boolean {
  if (!a) return false;
  const keys = ["allowed", "reason", "until", "message", "plan", "subscription"] as const;
  return keys.every((k) => (a[k] ?? null) === (b[k] ?? null));
}
