// Billing over HTTP: the org's subscriptions (view, choose or change a plan, cancel, resume),
// its invoices (list, download as JSON or CSV, mark paid) and its billing details. Reads need
// billing:view; buying needs marketplace:purchase; changing a running plan, cancelling, paying
// and the details need billing:manage. Every write is audited (route()).
import { PRICING_INTERVALS, parseEmail } from "@atrium/crds";
import { Type } from "@sinclair/typebox";
import type { Services } from "../app.ts";
import { forbidden, invalidField } from "../http/errors.ts";
import { route } from "../http/route.ts";
import { Email, Name, OrgParams, Timestamp } from "../routes/views.ts";
import { toView } from "./billing.ts";
import { invoiceCsv } from "./csv.ts";

const Id = (description: string) => Type.String({ pattern: "^[a-z0-9]{1,64}$", description });
const Nullable = <T extends ReturnType<typeof Type.String | typeof Type.Integer>>(t: T) => Type.Union([t, Type.Null()]);
const State = Type.Union(
  ["trialing", "active", "past_due", "paused", "canceled", "expired"].map((s) => Type.Literal(s)),
);

const SubscriptionView = Type.Object({
  id: Type.String(),
  template: Type.String(),
  app: Nullable(Type.String({ description: "null: a lifetime plan of the organization, for every install" })),
  plan: Nullable(Type.String()),
  interval: Type.Union([...PRICING_INTERVALS.map((i) => Type.Literal(i)), Type.Null()]),
  amount: Nullable(Type.Integer({ description: "Minor units of the currency (cents)" })),
  currency: Nullable(Type.String()),
  state: State,
  trialEndsAt: Nullable(Timestamp),
  currentPeriodEnd: Nullable(Timestamp),
  cancelAtPeriodEnd: Type.Boolean(),
  pendingPlan: Nullable(Type.String({ description: "A downgrade taking effect at the period's end" })),
  currentPeriodStart: Nullable(Timestamp),
  pausedReason: Nullable(Type.String()),
});

const InvoiceView = Type.Object({
  id: Type.String(),
  subscription: Nullable(Type.String()),
  status: Type.Union([Type.Literal("open"), Type.Literal("paid"), Type.Literal("void")]),
  currency: Type.String(),
  total: Type.Integer({ description: "Minor units; the sum of the lines' amounts" }),
  issuedAt: Timestamp,
  dueAt: Timestamp,
  periodStart: Nullable(Timestamp),
  periodEnd: Nullable(Timestamp),
  paidAt: Nullable(Timestamp),
  paidBy: Nullable(Type.String()),
  lines: Type.Array(
    Type.Object({
      description: Type.String(),
      quantity: Type.Integer(),
      unitAmount: Type.Integer(),
      amount: Type.Integer(),
    }),
  ),
});

const SubscriptionParams = Type.Object({ org: Name("Organization name"), subscription: Id("Subscription id") });
const InvoiceParams = Type.Object({ org: Name("Organization name"), invoice: Id("Invoice id") });

/** Text of at most `max` characters with something besides spaces in it. */
const Text = (max: number) => Type.String({ minLength: 1, maxLength: max, pattern: "\\S" });
const DetailsBody = Type.Object(
  {
    contactName: Text(200),
    email: Email,
    addressLine1: Text(200),
    addressLine2: Type.Optional(Type.Union([Text(200), Type.Null()])),
    city: Text(100),
    postalCode: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 20, pattern: "^[A-Za-z0-9][A-Za-z0-9 -]*$" }), Type.Null()]),
    ),
    region: Type.Optional(Type.Union([Text(100), Type.Null()])),
    country: Type.String({ pattern: "^[A-Z]{2}$", description: "ISO 3166-1 alpha-2 code, e.g. DE" }),
    taxId: Type.Optional(
      Type.Union([
        Type.String({ minLength: 2, maxLength: 50, pattern: "^[A-Za-z0-9][A-Za-z0-9 .\\-/]*$" }),
        Type.Null(),
      ]),
    ),
  },
  { additionalProperties: false },
);
const DetailsView = Type.Object({
  contactName: Type.String(),
  email: Type.String(),
  addressLine1: Type.String(),
  addressLine2: Nullable(Type.String()),
  city: Type.String(),
  postalCode: Nullable(Type.String()),
  region: Nullable(Type.String()),
  country: Type.String(),
  taxId: Nullable(Type.String()),
  updatedAt: Timestamp,
  updatedBy: Type.String(),
});

type DetailsRow = NonNullable<Awaited<ReturnType<Services["billing"]["details"]>>>;
const detailsView = (d: DetailsRow) => ({
  contactName: d.contactName,
  email: d.email,
  addressLine1: d.addressLine1,
  addressLine2: d.addressLine2,
  city: d.city,
  postalCode: d.postalCode,
  region: d.region,
  country: d.country,
  taxId: d.taxId,
  updatedAt: d.updatedAt.toISOString(),
  updatedBy: d.updatedBy,
});

export function billingRoutes(s: Services) {
  const billing = s.billing;
  return [
    route({
      method: "get",
      path: "/api/orgs/:org/subscriptions",
      summary: "The organization's subscriptions (live ones; all=true adds ended ones)",
      tag: "billing",
      auth: "any",
      permission: "billing:view",
      params: OrgParams,
      query: Type.Object({ all: Type.Optional(Type.Boolean({ default: false })) }),
      response: { status: 200, schema: Type.Object({ items: Type.Array(SubscriptionView) }) },
      handler: async ({ params, query }) => ({ items: await billing.list(params.org, { all: query.all }) }),
    }),
    route({
      method: "get",
      path: "/api/orgs/:org/subscriptions/:subscription",
      summary: "One subscription",
      tag: "billing",
      auth: "any",
      permission: "billing:view",
      params: SubscriptionParams,
      response: { status: 200, schema: SubscriptionView },
      handler: async ({ params }) => toView(await billing.get(params.org, params.subscription)),
    }),
    route({
      method: "put",
      path: "/api/orgs/:org/subscriptions/:subscription/plan",
      summary:
        "Choose a plan (a purchase: runs once its invoice is paid) or change it: an upgrade now, prorated to the day; a downgrade at the period's end",
      tag: "billing",
      auth: "any",
      permission: "marketplace:purchase",
      params: SubscriptionParams,
      body: Type.Object({ plan: Type.String({ minLength: 1, maxLength: 40 }) }, { additionalProperties: false }),
      response: {
        status: 200,
        schema: Type.Object({
          change: Type.Union(["purchase", "upgrade", "downgrade", "none"].map((c) => Type.Literal(c))),
          subscription: SubscriptionView,
          invoice: Type.Union([InvoiceView, Type.Null()]),
        }),
      },
      errors: [409, 422],
      audit: "billing.plan",
      handler: async ({ params, body, actor, setTarget }) => {
        setTarget(`subscription/${params.subscription}`);
        const sub = await billing.get(params.org, params.subscription);
        const running = (sub.state === "active" || sub.state === "past_due") && sub.planId !== null;
        // Buying is marketplace:purchase; changing what the org already pays for is billing's.
        if (running && !actor.can("billing:manage"))
          throw forbidden(`Changing a running plan needs the permission billing:manage in "${params.org}"`);
        return billing.changePlan(params.org, params.subscription, body.plan, actor.email);
      },
    }),
    route({
      method: "post",
      path: "/api/orgs/:org/subscriptions/:subscription/cancel",
      summary: "Cancel at the end of the period (a trial: at its end; a paused subscription: now)",
      tag: "billing",
      auth: "any",
      permission: "billing:manage",
      params: SubscriptionParams,
      response: { status: 200, schema: SubscriptionView },
      errors: [409],
      audit: "billing.cancel",
      handler: async ({ params, setTarget }) => {
        setTarget(`subscription/${params.subscription}`);
        return billing.cancel(params.org, params.subscription);
      },
    }),
    route({
      method: "post",
      path: "/api/orgs/:org/subscriptions/:subscription/resume",
      summary: "Take back a cancellation before it takes effect",
      tag: "billing",
      auth: "any",
      permission: "billing:manage",
      params: SubscriptionParams,
      response: { status: 200, schema: SubscriptionView },
      errors: [409],
      audit: "billing.resume",
      handler: async ({ params, setTarget }) => {
        setTarget(`subscription/${params.subscription}`);
        return billing.resume(params.org, params.subscription);
      },
    }),
    route({
      method: "get",
      path: "/api/orgs/:org/invoices",
      summary: "The organization's invoices, newest first",
      tag: "billing",
      auth: "any",
      permission: "billing:view",
      params: OrgParams,
      query: Type.Object({
        status: Type.Optional(Type.Union([Type.Literal("open"), Type.Literal("paid"), Type.Literal("void")])),
      }),
      response: { status: 200, schema: Type.Object({ items: Type.Array(InvoiceView) }) },
      handler: async ({ params, query }) => ({
        items: await billing.invoices(params.org, query.status ? { status: query.status } : {}),
      }),
    }),
    route({
      method: "get",
      path: "/api/orgs/:org/invoices/:invoice",
      summary: "One invoice, as JSON or (format=csv, or Accept: text/csv) as a CSV download",
      tag: "billing",
      auth: "any",
      permission: "billing:view",
      params: InvoiceParams,
      query: Type.Object({ format: Type.Optional(Type.Union([Type.Literal("json"), Type.Literal("csv")])) }),
      response: {
        status: 200,
        schema: InvoiceView,
        also: { "text/csv": Type.String({ description: "A header row, one row per line, a total row" }) },
      },
      handler: async ({ params, query, req, res }) => {
        const invoice = await billing.invoice(params.org, params.invoice);
        const csv = query.format
          ? query.format === "csv"
          : req.accepts(["application/json", "text/csv"]) === "text/csv";
        if (!csv) return invoice;
        res
          .status(200)
          .type("text/csv; charset=utf-8")
          .setHeader("content-disposition", `attachment; filename="invoice-${invoice.id}.csv"`)
          .send(invoiceCsv(invoice));
        return undefined;
      },
    }),
    route({
      method: "post",
      path: "/api/orgs/:org/invoices/:invoice/pay",
      summary: "Record that an open invoice was paid (the local ledger); a paused app it pays for runs again",
      tag: "billing",
      auth: "any",
      permission: "billing:manage",
      params: InvoiceParams,
      response: { status: 200, schema: InvoiceView },
      errors: [409],
      audit: "billing.pay",
      handler: async ({ params, actor, setTarget }) => {
        setTarget(`invoice/${params.invoice}`);
        return billing.recordPayment(params.org, params.invoice, actor.email);
      },
    }),
    route({
      method: "get",
      path: "/api/orgs/:org/billing/details",
      summary: "Who pays: contact, address, tax id (null until set)",
      tag: "billing",
      auth: "any",
      permission: "billing:view",
      params: OrgParams,
      response: { status: 200, schema: Type.Union([DetailsView, Type.Null()]) },
      handler: async ({ params }) => {
        const d = await billing.details(params.org);
        return d ? detailsView(d) : null;
      },
    }),
    route({
      method: "put",
      path: "/api/orgs/:org/billing/details",
      summary: "Set who pays: contact, address, tax id",
      tag: "billing",
      auth: "any",
      permission: "billing:manage",
      params: OrgParams,
      body: DetailsBody,
      response: { status: 200, schema: DetailsView },
      audit: "billing.details",
      handler: async ({ params, body, actor, setTarget }) => {
        setTarget("billing/details");
        const email = parseEmail(body.email);
        if (!email.ok) throw invalidField("/body/email", email.message);
        const trim = (v: string | null | undefined) => (v == null ? null : v.trim());
        const saved = await billing.saveDetails(
          params.org,
          {
            contactName: body.contactName.trim(),
            email: email.email,
            addressLine1: body.addressLine1.trim(),
            addressLine2: trim(body.addressLine2),
            city: body.city.trim(),
            postalCode: trim(body.postalCode),
            region: trim(body.region),
            country: body.country,
            taxId: trim(body.taxId),
          },
          actor.email,
        );
        return detailsView(saved);
      },
    }),
  ];
}
