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
  const to: Recipients = { org, permission: "billing:manage" };
  const app = text(p.app, text(p.template, "an app"));
  const appLink = typeof p.app === "string" && p.app ? `/orgs/${org}/apps/${p.app}` : `/orgs/${org}/billing`;
  const day = (v: unknown) => (typeof v === "string" ? v.slice(0, 10) : "");
  switch (row.type) {
    case "trial.ending": {
      const days = typeof p.days === "number" ? p.days : undefined;
      return {
        to,
        notice: {
          key: `outbox:${row.key}`,
          event: "trial.ending",
          org,
          title: `The trial of ${app} ends ${days === 1 ? "tomorrow" : days ? `in ${days} days` : "soon"}`,
          body: `The trial of ${app} in "${org}" ends on ${day(p.trialEndsAt)} (UTC). Choose a plan to keep it running; without one it stops when the trial ends.`,
          link: appLink,
        },
      };
    }
    case "trial.ended":
      return {
        to,
        notice: {
          key: `outbox:${row.key}`,
          event: "trial.ending",
          org,
          title: `The trial of ${app} ended`,
          body: `The trial of ${app} in "${org}" ended on ${day(p.trialEndsAt ?? p.trialEndedAt)} (UTC)${p.outcome === "paused" ? ": the app is stopped until a plan is paid" : ""}.`,
          link: appLink,
        },
      };
    case "invoice.due":
      return {
        to,
        notice: {
          key: `outbox:${row.key}`,
          event: "payment.due",
          org,
          title: `Invoice of ${money(p.total, p.currency)} due`,
          body: `An invoice of ${money(p.total, p.currency)} for "${org}" was due on ${day(p.dueAt)} (UTC) and is not paid yet. Unpaid renewals stop the app 7 days after the due date.`,
          link: `/orgs/${org}/billing`,
        },
      };
    default:
      return undefined;
  }
}
