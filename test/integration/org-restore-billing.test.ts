// An organization restored from its deletion grace period is not billed for it: on the real API
// assembly, operator and control plane (SQLite and PostgreSQL), with the API's clock injected and
// its scheduler driven by hand. A monthly subscription's period running when the deletion was
// asked for ends as much later as the grace lasted, no invoice covers the grace, the next
// renewal bills the period after the moved end, and a second credit of the same deletion moves
// nothing.
import { namespaceFor } from "@atrium/crds";
import { type KubeObject, R } from "@atrium/kube";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { echoTemplate } from "../cluster/fake-pods.ts";
import { until } from "../cluster/until.ts";
import { startWorld, type World } from "./api/world.ts";

const DAY = 86_400_000;
const PAID = "restore-echo";

type Entitlement = { allowed: boolean; reason: string; until?: string };
type App = KubeObject & { status?: { entitlement?: Entitlement } };

describe.each(["sqlite", "postgresql"] as const)("restoring a deleted organization (%s)", (provider) => {
  let offset = 0;
  const clock = () => Date.now() + offset;
  let w: World;

  beforeAll(async () => {
    w = await startWorld({
      provider,
      env: { ATRIUM_SESSION_TTL_HOURS: String(24 * 365 * 5) },
      api: { now: clock, scheduler: false },
    });
    const base = echoTemplate(PAID);
    await w.kube.create(R.appTemplate, {
      ...base,
      spec: {
        ...base.spec,
        pricing: { trialDays: 0, plans: [{ id: "basic", interval: "monthly", amount: 1000, currency: "USD" }] },
      },
    } as never);
    await until("the catalog has the template", async () => !!w.api.services.catalog.get(PAID));
  }, 300_000);

  afterAll(async () => {
    await w?.stop();
  });

  const billing = () => w.api.services.billing;
  const prisma = () => w.api.db.prisma;
  const schedulerPasses = async () => {
    await w.api.scheduler.runOnce();
    await w.api.scheduler.runOnce();
  };
  const entitlement = (org: string, name: string, check: (e: Entitlement) => boolean) =>
    until(`${name}'s entitlement`, async () => {
      const app = await w.kube.get<App>(R.appInstance, name, namespaceFor(org));
      return app?.status?.entitlement && check(app.status.entitlement) ? app.status.entitlement : undefined;
    });

  it("takes the grace period out of the running period: no invoice covers it, the renewal comes as much later", async () => {
    const org = w.orgB;
    const admin = w.outsider; // orgB's Admin
    await w.kube.create(R.appInstance, {
      metadata: { name: "kept", namespace: namespaceFor(org) },
      spec: { template: PAID, plan: "basic", access: { policy: "Public" }, idle: { policy: "AlwaysOn" } },
    } as never);
    await entitlement(org, "kept", (e) => e.reason === "PaymentRequired");
    const sub = await billing().viewFor(org, "kept");
    const purchase = await prisma().invoice.findFirst({ where: { subscriptionId: sub?.id as string } });
    expect((await w.call(admin, "POST", `/api/orgs/${org}/invoices/${purchase?.id}/pay`)).status).toBe(200);
    await entitlement(org, "kept", (e) => e.reason === "Active");
    const paid = await billing().viewFor(org, "kept");
    const end = new Date(paid?.currentPeriodEnd as string).getTime();
    const invoices = () => prisma().invoice.findMany({ where: { subscriptionId: sub?.id as string } });
    expect(await invoices()).toHaveLength(1);

    // Deleted 10 days before the period's end, restored 20 days later (10 days past it).
    offset = end - 10 * DAY - Date.now();
    const deleted = await w.call(admin, "DELETE", `/api/orgs/${org}`, { confirm: org });
    expect(deleted.status).toBe(202);
    const requestedAt = Date.parse(deleted.body.deletion.requestedAt);
    await until("the API sees the deletion", async () => !!w.api.directory.organization(org)?.spec.deletion);
    offset = end + 10 * DAY - Date.now();
    await schedulerPasses(); // held: nothing renews
    const restored = await w.call(admin, "POST", `/api/orgs/${org}/restore`);
    expect(restored.status).toBe(200);
    const restoredAt = clock();
    await until("the API sees the restore", async () => !w.api.directory.organization(org)?.spec.deletion);

    // The period ends as much later as the grace lasted (request to restore: 20 days).
    const moved = new Date((await billing().viewFor(org, "kept"))?.currentPeriodEnd as string).getTime();
    expect(moved - end).toBeGreaterThanOrEqual(20 * DAY - 1000); // the request's time is kept to the second
    expect(moved - end).toBeLessThanOrEqual(restoredAt - requestedAt);
    // The entitlement says so (the renewal's due date and grace count from the new end).
    await entitlement(org, "kept", (e) => e.allowed && Date.parse(e.until ?? "") === moved + 14 * DAY);
    // Past the old end, nothing is invoiced: the grace is not billed.
    await schedulerPasses();
    expect(await invoices()).toHaveLength(1);
    expect((await billing().viewFor(org, "kept"))?.state).toBe("active");

    // Past the moved end: the renewal bills the period after it, and only that one.
    offset = moved + DAY - Date.now();
    await schedulerPasses();
    const all = await invoices();
    expect(all).toHaveLength(2);
    const renewal = all.find((i) => i.id !== purchase?.id);
    expect(renewal?.periodStart?.getTime()).toBe(moved);
    expect(renewal?.total).toBe(1000);

    // The same deletion is credited once, whoever asks again.
    expect(await billing().creditDeletionGrace(org, new Date(requestedAt), new Date(clock()))).toBeUndefined();
    // Still the renewal's period, not moved again.
    expect(new Date((await billing().viewFor(org, "kept"))?.currentPeriodEnd as string).getTime()).toBe(
      renewal?.periodEnd?.getTime(),
    );
    expect(await prisma().outbox.count({ where: { org, type: "org.restored" } })).toBe(1);

    // Deleted again while the renewal's invoice is open (due 7 days into its period), restored 10
    // days later: as long to pay as was left at the request, so the restore is not a past due.
    const due = renewal?.dueAt.getTime() as number;
    const again = await w.call(admin, "DELETE", `/api/orgs/${org}`, { confirm: org });
    expect(again.status).toBe(202);
    await until("the API sees the second deletion", async () => !!w.api.directory.organization(org)?.spec.deletion);
    offset = moved + 11 * DAY - Date.now(); // past the invoice's due date
    expect((await w.call(admin, "POST", `/api/orgs/${org}/restore`)).status).toBe(200);
    await until("the API sees the second restore", async () => !w.api.directory.organization(org)?.spec.deletion);
    const span = clock() - Date.parse(again.body.deletion.requestedAt);
    const dueNow = (await prisma().invoice.findUnique({ where: { id: renewal?.id as string } }))?.dueAt.getTime();
    expect(dueNow).toBeGreaterThanOrEqual(due + 10 * DAY - 1000);
    expect(dueNow).toBeLessThanOrEqual(due + span);
    await schedulerPasses();
    expect((await billing().viewFor(org, "kept"))?.state).toBe("active");
    expect(await prisma().outbox.count({ where: { org, type: "invoice.due" } })).toBe(0);
  });
});
