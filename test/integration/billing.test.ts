// Subscriptions and trials end to end, on SQLite and on PostgreSQL: the real API assembly (in
// this process, with its clock injected so a trial ends without waiting 30 days), the real
// operator and gateway as processes, KWOK pods with real HTTP servers at their addresses.
import { namespaceFor } from "@atrium/crds";
import { type KubeObject, R } from "@atrium/kube";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prorateUpgrade } from "../../api/src/billing/domain.ts";
import { Scheduler } from "../../api/src/billing/scheduler.ts";
import { type FakeApp, paidEchoTemplate, serveAppPods } from "../cluster/fake-pods.ts";
import { type GatewayProcess, startGateway } from "../cluster/gateway-process.ts";
import { until } from "../cluster/until.ts";
import { startWorld, type World } from "./api/world.ts";
import { unique } from "./kube.ts";

const DAY = 86_400_000;
const TEMPLATE = "paid-echo";
const paidTemplate = () =>
  paidEchoTemplate(
    TEMPLATE,
    {
      trialDays: 30,
      plans: [
        { id: "basic", interval: "monthly", amount: 1000, currency: "USD" },
        { id: "pro", interval: "monthly", amount: 3000, currency: "USD" },
        { id: "forever", interval: "lifetime", amount: 50_000, currency: "USD" },
      ],
    },
    { displayName: "Paid Echo", storage: { size: "1Gi", mountPath: "/data" } },
  );

type App = KubeObject & {
  spec: { template: string };
  status?: {
    phase?: string;
    stoppedReason?: string;
    entitlement?: {
      allowed: boolean;
      reason: string;
      until?: string;
      message?: string;
      subscription?: string;
      decidedAt?: string;
    };
  };
};

describe.each(["sqlite", "postgresql"] as const)("billing (%s)", (provider) => {
  let offset = 0;
  const clock = () => Date.now() + offset;
  let w: World;
  let gateway: GatewayProcess;
  const fakes: FakeApp[] = [];

  beforeAll(async () => {
    w = await startWorld({
      provider,
      // Sessions live on the same clock: they must outlast the months this test skips.
      env: { ATRIUM_SESSION_TTL_HOURS: String(24 * 365 * 5) },
      api: { now: clock, scheduler: false },
    });
    gateway = await startGateway({
      kubeconfig: w.kubeconfig,
      env: { ATRIUM_GATEWAY_FLUSH_INTERVAL_MS: "500", ATRIUM_GATEWAY_WAKE_TIMEOUT_MS: "30000" },
    });
    await w.kube.create(R.appTemplate, paidTemplate() as never);
  }, 300_000);

  afterAll(async () => {
    for (const f of fakes) await f.stop();
    await gateway?.kill();
    await w?.stop();
  });

  const billing = () => w.api.services.billing;
  const prisma = () => w.api.db.prisma;
  const read = (org: string, name: string) => w.kube.get<App>(R.appInstance, name, namespaceFor(org));
  const replicas = async (org: string, name: string) =>
    (await w.kube.get<KubeObject & { spec: { replicas?: number } }>(R.deployment, name, namespaceFor(org)))?.spec
      .replicas;
  const viaGateway = (org: string, name: string, path = "/", headers: Record<string, string> = {}) =>
    fetch(`${gateway.url}/apps/${org}/${name}${path}`, { headers });
  const entitlement = (org: string, name: string, reason: string) =>
    until(`${name}'s entitlement ${reason}`, async () => {
      const app = await read(org, name);
      return app?.status?.entitlement?.reason === reason ? app : undefined;
    });

  /** An AppInstance as kubectl would create it: the API is not asked. */
  async function install(org: string, name: string, serve = true) {
    await w.kube.create(R.appInstance, {
      metadata: { name, namespace: namespaceFor(org) },
      spec: { template: TEMPLATE, access: { policy: "Public" }, idle: { policy: "Auto", timeout: "1h" } },
    } as never);
    if (serve) fakes.push(serveAppPods(w.kc, { namespace: namespaceFor(org), app: name, port: 8080 }));
  }

  /** Two passes, and two at once as two replicas would: every effect must happen once. */
  async function schedulerPasses() {
    await w.api.scheduler.runOnce();
    await w.api.scheduler.runOnce();
    await Promise.all([billing().runDue(), billing().runDue()]);
  }

  const outbox = (org: string, type: string) => prisma().outbox.findMany({ where: { org, type } });

  it("gives a kubectl-created AppInstance its trial, and a second install of the app in the org waits for payment", async () => {
    const org = w.orgA;
    await install(org, "wiki");
    const wiki = await entitlement(org, "wiki", "Trialing");
    expect(wiki.status?.entitlement?.allowed).toBe(true);
    expect(Date.parse(wiki.status?.entitlement?.until ?? "")).toBeGreaterThan(clock() + 29 * DAY);
    // The same decision again is no write (else every status update would echo back as one).
    const decidedAt = wiki.status?.entitlement?.decidedAt;
    await new Promise((r) => setTimeout(r, 5));
    await billing().republish(org, wiki as never);
    expect((await read(org, "wiki"))?.status?.entitlement?.decidedAt).toBe(decidedAt);
    const grants = await prisma().trialGrant.findMany({ where: { org, template: TEMPLATE } });
    expect(grants.map((g) => g.app)).toEqual(["wiki"]);

    await install(org, "wiki2", false);
    const waiting = await entitlement(org, "wiki2", "PaymentRequired");
    expect(waiting.status?.entitlement?.allowed).toBe(false);
    expect(waiting.status?.entitlement?.message).toContain(`/orgs/${org}/apps/wiki2`);
    expect(waiting.status?.entitlement?.message).toContain("billing:manage");
    // Only the entitlement is ours: the API's field manager owns status.entitlement and nothing else there.
    const managed = await w.kube.get<KubeObject & { metadata: { managedFields?: any[] } }>(
      R.appInstance,
      "wiki2",
      namespaceFor(org),
    );
    const ours = managed?.metadata.managedFields?.filter((f) => f.manager === "atrium-api") ?? [];
    expect(ours.map((f) => [f.subresource, Object.keys(f.fieldsV1?.["f:status"] ?? {})])).toEqual([
      ["status", ["f:entitlement"]],
    ]);

    // The running trial is served; the one waiting for payment is held at zero by the operator.
    await until("wiki served", async () => (await viaGateway(org, "wiki")).status === 200);
    await until("wiki2 held at zero", async () => (await replicas(org, "wiki2")) === 0);
  });

  it("ends a trial on the injected clock: stopped with PaymentRequired, 402 without a wake, volume kept; paying resumes it on the next request", async () => {
    const org = w.orgA;
    offset = 23 * DAY; // 7 days left
    await schedulerPasses();
    offset = 29.5 * DAY; // half a day left
    await schedulerPasses();
    expect((await outbox(org, "trial.ending")).map((e) => JSON.parse(e.payload).days).sort()).toEqual([1, 7]);
    expect((await read(org, "wiki"))?.status?.entitlement?.reason).toBe("Trialing");

    offset = 30 * DAY + 60_000;
    await schedulerPasses();
    expect(await outbox(org, "trial.ended")).toHaveLength(1);
    const ended = await entitlement(org, "wiki", "TrialEnded");
    expect(ended.status?.entitlement?.allowed).toBe(false);
    await until("wiki stopped by billing", async () => {
      const app = await read(org, "wiki");
      return app?.status?.phase === "Stopped" && (await replicas(org, "wiki")) === 0 ? app : undefined;
    });
    expect((await read(org, "wiki"))?.status?.stoppedReason).toContain("PaymentRequired");
    // Stopped means its pod and its endpoint are gone too. The gateway routes by EndpointSlice:
    // while the controller-manager has not yet removed a deleted pod's address it is still
    // listed ready, and a request then goes to it (502) instead of waking the app (see the note
    // in gateway/README.md).
    await until("wiki's endpoints gone", async () => {
      const slices = await w.kube.list<KubeObject & { endpoints?: { conditions?: { ready?: boolean } }[] }>(
        R.endpointSlice,
        { namespace: namespaceFor(org), labelSelector: "kubernetes.io/service-name=wiki" },
      );
      const ready = slices.items.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions?.ready !== false);
      return ready.length === 0 || undefined;
    });
    expect(await w.kube.get(R.pvc, "wiki-data", namespaceFor(org))).toBeDefined();

    const wakes = await gateway.metric("atrium_gateway_wakes_total");
    const json = await viaGateway(org, "wiki", "/", { accept: "application/json" });
    expect(json.status).toBe(402);
    expect(JSON.stringify(await json.json())).toContain("TrialEnded");
    const page = await viaGateway(org, "wiki", "/", { accept: "text/html" });
    expect(page.status).toBe(402);
    expect(await page.text()).toContain("billing:manage");
    expect(await gateway.metric("atrium_gateway_wakes_total")).toBe(wakes);
    expect(await replicas(org, "wiki")).toBe(0);

    // Pay: choose a plan (a purchase: an open invoice), then record its payment.
    const subs = await w.call(w.people.admin, "GET", `/api/orgs/${org}/subscriptions`);
    expect(subs.status).toBe(200);
    const sub = subs.body.items.find((s: { app: string }) => s.app === "wiki");
    expect(sub).toMatchObject({ state: "paused", pausedReason: "TrialEnded", plan: null });
    const chosen = await w.call(w.people.admin, "PUT", `/api/orgs/${org}/subscriptions/${sub.id}/plan`, {
      plan: "basic",
    });
    expect(chosen.status).toBe(200);
    expect(chosen.body).toMatchObject({
      change: "purchase",
      invoice: { status: "open", total: 1000, currency: "USD" },
    });
    expect((await read(org, "wiki"))?.status?.entitlement?.allowed).toBe(false); // not before it is paid
    const paid = await w.call(w.people.admin, "POST", `/api/orgs/${org}/invoices/${chosen.body.invoice.id}/pay`);
    expect(paid.status).toBe(200);
    expect(paid.body).toMatchObject({ status: "paid", paidBy: w.people.admin.email });
    const again = await w.call(w.people.admin, "POST", `/api/orgs/${org}/invoices/${chosen.body.invoice.id}/pay`);
    expect(again.status).toBe(409);
    await entitlement(org, "wiki", "Active");
    expect(await outbox(org, "payment.recorded")).toHaveLength(1);

    // Paying resumes it: the next request gets the app's answer. (That billing alone starts
    // nothing, and the request is what wakes it, is asserted in entitlement.test.ts against the
    // operator and gateway; in this full flow the operator was seen, in some runs, starting the
    // app right after the payment and before any request — not yet explained, so not asserted
    // here; see the issue notes.)
    await until("wiki answers after payment", async () => {
      const res = await viaGateway(org, "wiki", "/after-payment");
      return res.status === 200 && (await res.text()).includes("/after-payment");
    });
    expect(await replicas(org, "wiki")).toBe(1);
    await schedulerPasses();
    expect(await outbox(org, "trial.ended")).toHaveLength(1);
    expect(await outbox(org, "payment.recorded")).toHaveLength(1);
  });

  it("prorates an upgrade to the day, downgrades at the period's end, and each invoice's total is its lines' sum", async () => {
    const org = w.orgA;
    const sub = (await billing().viewFor(org, "wiki")) as NonNullable<
      Awaited<ReturnType<ReturnType<typeof billing>["viewFor"]>>
    >;
    expect(sub).toMatchObject({ state: "active", plan: "basic", interval: "monthly" });
    const period = { start: new Date(sub.currentPeriodStart as string), end: new Date(sub.currentPeriodEnd as string) };
    offset += 10 * DAY;
    const at = new Date(clock());
    const up = await w.call(w.people.admin, "PUT", `/api/orgs/${org}/subscriptions/${sub.id}/plan`, { plan: "pro" });
    expect(up.status).toBe(200);
    expect(up.body.change).toBe("upgrade");
    const expected = prorateUpgrade(
      { id: "basic", interval: "monthly", amount: 1000 },
      { id: "pro", interval: "monthly", amount: 3000 },
      period,
      at,
    );
    expect(up.body.invoice.lines.map((l: { amount: number }) => l.amount)).toEqual(expected.lines.map((l) => l.amount));
    expect(up.body.invoice.total).toBe(expected.total);
    expect(up.body.subscription).toMatchObject({ plan: "pro", currentPeriodEnd: sub.currentPeriodEnd });
    const upPaid = await w.call(w.people.admin, "POST", `/api/orgs/${org}/invoices/${up.body.invoice.id}/pay`);
    expect(upPaid.status).toBe(200);

    // A Co-Admin may buy (marketplace:purchase) but not change a running plan (billing:manage);
    // a Manager may only look.
    for (const who of [w.people["co-admin"], w.people.manager]) {
      const refused = await w.call(who, "PUT", `/api/orgs/${org}/subscriptions/${sub.id}/plan`, { plan: "basic" });
      expect(refused.status).toBe(403);
    }
    const down = await w.call(w.people.admin, "PUT", `/api/orgs/${org}/subscriptions/${sub.id}/plan`, {
      plan: "basic",
    });
    expect(down.body).toMatchObject({
      change: "downgrade",
      invoice: null,
      subscription: { plan: "pro", pendingPlan: "basic" },
    });

    // The period ends: the downgrade takes effect with the renewal's invoice, once however often the scheduler runs.
    offset = Date.parse(sub.currentPeriodEnd as string) - Date.now() + 1000;
    await schedulerPasses();
    const renewed = await billing().viewFor(org, "wiki");
    expect(renewed).toMatchObject({ plan: "basic", pendingPlan: null, currentPeriodStart: sub.currentPeriodEnd });
    const renewals = await prisma().invoice.findMany({
      where: { subscriptionId: sub.id, periodStart: new Date(sub.currentPeriodEnd as string) },
      include: { lines: true },
    });
    expect(renewals).toHaveLength(1);
    expect(renewals[0]?.total).toBe(1000);

    // Every write is in the audit log, with what it acted on.
    await w.api.services.audit.flushed();
    const audited = await prisma().auditEvent.findMany({ where: { org, action: { startsWith: "billing." } } });
    expect(audited.map((e) => `${e.action} ${e.target} ${e.result}`)).toEqual(
      expect.arrayContaining([
        `billing.plan subscription/${sub.id} success`,
        `billing.pay invoice/${up.body.invoice.id} success`,
      ]),
    );
    // The Co-Admin's and the Manager's tries, refused in the handler and by the route's permission.
    expect(audited.filter((e) => e.result === "denied").map((e) => `${e.actor} ${e.target}`)).toEqual(
      expect.arrayContaining([
        `${w.people["co-admin"].email} subscription/${sub.id}`,
        `${w.people.manager.email} subscription/${sub.id}`,
      ]),
    );

    // Every invoice of the org: the total is the sum of its lines, in JSON and in CSV.
    const list = await w.call(w.people.manager, "GET", `/api/orgs/${org}/invoices`);
    expect(list.status).toBe(200);
    expect(list.body.items.length).toBeGreaterThanOrEqual(3);
    for (const invoice of list.body.items)
      expect(invoice.total).toBe(invoice.lines.reduce((sum: number, l: { amount: number }) => sum + l.amount, 0));
    const csv = await fetch(`${w.api.base}/api/orgs/${org}/invoices/${up.body.invoice.id}?format=csv`, {
      headers: { cookie: w.people.manager.cookie },
    });
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toMatch(/^text\/csv/);
    const rows = (await csv.text()).trim().split("\r\n");
    expect(rows[0]).toMatch(/^invoice,status,/);
    expect(rows).toHaveLength(expected.lines.length + 2);
    expect(rows.at(-1)).toContain(`,Total,,,${expected.total},`);
  });

  it("gives no second trial to a reinstall after an uninstall", async () => {
    const org = w.orgB;
    await install(org, "solo", false);
    await entitlement(org, "solo", "Trialing");
    const first = await billing().viewFor(org, "solo");
    await w.kube.delete(R.appInstance, "solo", namespaceFor(org));
    await until("the subscription ended with the install", async () => {
      const row = await prisma().subscription.findUnique({ where: { id: first?.id as string } });
      return row?.state === "expired" && row.liveKey === null;
    });
    await until("solo gone", async () => (await read(org, "solo")) === undefined);
    await install(org, "solo", false);
    const again = await entitlement(org, "solo", "PaymentRequired");
    expect(again.status?.entitlement?.message).toContain("No free trial left");
    const template = await w.kube.get(R.appTemplate, TEMPLATE);
    await expect(billing().checkChoice(org, template as never, { trial: true })).rejects.toMatchObject({
      status: 422,
      fields: [{ path: "/body/trial" }],
    });
    expect(await prisma().trialGrant.count({ where: { org, template: TEMPLATE } })).toBe(1);
  });

  it("lets a lifetime plan bought through one install entitle every install of the app in the org", async () => {
    const org = w.orgB;
    await install(org, "solo2", false);
    await entitlement(org, "solo2", "PaymentRequired");
    const solo = await billing().viewFor(org, "solo");
    const bought = await billing().changePlan(org, solo?.id as string, "forever", "test");
    expect(bought).toMatchObject({ change: "purchase", subscription: { app: null, state: "paused" } });
    expect(bought.invoice?.total).toBe(50_000);
    await billing().recordPayment(org, bought.invoice?.id as string, "test");
    for (const app of ["solo", "solo2"]) {
      const entitled = await entitlement(org, app, "Lifetime");
      expect(entitled.status?.entitlement).toMatchObject({ allowed: true, subscription: bought.subscription.id });
      expect(entitled.status?.entitlement?.until).toBeUndefined();
    }
    const views = await billing().viewsIn(org);
    expect([views.get("solo")?.id, views.get("solo2")?.id]).toEqual([bought.subscription.id, bought.subscription.id]);
    // The installs' own subscriptions were superseded, not left to bill.
    const own = await prisma().subscription.findUnique({ where: { id: solo?.id as string } });
    expect(own).toMatchObject({ state: "canceled", liveKey: null });
  });

  it("moves an unpaid renewal from past due (still running) to paused, and a cancellation takes effect at the period's end", async () => {
    const org = w.orgA;
    const sub = await billing().viewFor(org, "wiki");
    expect(sub).toMatchObject({ state: "active" });
    const open = await prisma().invoice.findMany({ where: { subscriptionId: sub?.id as string, status: "open" } });
    expect(open).toHaveLength(1); // the renewal
    offset = (open[0]?.dueAt.getTime() as number) - Date.now() + 1000;
    await schedulerPasses();
    expect((await entitlement(org, "wiki", "PastDue")).status?.entitlement?.allowed).toBe(true);
    expect(await outbox(org, "invoice.due")).toHaveLength(1);
    offset += 7 * DAY;
    await schedulerPasses();
    expect((await entitlement(org, "wiki", "Paused")).status?.entitlement?.allowed).toBe(false);
    const paid = await w.call(w.people.admin, "POST", `/api/orgs/${org}/invoices/${open[0]?.id}/pay`);
    expect(paid.status).toBe(200);
    await entitlement(org, "wiki", "Active");

    const canceled = await w.call(w.people.admin, "POST", `/api/orgs/${org}/subscriptions/${sub?.id}/cancel`);
    expect(canceled.body).toMatchObject({ state: "active", cancelAtPeriodEnd: true });
    const periodEnd = canceled.body.currentPeriodEnd as string;
    await until("the entitlement ends with the period", async () => {
      const e = (await read(org, "wiki"))?.status?.entitlement;
      return e?.until === periodEnd && e.message?.startsWith("Canceled") ? e : undefined;
    });
    const resumed = await w.call(w.people.admin, "POST", `/api/orgs/${org}/subscriptions/${sub?.id}/resume`);
    expect(resumed.body).toMatchObject({ state: "active", cancelAtPeriodEnd: false });
    expect((await w.call(w.people.admin, "POST", `/api/orgs/${org}/subscriptions/${sub?.id}/resume`)).status).toBe(409);
    await w.call(w.people.admin, "POST", `/api/orgs/${org}/subscriptions/${sub?.id}/cancel`);
    offset = Date.parse(periodEnd) - Date.now() + 1000;
    await schedulerPasses();
    await entitlement(org, "wiki", "Canceled");
    expect(await billing().viewFor(org, "wiki")).toMatchObject({ state: "canceled", cancelAtPeriodEnd: false });
    // No renewal invoice for a canceled period.
    expect(
      await prisma().invoice.count({ where: { subscriptionId: sub?.id as string, periodStart: new Date(periodEnd) } }),
    ).toBe(0);
  });

  it("gives one trial, one subscription per install, when installs and subscribe calls race", async () => {
    const org = w.orgB;
    const template = { ...paidTemplate(), metadata: { name: "race-echo" } };
    await w.kube.create(R.appTemplate, template as never);
    const made = await Promise.all(
      ["race-a", "race-b"].map((name) =>
        w.kube.create(R.appInstance, {
          metadata: { name, namespace: namespaceFor(org) },
          spec: { template: "race-echo", access: { policy: "Public" } },
        } as never),
      ),
    );
    // The install route's call and the watch's, for both apps at once (as two replicas would).
    const views = await Promise.all(made.flatMap((app) => [1, 2].map(() => billing().subscribe(org, app as never))));
    const states = await Promise.all(
      ["race-a", "race-b"].map(
        async (name) =>
          (await until(`${name} entitled`, async () => (await read(org, name))?.status?.entitlement))?.reason,
      ),
    );
    expect(states.sort()).toEqual(["PaymentRequired", "Trialing"]);
    expect(new Set(views.map((v) => v?.id)).size).toBe(2);
    expect(await prisma().trialGrant.count({ where: { org, template: "race-echo" } })).toBe(1);
    expect(await prisma().subscription.count({ where: { org, template: "race-echo", liveKey: { not: null } } })).toBe(
      2,
    );
  });

  it("keeps billing details in the database, validated field by field", async () => {
    const path = `/api/orgs/${w.orgA}/billing/details`;
    expect((await w.call(w.people.admin, "GET", path)).body).toBeNull();
    const bad = await w.call(w.people.admin, "PUT", path, {
      contactName: "x".repeat(201),
      email: "not-an-address",
      addressLine1: "   ",
      city: "Berlin",
      country: "Germany",
      taxId: "=1+1",
      extra: true,
    });
    expect(bad.status).toBe(422);
    expect(bad.body.error.fields.map((f: { path: string }) => f.path).sort()).toEqual(
      expect.arrayContaining([
        "/body/addressLine1",
        "/body/contactName",
        "/body/country",
        "/body/email",
        "/body/taxId",
      ]),
    );
    const good = await w.call(w.people.admin, "PUT", path, {
      contactName: " Ada Lovelace ",
      email: "Billing@Example.COM",
      addressLine1: "1 Engine Street",
      city: "London",
      country: "GB",
      taxId: "GB123456789",
    });
    expect(good.status).toBe(200);
    expect(good.body).toMatchObject({ contactName: "Ada Lovelace", email: "billing@example.com", region: null });
    expect((await w.call(w.people.manager, "GET", path)).body).toMatchObject({ updatedBy: w.people.admin.email });
  });

  it("runs the scheduler on one replica at a time (leader election on a Lease)", async () => {
    const namespace = unique("billing-lease");
    await w.kube.create(R.namespace, { metadata: { name: namespace } } as never);
    const runs: [number, number] = [0, 0];
    const make = (i: number) =>
      new Scheduler(
        w.kube,
        [
          {
            name: "count",
            run: async () => {
              runs[i as 0 | 1] += 1;
            },
          },
        ],
        {
          namespace,
          intervalMs: 100,
          identity: `replica-${i}`,
          log: () => {},
        },
      );
    const schedulers = [make(0), make(1)];
    for (const s of schedulers) s.start();
    const leader = await until("a leader", async () => schedulers.findIndex((s) => s.leading) + 1 || undefined);
    const [l, f] = leader === 1 ? [0, 1] : [1, 0];
    await until("the leader's passes", async () => (runs[l] as number) >= 5);
    expect(runs[f]).toBe(0);
    await schedulers[l]?.stop(); // releases the Lease: the other takes over at once
    await until("the other replica leads", async () => (runs[f] as number) >= 3, 20_000);
    await schedulers[f]?.stop();
  });
});
