// Billing's other ways in, end to end on the real API assembly, operator and control plane
// (billing.test.ts has the trial's life): installs made while no API ran get their
// subscription from the start-up sweep; autopay; a one-time plan; a plan set with kubectl on a
// new AppInstance; and an organization in its deletion grace period, whose renewals and
// dunning wait. The API is restarted on the same port and database where a test needs it.
import { namespaceFor } from "@atrium/crds";
import { type KubeObject, R } from "@atrium/kube";
import { describe, expect, it } from "vitest";
import { startApi } from "../cluster/api-stack.ts";
import { paidEchoTemplate } from "../cluster/fake-pods.ts";
import { until } from "../cluster/until.ts";
import { BILLING_SESSION_TTL_HOURS, billingWorld } from "./billing-world.ts";

const DAY = 86_400_000;
const PAID = "paths-echo";
const ONCE = "once-echo";
const template = (name: string, pricing: Record<string, unknown>) =>
  paidEchoTemplate(name, pricing, { displayName: name });

type App = KubeObject & {
  status?: {
    phase?: string;
    entitlement?: { allowed: boolean; reason: string; until?: string; plan?: string; subscription?: string };
  };
};

describe.each(["sqlite", "postgresql"] as const)("billing paths (%s)", (provider) => {
  const fx = billingWorld(provider, [
    template(PAID, {
      trialDays: 30,
      plans: [{ id: "basic", interval: "monthly", amount: 1000, currency: "USD" }],
    }),
    template(ONCE, {
      trialDays: 0,
      plans: [{ id: "once", interval: "one-time", amount: 4900, currency: "EUR" }],
    }),
  ]);
  const { clock, billing, prisma, schedulerPasses } = fx;
  const read = (org: string, name: string) => fx.w.kube.get<App>(R.appInstance, name, namespaceFor(org));
  const replicas = async (org: string, name: string) =>
    (await fx.w.kube.get<KubeObject & { spec: { replicas?: number } }>(R.deployment, name, namespaceFor(org)))?.spec
      .replicas;
  const entitlement = (org: string, name: string, reason: string) =>
    until(`${name}'s entitlement ${reason}`, async () => {
      const app = await read(org, name);
      return app?.status?.entitlement?.reason === reason ? app : undefined;
    });
  const kubectlInstall = (org: string, name: string, tpl: string, plan?: string) =>
    fx.w.kube.create(R.appInstance, {
      metadata: { name, namespace: namespaceFor(org) },
      spec: {
        template: tpl,
        ...(plan ? { plan } : {}),
        access: { policy: "Public" },
        idle: { policy: "AlwaysOn" },
      },
    } as never);

  /** Waits until the operator has reconciled an AppInstance and nothing writes it for 2 s. */
  async function settled(org: string, name: string) {
    await until(`${name} reconciled`, async () => (await read(org, name))?.status?.phase);
    let last = "";
    await until(
      `${name} left alone`,
      async () => {
        const version = (await read(org, name))?.metadata.resourceVersion ?? "";
        const stable = version === last;
        last = version;
        if (!stable) await new Promise((r) => setTimeout(r, 2000));
        return stable;
      },
      30_000,
    );
  }

  /**
   * Stops the API, does `meanwhile` (kubectl's work while no API runs), and starts it again on
   * the same port and database (sessions are rows: the people stay logged in). fx.w.api becomes it.
   */
  async function restartApi(env: Record<string, string> = {}, meanwhile: () => Promise<unknown> = async () => {}) {
    const old = fx.w.api;
    await old.stop();
    await meanwhile();
    const next = await startApi({
      kubeconfig: fx.w.kubeconfig,
      port: old.port,
      oidcIssuer: fx.w.oidc.issuer,
      smtpUrl: fx.w.smtp.url,
      databaseUrl: old.config.databaseUrl,
      quiet: true,
      env: { ATRIUM_RATE_INVITATIONS: "1000/1h", ATRIUM_SESSION_TTL_HOURS: BILLING_SESSION_TTL_HOURS, ...env },
      now: clock,
      scheduler: false,
    });
    // World's stop() calls fx.w.api.stop(): from now on, this API's.
    Object.assign(old, next);
  }

  it("subscribes at start the installs made while no API was running (the sweep)", async () => {
    const org = fx.w.orgA;
    await restartApi({}, async () => {
      await kubectlInstall(org, "offline", PAID);
      await kubectlInstall(org, "offline-once", ONCE);
      // The operator's status writes must be over before the API starts: else the watch would
      // see them as changes and subscribe the installs, and the sweep would not be what is tested.
      for (const name of ["offline", "offline-once"]) await settled(org, name);
    });
    const trial = await entitlement(org, "offline", "Trialing");
    expect(trial.status?.entitlement?.allowed).toBe(true);
    const waiting = await entitlement(org, "offline-once", "PaymentRequired");
    expect(waiting.status?.entitlement?.allowed).toBe(false);
    expect(await prisma().trialGrant.count({ where: { org, template: PAID, app: "offline" } })).toBe(1);
    // A second sweep finds nothing left to do.
    expect(await billing().sweep()).toBe(0);
  });

  it("buys a plan set with kubectl on a new AppInstance: an invoice is issued and the app runs once it is paid", async () => {
    const org = fx.w.orgB;
    await kubectlInstall(org, "gitops", PAID, "basic");
    const waiting = await entitlement(org, "gitops", "PaymentRequired");
    expect(waiting.status?.entitlement).toMatchObject({ allowed: false, plan: "basic" });
    // A plan is a purchase, not a trial: the org's trial of the app is left unused.
    expect(await prisma().trialGrant.count({ where: { org, template: PAID } })).toBe(0);
    const subscription = waiting.status?.entitlement?.subscription as string;
    const invoices = await fx.w.call(fx.w.outsider, "GET", `/api/orgs/${org}/invoices`);
    expect(invoices.status).toBe(200);
    const issued = invoices.body.items.filter((i: { subscription: string }) => i.subscription === subscription);
    expect(issued).toMatchObject([{ status: "open", total: 1000, currency: "USD" }]);
    await until("gitops held at zero", async () => (await replicas(org, "gitops")) === 0);

    const paid = await fx.w.call(fx.w.outsider, "POST", `/api/orgs/${org}/invoices/${issued[0].id}/pay`);
    expect(paid.status).toBe(200);
    const active = await entitlement(org, "gitops", "Active");
    expect(active.status?.entitlement?.allowed).toBe(true);
    await until("gitops runs", async () => (await replicas(org, "gitops")) === 1);
  });

  it("holds renewals and dunning while the organization is being deleted, and catches up after a restore", async () => {
    const org = fx.w.orgB;
    const sub = await billing().viewFor(org, "gitops");
    expect(sub).toMatchObject({ state: "active", plan: "basic" });
    const periodEnd = new Date(sub?.currentPeriodEnd as string);
    const renewals = () =>
      prisma().invoice.count({ where: { subscriptionId: sub?.id as string, periodStart: periodEnd } });
    const setDeletion = (deletion: unknown) =>
      fx.w.kube.mergePatch(R.organization, org, undefined, { spec: { deletion } });
    const deleting = (yes: boolean) =>
      until(`the API sees ${org} ${yes ? "" : "not "}being deleted`, async () =>
        !!fx.w.api.directory.organization(org)?.spec.deletion === yes ? true : undefined,
      );

    const state = async () => (await billing().viewFor(org, "gitops"))?.state;
    const dueNotices = () => prisma().outbox.count({ where: { org, type: "invoice.due" } });
    const hold = async () => {
      await setDeletion({ requestedAt: new Date().toISOString(), requestedBy: fx.w.outsider.email });
      await deleting(true);
    };
    const restore = async () => {
      await setDeletion(null);
      await deleting(false);
    };

    // Renewals wait: a day past the period's end, nothing is renewed or invoiced.
    await hold();
    fx.offset = periodEnd.getTime() - Date.now() + DAY;
    await schedulerPasses();
    expect(await renewals()).toBe(0);
    expect(await billing().viewFor(org, "gitops")).toMatchObject({
      state: "active",
      currentPeriodEnd: sub?.currentPeriodEnd,
    });
    // Restored: the next pass renews (an open invoice, due 7 days into the new period).
    await restore();
    await schedulerPasses();
    expect(await renewals()).toBe(1);
    expect((await billing().viewFor(org, "gitops"))?.currentPeriodStart).toBe(sub?.currentPeriodEnd);

    // Dunning waits: past the invoice's due date and the past-due grace, no notice, no past due, no pause.
    await hold();
    fx.offset = periodEnd.getTime() - Date.now() + 20 * DAY;
    await schedulerPasses();
    expect(await dueNotices()).toBe(0);
    expect(await state()).toBe("active");
    expect((await billing().runDue()).held).toBe(1);
    expect((await read(org, "gitops"))?.status?.entitlement?.reason).toBe("Active");
    // Restored: the unpaid renewal is dunned as usual.
    await restore();
    await schedulerPasses();
    expect(await dueNotices()).toBe(1);
    expect(["past_due", "paused"]).toContain(await state());
  });

  it("entitles an install for good with a one-time plan, and not a second install of the app", async () => {
    const org = fx.w.orgA;
    const admin = fx.w.people.admin;
    const installed = await fx.w.call(admin, "POST", `/api/orgs/${org}/apps`, {
      template: ONCE,
      name: "bought",
      plan: "once",
      access: { policy: "Public" },
      idle: { policy: "AlwaysOn" },
    });
    expect(installed.status).toBe(201);
    const waiting = await entitlement(org, "bought", "PaymentRequired");
    const sub = waiting.status?.entitlement?.subscription as string;
    const open = await prisma().invoice.findMany({ where: { subscriptionId: sub } });
    expect(open).toMatchObject([{ status: "open", total: 4900, currency: "EUR", periodEnd: null }]);
    expect((await fx.w.call(admin, "POST", `/api/orgs/${org}/invoices/${open[0]?.id}/pay`)).status).toBe(200);
    const forGood = await entitlement(org, "bought", "Active");
    expect(forGood.status?.entitlement?.allowed).toBe(true);
    expect(forGood.status?.entitlement?.until).toBeUndefined();
    expect(await billing().viewFor(org, "bought")).toMatchObject({
      state: "active",
      interval: "one-time",
      currentPeriodEnd: null,
    });

    // Years later: still entitled, never invoiced again.
    fx.offset += 3 * 365 * DAY;
    await schedulerPasses();
    expect(await billing().viewFor(org, "bought")).toMatchObject({ state: "active" });
    expect(await prisma().invoice.count({ where: { subscriptionId: sub } })).toBe(1);
    expect((await read(org, "bought"))?.status?.entitlement).toMatchObject({ allowed: true, reason: "Active" });

    // Another install of the same app is not covered (the template has no trial): it waits for payment.
    const second = await fx.w.call(admin, "POST", `/api/orgs/${org}/apps`, {
      template: ONCE,
      name: "bought-again",
      access: { policy: "Public" },
    });
    expect(second.status).toBe(201);
    const uncovered = await entitlement(org, "bought-again", "PaymentRequired");
    expect(uncovered.status?.entitlement?.subscription).not.toBe(sub);
    await until("bought-again held at zero", async () => (await replicas(org, "bought-again")) === 0);
  });

  it("with ATRIUM_BILLING_AUTOPAY=true, an install with a plan is active at once with a paid invoice", async () => {
    const org = fx.w.orgA;
    await restartApi({ ATRIUM_BILLING_AUTOPAY: "true" });
    const installed = await fx.w.call(fx.w.people.admin, "POST", `/api/orgs/${org}/apps`, {
      template: ONCE,
      name: "autopaid",
      plan: "once",
      access: { policy: "Public" },
      idle: { policy: "AlwaysOn" },
    });
    expect(installed.status).toBe(201);
    expect(installed.body.subscription).toMatchObject({ state: "active", plan: "once" });
    const invoices = await prisma().invoice.findMany({ where: { subscriptionId: installed.body.subscription.id } });
    expect(invoices).toMatchObject([{ status: "paid", total: 4900 }]);
    expect(invoices[0]?.paidAt).not.toBeNull();
    await entitlement(org, "autopaid", "Active");
    await until("autopaid runs", async () => (await replicas(org, "autopaid")) === 1);
    await restartApi();
  });
});
