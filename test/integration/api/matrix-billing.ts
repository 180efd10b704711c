// Authorization-matrix rows for the billing routes. billing:view: Admin, Co-Admin, Manager;
// marketplace:purchase (choosing a plan): Admin, Co-Admin; billing:manage (cancel, resume, pay,
// billing details): Admin only. Each write gets a fresh subscription of a fresh paid template
// (an organization has one trial per app, ever).
import { namespaceFor } from "@atrium/crds";
import { R } from "@atrium/kube";
import { echoTemplate } from "../../cluster/fake-pods.ts";
import type { Row } from "./matrix.ts";
import type { RoleName, World } from "./world.ts";

const VIEW: RoleName[] = ["admin", "co-admin", "manager"];
const PURCHASE: RoleName[] = ["admin", "co-admin"];
const MANAGE: RoleName[] = ["admin"];
let n = 0;
const fresh = (what: string) => `${what}-${process.pid.toString(36)}-${(n++).toString(36)}`;

/** A paid template and a kubectl-style install of it, subscribed (a trial): the subscription's id. */
async function subscription(w: World, org: string): Promise<string> {
  const template = fresh("bill-tpl");
  const base = echoTemplate(template);
  await w.kube.create(R.appTemplate, {
    ...base,
    spec: {
      ...base.spec,
      pricing: { trialDays: 30, plans: [{ id: "basic", interval: "monthly", amount: 1000, currency: "USD" }] },
    },
  } as never);
  const app = await w.kube.create(R.appInstance, {
    metadata: { name: fresh("bill-app"), namespace: namespaceFor(org) },
    spec: { template, access: { policy: "Public" } },
  } as never);
  const view = await w.api.services.billing.subscribe(org, app as never);
  if (!view) throw new Error("setup: no subscription for a paid app");
  return view.id;
}

/** A subscription with an open invoice (a plan chosen during its trial): the invoice's id. */
async function openInvoice(w: World, org: string): Promise<string> {
  const id = await subscription(w, org);
  const result = await w.api.services.billing.changePlan(org, id, "basic", "matrix-setup");
  if (!result.invoice) throw new Error("setup: no invoice");
  return result.invoice.id;
}

/** One per world for the rows that only read. */
const once = <T>(make: (w: World, org: string) => Promise<T>) => {
  const made = new WeakMap<World, Promise<T>>();
  return (w: World, org: string) => {
    let value = made.get(w);
    if (!value) {
      value = make(w, org);
      made.set(w, value);
    }
    return value;
  };
};
const sharedSubscription = once(subscription);
const sharedInvoice = once(openInvoice);

const DETAILS = {
  contactName: "Ada Lovelace",
  email: "Billing@Example.com",
  addressLine1: "1 Engine Street",
  city: "London",
  postalCode: "N1 7AA",
  country: "GB",
  taxId: "GB123456789",
};

export const BILLING_ROWS: Row[] = [
  { name: "list subscriptions", method: "GET", path: "/api/orgs/{org}/subscriptions", allowed: VIEW, success: 200 },
  {
    name: "view a subscription",
    method: "GET",
    path: "/api/orgs/{org}/subscriptions/{target}",
    allowed: VIEW,
    success: 200,
    setup: async (w, org) => ({ target: await sharedSubscription(w, org) }),
  },
  {
    name: "choose a plan",
    method: "PUT",
    path: "/api/orgs/{org}/subscriptions/{target}/plan",
    allowed: PURCHASE,
    success: 200,
    setup: async (w, org) => ({ target: await subscription(w, org) }),
    body: () => ({ plan: "basic" }),
  },
  {
    name: "cancel a subscription",
    method: "POST",
    path: "/api/orgs/{org}/subscriptions/{target}/cancel",
    allowed: MANAGE,
    success: 200,
    setup: async (w, org) => ({ target: await subscription(w, org) }),
  },
  {
    name: "resume a subscription",
    method: "POST",
    path: "/api/orgs/{org}/subscriptions/{target}/resume",
    allowed: MANAGE,
    success: 200,
    setup: async (w, org) => {
      const id = await subscription(w, org);
      await w.api.services.billing.cancel(org, id);
      return { target: id };
    },
  },
  { name: "list invoices", method: "GET", path: "/api/orgs/{org}/invoices", allowed: VIEW, success: 200 },
  {
    name: "view an invoice",
    method: "GET",
    path: "/api/orgs/{org}/invoices/{target}",
    allowed: VIEW,
    success: 200,
    setup: async (w, org) => ({ target: await sharedInvoice(w, org) }),
  },
  {
    name: "download an invoice as CSV",
    method: "GET",
    path: "/api/orgs/{org}/invoices/{target}?format=csv",
    allowed: VIEW,
    success: 200,
    setup: async (w, org) => ({ target: await sharedInvoice(w, org) }),
  },
  {
    name: "mark an invoice paid",
    method: "POST",
    path: "/api/orgs/{org}/invoices/{target}/pay",
    allowed: MANAGE,
    success: 200,
    setup: async (w, org) => ({ target: await openInvoice(w, org) }),
  },
  { name: "view billing details", method: "GET", path: "/api/orgs/{org}/billing/details", allowed: VIEW, success: 200 },
  {
    name: "set billing details",
    method: "PUT",
    path: "/api/orgs/{org}/billing/details",
    allowed: MANAGE,
    success: 200,
    body: () => DETAILS,
  },
];
