// Billing's Outbox events as notices: pure. trial.ending and trial.ended go to whoever may
// manage billing in the organization (billing:manage; Admins hold it), under the "trial.ending"
// preference; invoice.due under "payment.due"; payment.recorded tells nobody (it ends a notice
// rather than needing one).
import type { Notice, Recipients } from "./notifications.ts";

type OutboxRow = { key: string; type: string; org: string; payload: string };

const text = (v: unknown, fallback: string) => (typeof v === "string" && v ? v : fallback);

/** Minor units → "12.34 EUR" (two decimals: the local ledger's currencies). */
export function money(amount: unknown, currency: unknown): string {
  if (typeof amount !== "number") return "";
  return `${(amount / 100).toFixed(2)} ${text(currency, "")}`.trim();
}

export function outboxNotice(row: OutboxRow): { notice: Notice; to: Recipients } | undefined {
  let p: Record<string, unknown>;
  try {
    p = JSON.parse(row.payload) as Record<string, unknown>;
  } catch {
    p = {};
  }
  const org = row.org;
  const app = text(p.app, text(p.template, "an app"));
  const appLink = typeof p.app === "string" && p.app ? `/orgs/${org}/apps/${p.app}` : `/orgs/${org}/billing`;
  const day = (v: unknown) => (typeof v === "string" ? v.slice(0, 10) : "");
  const billingNotice = (event: Notice["event"], title: string, body: string, link: string) => ({
    to: { org, permission: "billing:manage" } satisfies Recipients,
    notice: { key: `outbox:${row.key}`, event, org, title, body, link },
  });
  switch (row.type) {
    case "trial.ending": {
      const days = typeof p.days === "number" ? p.days : undefined;
      return billingNotice(
        "trial.ending",
        `The trial of ${app} ends ${days === 1 ? "tomorrow" : days ? `in ${days} days` : "soon"}`,
        `The trial of ${app} in "${org}" ends on ${day(p.trialEndsAt)} (UTC). Choose a plan to keep it running; without one it stops when the trial ends.`,
        appLink,
      );
    }
    case "trial.ended":
      return billingNotice(
        "trial.ending",
        `The trial of ${app} ended`,
        `The trial of ${app} in "${org}" ended on ${day(p.trialEndsAt ?? p.trialEndedAt)} (UTC)${p.outcome === "paused" ? ": the app is stopped until a plan is paid" : ""}.`,
        appLink,
      );
    case "invoice.due":
      return billingNotice(
        "payment.due",
        `Invoice of ${money(p.total, p.currency)} due`,
        `An invoice of ${money(p.total, p.currency)} for "${org}" was due on ${day(p.dueAt)} (UTC) and is not paid yet. Unpaid renewals stop the app 7 days after the due date.`,
        `/orgs/${org}/billing`,
      );
    default:
      return undefined;
  }
}
