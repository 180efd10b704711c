// The dashboard over HTTP: an organization's overview and usage charts (dashboard:view), its
// economic overview (billing:view), and the platform's figures (platform administrators).
// Reads only, so nothing is audited. Usage and economics answers are encoded once while kept
// (dashboard.ts) and written as they are.
import { Type } from "@sinclair/typebox";
import type { Response } from "express";
import type { Services } from "../app.ts";
import { notFound } from "../http/errors.ts";
import { route } from "../http/route.ts";
import { assertPlatformAdmin } from "../orgs/routes.ts";
import { OrgParams, Timestamp } from "../routes/views.ts";
import { Dashboard, type Encoded } from "./dashboard.ts";
import { appCounts, memberCounts, QUICK_ACTIONS, quickActions } from "./overview.ts";
import { USAGE_WINDOWS } from "./series.ts";

const Nullable = <T extends ReturnType<typeof Type.String | typeof Type.Integer>>(t: T) => Type.Union([t, Type.Null()]);
const Count = Type.Integer({ minimum: 0 });
const Series = (description: string) => Type.Array(Type.Number({ minimum: 0 }), { description });
const MoneyList = (description: string) =>
  Type.Array(
    Type.Object({
      currency: Type.String({ description: "ISO 4217 code" }),
      amount: Type.Integer({ description: "Minor units of the currency (cents)" }),
    }),
    { description },
  );

const OverviewView = Type.Object({
  organization: Type.Object({
    name: Type.String(),
    displayName: Type.String(),
    description: Nullable(Type.String()),
    logoUrl: Nullable(Type.String({ description: "/api/orgs/<org>/logo/<hash>" })),
  }),
  members: Type.Object({ active: Count, invited: Count, deactivated: Count }),
  apps: Type.Object({ installed: Count, running: Count }),
  recentActivity: Type.Array(
    Type.Object({
      at: Timestamp,
      actor: Type.String(),
      action: Type.String(),
      target: Nullable(Type.String()),
      result: Type.String(),
    }),
    { description: "The newest 10 audit entries; empty without the permission audit:view" },
  ),
  quickActions: Type.Array(
    Type.Object({
      id: Type.Union(QUICK_ACTIONS.map((a) => Type.Literal(a.id))),
      label: Type.String(),
      href: Type.String({ description: "A console path" }),
    }),
    { description: "Only those the caller's permissions allow" },
  ),
});

const UsageQuery = Type.Object({
  days: Type.Optional(
    Type.Union(
      USAGE_WINDOWS.map((d) => Type.Literal(d)),
      { default: 30, description: "The window: 7, 30 or 90 UTC days, today last" },
    ),
  ),
});

const UsageView = Type.Object({
  days: Type.Array(Type.String({ pattern: "^\\d{4}-\\d\\d-\\d\\d$" }), {
    description: "UTC days, oldest first, today (so far) last",
  }),
  requests: Series("Requests to the organization's apps per day (the gateway's count)"),
  wakes: Series("Wakes of stopped apps per day"),
  errors5xx: Series("5xx answers of the apps per day"),
  runningHoursByApp: Type.Array(
    Type.Object({ app: Type.String(), hours: Series("Hours the app ran per day, to 0.01") }),
    { description: "Every installed app, then apps uninstalled within the window that ran in it" },
  ),
  apiCallsByKeyType: Type.Object({
    session: Series("API calls from browser sessions per day"),
    STANDARD: Series("API calls with standard keys per day"),
    AI_AGENT: Series("API calls with AI agent keys per day"),
  }),
  membersActive: Series("Members who used the API (a session or a key) per day"),
});

const Trial = Type.Object({
  app: Type.String(),
  template: Type.String(),
  endsAt: Timestamp,
  monthlyAmount: Nullable(
    Type.Integer({
      description:
        "Minor units per month once the trial ends: the chosen plan, else the template's cheapest recurring plan; null if neither says",
    }),
  ),
  currency: Nullable(Type.String()),
});

const EconomicsView = Type.Object({
  asOf: Timestamp,
  committedMonthly: MoneyList(
    "Paying recurring subscriptions per month: monthly at face value, annual / 12 (half-even)",
  ),
  purchasesThisMonth: MoneyList("One-time and lifetime plans invoiced this UTC month (open or paid)"),
  trialsEnding: Type.Object({
    within7Days: Type.Array(Trial),
    within30Days: Type.Array(Trial, { description: "Includes those within 7 days" }),
  }),
  invoicesDue: Type.Object({ count: Count, byCurrency: MoneyList("Open invoices per currency") }),
  savedByAutoStop: Type.Object(
    {
      estimate: Type.Literal(true),
      currency: Type.Literal("USD"),
      amount: Type.Integer({ description: "US cents" }),
      periodDays: Type.Literal(30),
      stoppedHours: Type.Number(),
      cpuCoreHours: Type.Number(),
      gibHours: Type.Number(),
      cpuHourPrice: Type.Number({ description: "USD per CPU core-hour (ATRIUM_PRICE_CPU_HOUR)" }),
      gibHourPrice: Type.Number({ description: "USD per GiB-hour (ATRIUM_PRICE_GIB_HOUR)" }),
      formula: Type.String(),
    },
    { description: "An estimate: the requests of apps stopped for idleness, priced per hour" },
  ),
});

const PlatformStatsView = Type.Object({
  organizations: Count,
  members: Type.Integer({ minimum: 0, description: "Member objects of every organization, any phase" }),
  apps: Count,
  runningApps: Count,
  wakesToday: Type.Number({ minimum: 0, description: "Wakes of stopped apps this UTC day (the gateways' reports)" }),
  stopsToday: Type.Integer({ minimum: 0, description: "App stops this UTC day, whatever the cause" }),
});

/** Writes an answer encoded once (no ETag: every API answer is no-store). */
function send(res: Response, encoded: Encoded): void {
  res.status(200).setHeader("content-type", "application/json; charset=utf-8");
  res.setHeader("content-length", encoded.json.length);
  res.end(encoded.json);
}

export function dashboardRoutes(s: Services) {
  const dashboard = new Dashboard(s);
  return [
    route({
      method: "get",
      path: "/api/orgs/:org/overview",
      summary: "The organization at a glance: members, apps, recent activity and the caller's quick actions",
      tag: "dashboard",
      auth: "any",
      permission: "dashboard:view",
      params: OrgParams,
      response: { status: 200, schema: OverviewView },
      handler: async ({ params, actor }) => {
        const org = s.directory.organization(params.org);
        if (!org) throw notFound(`Organization "${params.org}"`);
        const rows = await dashboard.overviewRows(params.org);
        return {
          organization: {
            name: params.org,
            displayName: org.spec.displayName,
            description: org.spec.description ?? null,
            logoUrl: rows.logoHash ? `/api/orgs/${params.org}/logo/${rows.logoHash}` : null,
          },
          members: memberCounts(s.directory.membersOf(params.org), new Date(s.now())),
          apps: appCounts(s.installs.inOrg(params.org)),
          // The audit log is audit:view's: without it the overview shows no one's actions.
          recentActivity: actor.can("audit:view") ? rows.recentActivity : [],
          quickActions: quickActions(params.org, actor.can),
        };
      },
    }),
    route({
      method: "get",
      path: "/api/orgs/:org/usage",
      summary: "Usage charts per UTC day: requests, wakes, 5xx, running hours per app, API calls per key type",
      tag: "dashboard",
      auth: "any",
      permission: "dashboard:view",
      params: OrgParams,
      query: UsageQuery,
      response: { status: 200, schema: UsageView },
      handler: async ({ params, query, res }) => send(res, await dashboard.usage(params.org, query.days ?? 30)),
    }),
    route({
      method: "get",
      path: "/api/orgs/:org/economics",
      summary:
        "Economic overview: committed spend per month, purchases, trials ending, invoices due, and an estimate of what auto-stop saved",
      tag: "dashboard",
      auth: "any",
      permission: "billing:view",
      params: OrgParams,
      response: { status: 200, schema: EconomicsView },
      handler: async ({ params, res }) => send(res, await dashboard.economics(params.org)),
    }),
    route({
      method: "get",
      path: "/api/platform/stats",
      summary: "Figures across every organization (platform administrators)",
      tag: "dashboard",
      auth: "session",
      response: { status: 200, schema: PlatformStatsView },
      handler: async ({ principal }) => {
        // The same rule as creating organizations: a listed email, verified, on a login session.
        await assertPlatformAdmin(s, principal);
        return dashboard.platformStats();
      },
    }),
  ];
}
