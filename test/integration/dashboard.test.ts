// The dashboard end to end on the real API assembly, operator and control plane, on SQLite and
// PostgreSQL: the overview from real Members, OrgRoles and AppInstances and the audit log; the
// usage charts and the economic overview from rows inserted here as the usage metering and
// billing write them, checked against figures worked out by hand; the platform's figures against
// the cluster's objects; and who may see what.
//
// The usage rows are consistent with what the metering would recompute from them (every daily
// row is the sum of its hours, running and idle seconds follow the inserted transitions, and
// members_active counts ActiveMember rows), so a rollup that runs meanwhile changes nothing. Only
// today's API calls grow while the test runs (the API counts its own calls, this test's too).
import { namespaceFor } from "@atrium/crds";
import { R } from "@atrium/kube";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APP_METRIC_COLUMNS, type AppHourColumn } from "../../api/src/usage/hours.ts";
import type { Caller } from "../cluster/api-stack.ts";
import { echoTemplate } from "../cluster/fake-pods.ts";
import { until } from "../cluster/until.ts";
import { startWorld, type World } from "./api/world.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const GIB = 2 ** 30;
const PLATFORM_ADMIN = "platform@ops.example";
const ECHO = "dash-echo";
const PAID = "dash-paid";

const todayStart = () => Math.floor(Date.now() / DAY) * DAY;

describe.each([
  // SQLite with OpenCost's default prices; PostgreSQL with configured ones.
  { provider: "sqlite" as const, prices: {} as Record<string, string> },
  { provider: "postgresql" as const, prices: { ATRIUM_PRICE_CPU_HOUR: "0.04", ATRIUM_PRICE_GIB_HOUR: "0.02" } },
])("dashboard ($provider)", ({ provider, prices }) => {
  let w: World;
  let dash: string; // the overview's organization: real members and apps
  let money: string; // usage and billing fixtures, no installed apps
  let dashAdmin: Caller;
  let dashViewer: Caller;
  let restricted: Caller;
  let moneyAdmin: Caller & { email: string };
  let platform: Caller;
  const prisma = () => w.api.db.prisma;

  beforeAll(async () => {
    w = await startWorld({
      provider,
      env: { ATRIUM_PLATFORM_ADMINS: PLATFORM_ADMIN, ...prices },
      // Nothing but this test changes the billing rows.
      api: { scheduler: false },
    });
    await w.kube.create(R.appTemplate, echoTemplate(ECHO) as never);
    const paid = echoTemplate(PAID);
    await w.kube.create(R.appTemplate, {
      ...paid,
      spec: {
        ...paid.spec,
        pricing: {
          trialDays: 30,
          plans: [
            { id: "monthly", interval: "monthly", amount: 1500, currency: "USD" },
            { id: "annual", interval: "annual", amount: 12_000, currency: "USD" },
          ],
        },
      },
    } as never);
    await until("the templates in the catalog", async () => !!w.api.services.catalog.get(PAID));
    dash = await w.createOrg("dash");
    money = await w.createOrg("money");
    const ns = namespaceFor(dash);
    // A custom role without dashboard:view or billing:view.
    await w.kube.create(R.orgRole, {
      metadata: { name: "app-watcher", namespace: ns },
      spec: { displayName: "App watcher", level: 10, permissions: ["apps:view"] },
    } as never);
    await until("the custom role", async () => !!w.api.directory.role(dash, "app-watcher"));
    const join = async (org: string, email: string, role: string) => {
      await w.declareMember(org, email, role);
      return { ...(await w.login(email)), email };
    };
    dashAdmin = await join(dash, `admin@${dash}.example`, "admin");
    dashViewer = await join(dash, `viewer@${dash}.example`, "viewer");
    restricted = await join(dash, `watcher@${dash}.example`, "app-watcher");
    await w.declareMember(dash, `invited@${dash}.example`, "member");
    const gone = await w.kube.create(R.member, {
      metadata: { name: "deactivated", namespace: ns },
      spec: { email: `deactivated@${dash}.example`, role: "member", active: false },
    } as never);
    await w.api.directory.observed(gone as never);
    moneyAdmin = await join(money, `admin@${money}.example`, "admin");
    platform = await w.login(PLATFORM_ADMIN);
    for (const [name, policy] of [
      ["web-1", "AlwaysOn"],
      ["web-2", "AlwaysOn"],
      ["web-3", "Stopped"],
    ] as const)
      await w.kube.create(R.appInstance, {
        metadata: { name, namespace: ns },
        spec: { template: ECHO, access: { policy: "Public" }, idle: { policy } },
      } as never);
    await insertUsage();
    await insertBilling();
  }, 300_000);

  afterAll(async () => {
    await w?.stop();
  });

  // ---- Fixtures: the days of the 7-day window are D0 (six days ago) … D6 (today). ----
  const day = (i: number) => todayStart() - (6 - i) * DAY;

  /** Rows as the metering writes them: hours, and each day's rollup as the sum of its hours. */
  const hours: { org: string; app: string; metric: string; at: number; value: number }[] = [];
  const hour = (org: string, app: string, metric: string, at: number, value: number) =>
    hours.push({ org, app, metric, at, value });
  const transition = (app: string, kind: "start" | "stop", cause: string, at: number, cpuMillis = 0, gib = 0) => ({
    key: `fixture-${app}:${kind}:${new Date(at).toISOString()}`,
    org: money,
    app,
    kind,
    cause,
    at: new Date(at),
    cpuMillis,
    memoryBytes: gib * GIB,
  });

  async function insertUsage() {
    const h = (d: number, hh: number, mm = 0) => day(d) + hh * HOUR + mm * 60_000;
    // alpha on D1: runs 08:00-10:00, stopped for idleness 10:00-13:00 at 0.5 core and 1 GiB, runs
    // 13:00-14:30, uninstalled. beta on D2: runs 00:00-01:00, idle 01:00-03:00 at 2 cores and
    // 4 GiB, runs 03:00-04:00 (woken), uninstalled. Neither is installed now: their transitions
    // in the window are what makes them count.
    await prisma().appTransition.createMany({
      data: [
        transition("alpha", "start", "install", h(1, 8)),
        transition("alpha", "stop", "idle", h(1, 10), 500, 1),
        transition("alpha", "start", "wake", h(1, 13)),
        transition("alpha", "stop", "deletion", h(1, 14, 30)),
        transition("beta", "start", "install", h(2, 0)),
        transition("beta", "stop", "idle", h(2, 1), 2000, 4),
        transition("beta", "start", "wake", h(2, 3)),
        transition("beta", "stop", "deletion", h(2, 4)),
      ],
    });
    for (const hh of [8, 9, 13]) hour(money, "alpha", "running_seconds", h(1, hh), 3600);
    hour(money, "alpha", "running_seconds", h(1, 14), 1800);
    for (const hh of [10, 11, 12]) {
      hour(money, "alpha", "stopped_idle_seconds", h(1, hh), 3600);
      hour(money, "alpha", "stopped_idle_cpu_core_seconds", h(1, hh), 1800);
      hour(money, "alpha", "stopped_idle_gib_seconds", h(1, hh), 3600);
    }
    for (const hh of [0, 3]) hour(money, "beta", "running_seconds", h(2, hh), 3600);
    for (const hh of [1, 2]) {
      hour(money, "beta", "stopped_idle_seconds", h(2, hh), 3600);
      hour(money, "beta", "stopped_idle_cpu_core_seconds", h(2, hh), 7200);
      hour(money, "beta", "stopped_idle_gib_seconds", h(2, hh), 14_400);
    }
    hour(money, "alpha", "requests", h(1, 9), 100);
    hour(money, "alpha", "errors_5xx", h(1, 9), 2);
    hour(money, "beta", "requests", h(2, 0), 20);
    hour(money, "beta", "requests", h(2, 3), 5);
    hour(money, "beta", "wakes", h(2, 3), 1);
    hour(money, "", "api_calls:session:2xx", h(1, 12), 10);
    hour(money, "", "api_calls:session:4xx", h(1, 12), 2);
    hour(money, "", "api_calls:STANDARD:2xx", h(2, 5), 5);
    // Today so far (hours only: the day's rollup comes later).
    hour(money, "alpha", "requests", h(6, 0), 7);
    hour(money, "beta", "wakes", h(6, 0), 1);
    hour(money, "", "api_calls:AI_AGENT:2xx", h(6, 0), 4);
    // Not this organization's, or not this window's.
    hour(dash, "web-1", "requests", h(1, 9), 1000);
    hour(dash, "ghost", "wakes", h(6, 0), 2);
    hour(dash, "ghost", "wakes", h(5, 23), 5);
    // The organization's metrics are UsageHour rows; an app's hour is one UsageAppHour row.
    await prisma().usageHour.createMany({
      data: hours
        .filter((r) => !r.app)
        .map((r) => ({ org: r.org, app: r.app, metric: r.metric, hour: new Date(r.at), value: r.value })),
    });
    const appHours = new Map<
      string,
      { org: string; app: string; hour: Date } & Partial<Record<AppHourColumn, number>>
    >();
    for (const r of hours.filter((x) => x.app)) {
      const key = `${r.org}|${r.app}|${r.at}`;
      const row = appHours.get(key) ?? { org: r.org, app: r.app, hour: new Date(r.at) };
      const column = APP_METRIC_COLUMNS[r.metric as keyof typeof APP_METRIC_COLUMNS];
      row[column] = (row[column] ?? 0) + r.value;
      appHours.set(key, row);
    }
    await prisma().usageAppHour.createMany({ data: [...appHours.values()] });
    const days = new Map<string, { org: string; app: string; metric: string; day: Date; value: number }>();
    for (const r of hours) {
      const d = Math.floor(r.at / DAY) * DAY;
      if (d === todayStart()) continue; // today's rollup is partial; see below
      const key = `${r.org}|${r.app}|${r.metric}|${d}`;
      const row = days.get(key) ?? { org: r.org, app: r.app, metric: r.metric, day: new Date(d), value: 0 };
      row.value += r.value;
      days.set(key, row);
    }
    // Members active: two on D3 and two today (one of them the caller, whom the API records as well).
    const members = [`someone@${money}.example`, moneyAdmin.email];
    await prisma().activeMember.createMany({
      data: members.flatMap((user) => [
        { org: money, user, day: new Date(day(3)) },
        { org: money, user, day: new Date(day(6)) },
      ]),
    });
    days.set("members", { org: money, app: "", metric: "members_active", day: new Date(day(3)), value: 2 });
    // Long ago: outside every window but the 90-day one's reach, kept as a daily row only.
    days.set("old", {
      org: money,
      app: "alpha",
      metric: "requests",
      day: new Date(todayStart() - 40 * DAY),
      value: 999,
    });
    await prisma().usageDay.createMany({ data: [...days.values()] });
    // Stops today across the platform (the test's own apps add theirs through the metering).
    await prisma().appTransition.createMany({
      data: [
        {
          key: "fixture-ghost:stop:today",
          org: dash,
          app: "ghost",
          kind: "stop",
          cause: "idle",
          at: new Date(todayStart() + 1000),
        },
        {
          key: "fixture-ghost:start:today",
          org: dash,
          app: "ghost",
          kind: "start",
          cause: "wake",
          at: new Date(todayStart() + 2000),
        },
        {
          key: "fixture-ghost:stop:yesterday",
          org: dash,
          app: "ghost",
          kind: "stop",
          cause: "idle",
          at: new Date(todayStart() - 1000),
        },
      ],
    });
  }

  async function insertBilling() {
    const now = Date.now();
    const sub = (id: string, data: Record<string, unknown>) =>
      prisma().subscription.create({
        data: {
          id: `${provider}${id}`,
          org: money,
          template: PAID,
          app: id,
          liveKey: `${money}/${id}`,
          state: "active",
          currentPeriodEnd: new Date(now + 20 * DAY),
          ...data,
        },
      });
    await sub("monthly", { planId: "monthly", interval: "monthly", amount: 1000, currency: "USD" });
    await sub("annual", { planId: "annual", interval: "annual", amount: 1002, currency: "USD" }); // 83.5 → 84
    await sub("eur", { planId: "eur", interval: "annual", amount: 6000, currency: "EUR", state: "past_due" }); // 500
    await sub("paused", { planId: "monthly", interval: "monthly", amount: 500, currency: "USD", state: "paused" });
    await sub("once", { planId: "once", interval: "one-time", amount: 4900, currency: "USD", currentPeriodEnd: null });
    await sub("forever", {
      app: null,
      planId: "forever",
      interval: "lifetime",
      amount: 9900,
      currency: "EUR",
      currentPeriodEnd: null,
    });
    // A trial ending tomorrow without a plan: the template's cheapest per month, 12000 / 12 = 1000.
    await sub("trial-soon", { state: "trialing", trialEnd: new Date(now + DAY), currentPeriodEnd: null });
    // A trial in 20 days with its monthly plan chosen: 1500.
    await sub("trial-later", {
      state: "trialing",
      planId: "monthly",
      interval: "monthly",
      amount: 1500,
      currency: "USD",
      trialEnd: new Date(now + 20 * DAY),
      currentPeriodEnd: null,
    });
    // An ended one (uninstalled): not live, never counted.
    await prisma().subscription.create({
      data: {
        org: money,
        template: PAID,
        app: "ended",
        state: "expired",
        planId: "monthly",
        interval: "monthly",
        amount: 777,
        currency: "USD",
      },
    });
    const invoice = (key: string, data: Record<string, unknown>) =>
      prisma().invoice.create({
        data: {
          org: money,
          key: `${provider}:${key}`,
          issuedAt: new Date(now),
          dueAt: new Date(now + 7 * DAY),
          ...data,
        } as never,
      });
    await invoice("once", { subscriptionId: `${provider}once`, status: "paid", currency: "USD", total: 4900 });
    await invoice("forever", { subscriptionId: `${provider}forever`, status: "open", currency: "EUR", total: 9900 });
    await invoice("monthly", { subscriptionId: `${provider}monthly`, status: "open", currency: "USD", total: 1000 });
    await invoice("void", { subscriptionId: `${provider}once`, status: "void", currency: "USD", total: 4900 });
  }

  describe("overview", () => {
    it("counts members by phase and apps, shows the newest activity and the caller's quick actions", async () => {
      // Twelve entries of our own besides what the setup did (creating members is audited).
      await w.api.services.audit.flushed();
      await prisma().auditEvent.createMany({
        data: Array.from({ length: 12 }, (_, i) => ({
          org: dash,
          at: new Date(Date.now() - i * 60_000),
          actor: `person${i}@${dash}.example`,
          actorType: "user",
          action: "apps.restart",
          target: `app/web-${i}`,
          result: i === 3 ? "denied" : "success",
        })),
      });
      await prisma().auditEvent.create({
        data: {
          org: money,
          at: new Date(Date.now() + 60_000),
          actor: "x",
          actorType: "user",
          action: "other.org",
          result: "success",
        },
      });
      // The real apps: web-3 stays stopped (policy Stopped), the others run (KWOK's pods).
      const r = await until(
        "the apps running",
        async () => {
          const o = await w.call(dashAdmin, "GET", `/api/orgs/${dash}/overview`);
          return o.status === 200 && o.body.apps.running === 2 ? o : undefined;
        },
        120_000,
        500,
      );
      const phases = (await w.kube.list<any>(R.appInstance, { namespace: namespaceFor(dash) })).items
        .map((a) => [a.metadata.name, a.status?.phase])
        .sort();
      expect(phases).toEqual([
        ["web-1", "Running"],
        ["web-2", "Running"],
        ["web-3", "Stopped"],
      ]);
      expect(r.body.organization).toEqual({ name: dash, displayName: `Org ${dash}`, description: null, logoUrl: null });
      // Active: the three who logged in; invited: one; deactivated: one.
      expect(r.body.members).toEqual({ active: 3, invited: 1, deactivated: 1 });
      expect(r.body.apps).toEqual({ installed: 3, running: 2 });
      // The newest ten of this organization, newest first (independent oracle: every row sorted here).
      const all = await prisma().auditEvent.findMany({ where: { org: dash } });
      const newest = all
        .sort((a, b) => b.at.getTime() - a.at.getTime())
        .slice(0, 10)
        .map((e) => ({ at: e.at.toISOString(), actor: e.actor, action: e.action, target: e.target, result: e.result }));
      expect(all.length).toBeGreaterThanOrEqual(12);
      expect(r.body.recentActivity.map((e: any) => e.at)).toEqual(newest.map((e) => e.at));
      expect(r.body.recentActivity).toEqual(newest);
      expect(r.body.quickActions).toEqual([
        { id: "invite-member", label: "Invite a member", href: `/orgs/${dash}/members` },
        { id: "install-app", label: "Install an app", href: `/orgs/${dash}/marketplace` },
        { id: "create-key", label: "Create an API key", href: `/orgs/${dash}/api-keys` },
        { id: "create-role", label: "Create a role", href: `/orgs/${dash}/roles` },
        { id: "view-billing", label: "View billing", href: `/orgs/${dash}/billing` },
        { id: "export-data", label: "Export the organization's data", href: `/orgs/${dash}/settings#export` },
      ]);
    });

    it("shows a viewer no quick actions and no audit log (audit:view is not theirs)", async () => {
      const r = await w.call(dashViewer, "GET", `/api/orgs/${dash}/overview`);
      expect(r.status).toBe(200);
      expect(r.body.quickActions).toEqual([]);
      expect(r.body.recentActivity).toEqual([]);
      expect(r.body.members).toEqual({ active: 3, invited: 1, deactivated: 1 });
    });
  });

  describe("usage", () => {
    it("gives zero-filled daily series from the rollups and today's hours", async () => {
      const r = await w.call(moneyAdmin, "GET", `/api/orgs/${money}/usage?days=7`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const days = Array.from({ length: 7 }, (_, i) => new Date(day(i)).toISOString().slice(0, 10));
      expect(r.body.days).toEqual(days);
      expect(r.body.requests).toEqual([0, 100, 25, 0, 0, 0, 7]);
      expect(r.body.wakes).toEqual([0, 0, 1, 0, 0, 0, 1]);
      expect(r.body.errors5xx).toEqual([0, 2, 0, 0, 0, 0, 0]);
      // Uninstalled within the window, so listed after installed apps (none here), by name.
      expect(r.body.runningHoursByApp).toEqual([
        { app: "alpha", hours: [0, 3.5, 0, 0, 0, 0, 0] },
        { app: "beta", hours: [0, 0, 2, 0, 0, 0, 0] },
      ]);
      const { session, STANDARD, AI_AGENT } = r.body.apiCallsByKeyType;
      // Past days exactly; today's session and key calls grow with this test's own calls.
      expect(session.slice(0, 6)).toEqual([0, 12, 0, 0, 0, 0]);
      expect(STANDARD.slice(0, 6)).toEqual([0, 0, 5, 0, 0, 0]);
      expect(session[6]).toBeGreaterThanOrEqual(0);
      expect(AI_AGENT).toEqual([0, 0, 0, 0, 0, 0, 4]);
      expect(r.body.membersActive).toEqual([0, 0, 0, 2, 0, 0, 2]);
    });

    it("covers 30 and 90 days, today last; other windows are refused with the field", async () => {
      for (const n of [30, 90]) {
        const r = await w.call(moneyAdmin, "GET", `/api/orgs/${money}/usage?days=${n}`);
        expect(r.status).toBe(200);
        expect(r.body.days).toHaveLength(n);
        expect(r.body.days.at(-1)).toBe(new Date(todayStart()).toISOString().slice(0, 10));
        for (const series of [r.body.requests, r.body.wakes, r.body.membersActive, r.body.apiCallsByKeyType.AI_AGENT])
          expect(series).toHaveLength(n);
        // 40 days ago is inside the 90-day window only.
        expect(r.body.requests.reduce((a: number, b: number) => a + b, 0)).toBe(n === 90 ? 999 + 132 : 132);
      }
      const bad = await w.call(moneyAdmin, "GET", `/api/orgs/${money}/usage?days=8`);
      expect(bad.status).toBe(400);
      expect(bad.body.error.fields[0].path).toBe("/query/days");
    });
  });

  describe("economics", () => {
    it("matches the hand-computed figures", async () => {
      const r = await w.call(moneyAdmin, "GET", `/api/orgs/${money}/economics`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const now = Date.now();
      expect(Math.abs(Date.parse(r.body.asOf) - now)).toBeLessThan(60_000);
      // USD 1000 + 1002 / 12 (83.5 → 84) = 1084; EUR 6000 / 12 = 500 (past due is still paid).
      expect(r.body.committedMonthly).toEqual([
        { currency: "EUR", amount: 500 },
        { currency: "USD", amount: 1084 },
      ]);
      // The one-time plan paid this month and the lifetime one invoiced (open); the void one not.
      expect(r.body.purchasesThisMonth).toEqual([
        { currency: "EUR", amount: 9900 },
        { currency: "USD", amount: 4900 },
      ]);
      const soon = { app: "trial-soon", template: PAID, monthlyAmount: 1000, currency: "USD" };
      const later = { app: "trial-later", template: PAID, monthlyAmount: 1500, currency: "USD" };
      expect(r.body.trialsEnding.within7Days).toMatchObject([soon]);
      expect(r.body.trialsEnding.within30Days).toMatchObject([soon, later]);
      expect(r.body.invoicesDue).toEqual({
        count: 2,
        byCurrency: [
          { currency: "EUR", amount: 9900 },
          { currency: "USD", amount: 1000 },
        ],
      });
      // alpha: 3 h idle at 0.5 core and 1 GiB = 1.5 core-h, 3 GiB-h; beta: 2 h at 2 cores and
      // 4 GiB = 4 core-h, 8 GiB-h. Σ 5.5 core-h, 11 GiB-h, 5 h stopped.
      // Default prices: 5.5 × 0.031611 + 11 × 0.004237 = 0.1738605 + 0.046607 = 0.2204675 USD → 22 cents.
      // Configured (0.04, 0.02): 5.5 × 0.04 + 11 × 0.02 = 0.22 + 0.22 = 0.44 USD → 44 cents.
      const configured = provider === "postgresql";
      expect(r.body.savedByAutoStop).toMatchObject({
        estimate: true,
        currency: "USD",
        amount: configured ? 44 : 22,
        periodDays: 30,
        stoppedHours: 5,
        cpuCoreHours: 5.5,
        gibHours: 11,
        cpuHourPrice: configured ? 0.04 : 0.031611,
        gibHourPrice: configured ? 0.02 : 0.004237,
      });
      expect(r.body.savedByAutoStop.formula).toContain(configured ? "× 0.04 USD" : "× 0.031611 USD");
    });
  });

  describe("platform stats", () => {
    it("counts every organization's objects and today's wakes and stops", async () => {
      const r = await w.call(platform, "GET", "/api/platform/stats");
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      // Oracles independent of the API's caches: the apiserver's objects and the table's rows.
      const orgs = (await w.kube.list<any>(R.organization)).items.map((o) => o.metadata.name);
      const inOrgs = (items: any[]) =>
        items.filter((o) => orgs.some((org) => o.metadata.namespace === namespaceFor(org)));
      const apps = inOrgs((await w.kube.list<any>(R.appInstance)).items);
      const members = inOrgs((await w.kube.list<any>(R.member)).items);
      const transitions = await prisma().appTransition.findMany();
      const stops = transitions.filter((t) => t.kind === "stop" && t.at.getTime() >= todayStart()).length;
      expect(orgs).toEqual(expect.arrayContaining([w.orgA, w.orgB, dash, money]));
      expect(r.body).toEqual({
        organizations: orgs.length,
        members: members.length,
        apps: 3,
        runningApps: apps.filter((a) => a.status?.phase === "Running").length,
        // money's beta 1 + dash's ghost 2 today (not ghost's 5 of yesterday).
        wakesToday: 3,
        stopsToday: stops,
      });
      expect(stops).toBeGreaterThanOrEqual(1);
      expect(apps).toHaveLength(3);
    });

    it("is for platform administrators only", async () => {
      const orgAdmin = await w.call(dashAdmin, "GET", "/api/platform/stats");
      expect(orgAdmin.status).toBe(403);
      expect(orgAdmin.body.error.message).toContain("platform administrators");
      expect((await w.call({}, "GET", "/api/platform/stats")).status).toBe(401);
    });
  });

  describe("authorization", () => {
    it("refuses a role without dashboard:view or billing:view (403), and hides the org from outsiders (404)", async () => {
      for (const path of ["overview", "usage?days=7", "economics"]) {
        const own = await w.call(restricted, "GET", `/api/orgs/${dash}/${path}`);
        expect(own.status, path).toBe(403);
        expect(own.body.error.message, path).toContain(path === "economics" ? "billing:view" : "dashboard:view");
        const other = await w.call(moneyAdmin, "GET", `/api/orgs/${dash}/${path}`);
        expect(other.status, path).toBe(404);
      }
      // A viewer sees the dashboard but not the money.
      expect((await w.call(dashViewer, "GET", `/api/orgs/${dash}/economics`)).status).toBe(403);
    });
  });
});
