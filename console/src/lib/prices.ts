// Prices in the reader's locale: amounts are integers in the currency's minor unit (the API's
// and the CRD's rule), never converted between currencies.
import type { Plan } from "../api/client.ts";
import type { PriceView } from "./search.ts";

const moneyFormats = new Map<string, Intl.NumberFormat>();
/** An amount in minor units (cents) as money in the reader's locale: "$4.99", "4,99 €", "¥500". */
export function formatMoney(amount: number, currency: string): string {
  let f = moneyFormats.get(currency);
  if (!f) {
    f = new Intl.NumberFormat(undefined, { style: "currency", currency });
    moneyFormats.set(currency, f);
  }
  const digits = f.resolvedOptions().maximumFractionDigits ?? 2;
  return f.format(amount / 10 ** digits);
}

const PER: Record<Plan["interval"], string> = {
  monthly: " / month",
  annual: " / year",
  "one-time": " once",
  lifetime: " lifetime",
};
export const planLabel = (p: Plan) =>
  p.amount === 0 ? "Free" : `${formatMoney(p.amount, p.currency)}${PER[p.interval]}`;

/**
 * The price a card shows in the chosen view: the plan of that interval, else a recurring plan
 * converted (annual ÷ 12 or monthly × 12, marked "≈"), else the app's other plans as they are.
 */
export function priceIn(plans: readonly Plan[], view: PriceView): { text: string; note?: string } {
  if (!plans.length || plans.every((p) => p.amount === 0)) return { text: "Free" };
  const exact = plans.find((p) => p.interval === view);
  if (exact) return { text: planLabel(exact) };
  if (view === "monthly" || view === "annual") {
    const other = plans.find((p) => p.interval === (view === "monthly" ? "annual" : "monthly"));
    if (other) {
      const amount = view === "monthly" ? Math.ceil(other.amount / 12) : other.amount * 12;
      return { text: `≈ ${formatMoney(amount, other.currency)}${PER[view]}`, note: `billed ${other.interval}` };
    }
  }
  const first = plans[0] as Plan;
  return { text: planLabel(first), note: `no ${view} plan` };
}

/** Amounts per currency, never added across currencies: "$12.00 + €5.00", or "—" when all are zero. */
export function moneyList(list: readonly { amount: number; currency: string }[]): string {
  const some = list.filter((m) => m.amount);
  return some.length ? some.map((m) => formatMoney(m.amount, m.currency)).join(" + ") : "—";
}
