// Billing's word before the gateway serves or wakes an app: the one entitlement decision
// (crds/src/entitlement.ts, the rule the operator applies too), taken from the gateway's own
// watch caches (the AppInstance with the entitlement the API published, and its AppTemplate):
// two map lookups and a few comparisons per request, never a call to the API or a database.
import { type AppInstance, type AppTemplate, decideEntitlement, type EntitlementDecision } from "@atrium/crds";
import { paymentRequiredPage } from "./pages.ts";

type Lookup<T> = { get(key: string): T | undefined };

/** A refusal the client is told about: 402 with the decision's reason. */
export type PaymentRefusal = EntitlementDecision & { allowed: false };

/**
 * The check, bound to the gateway's AppTemplate cache: undefined when billing lets the app be
 * served (free, trialing, paid), else the refusal. A missing template is not billing's to say:
 * the operator reports the app Failed (TemplateNotFound) and the gateway answers that.
 */
export const billingCheck =
  (templates: Lookup<AppTemplate>) =>
  (app: AppInstance, now: number): PaymentRefusal | undefined => {
    const decision = decideEntitlement(app, templates.get(app.spec.template), now);
    return decision.allowed || decision.reason === "TemplateMissing" ? undefined : (decision as PaymentRefusal);
  };

/** Who can act on it: the same words on the page and in the JSON. */
export const WHO_CAN_SUBSCRIBE =
  "Members of the organization with the billing:manage permission can subscribe in the Atrium console; the app starts again on the next request after that.";

/** What the API said, or the gateway's own words for a reason that came without a message. */
export function refusalMessage(app: string, refusal: Pick<EntitlementDecision, "reason" | "message">): string {
  if (refusal.message) return refusal.message;
  switch (refusal.reason) {
    case "TrialEnded":
      return `The free trial of ${app} has ended.`;
    case "AwaitingSubscription":
      return `${app} has no subscription yet.`;
    case "Canceled":
    case "Expired":
      return `The subscription for ${app} has ended.`;
    case "Paused":
      return `The subscription for ${app} is paused.`;
    default:
      return `${app} needs a paid subscription to run.`;
  }
}

/**
 * The organization's billing page in the console (the console's `/orgs/<org>/billing`, the path
 * the API's billing notices link to), or undefined when the gateway is not told where the
 * console is (ATRIUM_CONSOLE_URL): no link rather than a guessed one.
 */
export const billingUrlOf = (consoleUrl: string | undefined, org: string): string | undefined =>
  consoleUrl
    ? new URL(`orgs/${encodeURIComponent(org)}/billing`, `${consoleUrl.replace(/\/+$/, "")}/`).href
    : undefined;

export type PaymentRequiredBody = { type: string; text: string };

/**
 * The 402 answer: a page for browsers (anything that accepts HTML), JSON
 * `{ error, reason, message, billingUrl? }` for API clients. Never cached: paying changes it.
 */
export function paymentRequiredBody(
  app: string,
  org: string,
  refusal: Pick<EntitlementDecision, "reason" | "message">,
  accept: string | undefined,
  consoleUrl?: string,
): PaymentRequiredBody {
  const message = refusalMessage(app, refusal);
  const billingUrl = billingUrlOf(consoleUrl, org);
  if ((accept ?? "").includes("text/html"))
    return {
      type: "text/html; charset=utf-8",
      text: paymentRequiredPage(app, org, message, WHO_CAN_SUBSCRIBE, billingUrl),
    };
  return {
    type: "application/json",
    text: JSON.stringify({
      error: "payment_required",
      reason: refusal.reason,
      message: `${message} ${WHO_CAN_SUBSCRIBE}`,
      ...(billingUrl ? { billingUrl } : {}),
    }),
  };
}
