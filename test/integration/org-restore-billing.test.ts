// An organization restored from its deletion grace period is not billed for it: on the real API
// assembly, operator and control plane (SQLite and PostgreSQL), with the API's clock injected and
// its scheduler driven by hand. A monthly subscription's period running when the deletion was
// asked for ends as much later as the grace lasted, no invoice covers the grace, the next
// renewal bills the period after the moved end, and a second credit of the same deletion moves
// nothing.
import { namespaceFor } from "@atrium/crds";
import { type KubeObject, R } from "@atrium/kube";
import { describe, expect, it } from "vitest";
import { paidEchoTemplate } from "../cluster/fake-pods.ts";
import { until } from "../cluster/until.ts";
import { billingWorld } from "./billing-world.ts";

const DAY = 86_400_000;
const PAID = "restore-echo";

type Entitlement = { allowed: boolean; reason: string; until?: string };
type App = KubeObject & { status?: { entitlement?: Entitlement } };
const paidTemplate = () =>
  paidEchoTemplate(PAID, {
    trialDays: 0,
    plans: [{ id: "basic", interval: "monthly", amount: 1000, currency: "USD" }],
  });

describe.each(["sqlite", "postgresql"] as const)("restoring a deleted organization (%s)", (provider) => {
  const fx = billingWorld(provider, [paidTemplate()]);
  const { clock, billing, prisma, schedulerPasses } = fx;
  const entitlement = (org: string, name: string, check: (e: Entitlement) => boolean) =>
    until(`${name}'s entitlement`, async () => {
      const app = await fx.w.kube.get<App>(R.appInstance, name, namespaceFor(org));
      return app?.status?.entitlement && check(app.status.entitlement) ? app.status.entitlement : undefined;
    });

  it("takes the grace period out of the running period: no invoice covers it, the renewal comes as much later", async () => {
    const org = fx.w.orgB;
    const admin = fx.w.outsider; // orgB's Admin
    await fx.w.kube.create(R.appInstance, {
      metadata: { name: "kept", namespace: namespaceFor(org) },
      spec: { template: PAID, plan: "basic", access: { policy: "Public" }, idle: { policy: "AlwaysOn" } },
    } as never);
    await entitlement(org, "kept", (e) => e.reason === "PaymentRequired");
    const sub = await billing().viewFor(org, "kept");
    const purchase = await prisma().invoice.findFirst({ where: { subscriptionId: sub?.id as string } });
    expect((await fx.w.call(admin, "POST", `/api/orgs/${org}/invoices/${purchase?.id}/pay`)).status).toBe(200);
    await entitlement(org, "kept", (e) => e.reason === "Active");
    const paid = await billing().viewFor(org, "kept");
    const end = new Date(paid?.currentPeriodEnd as string).getTime();
    const invoices = () => prisma().invoice.findMany({ where: { subscriptionId: sub?.id as string } });
    expect(await invoices()).toHaveLength(1);

    // Deleted 10 days before the period's end, restored 20 days later (10 days past it).
    fx.offset = end - 10 * DAY - Date.now();
    const deleted = await fx.w.call(admin, "DELETE", `/api/orgs/${org}`, { confirm: org });
    expect(deleted.status).toBe(202);
    const requestedAt = Date.parse(deleted.body.deletion.requestedAt);
    await until("the API sees the deletion", async () => !!fx.w.api.directory.organization(org)?.spec.deletion);
    fx.offset = end + 10 * DAY - Date.now();
    await schedulerPasses(); // held: nothing renews
    const restored = await fx.w.call(admin, "POST", `/api/orgs/${org}/restore`);
    expect(restored.status).toBe(200);
    const restoredAt = clock();
    await until("the API sees the restore", async () => !fx.w.api.directory.organization(org)?.spec.deletion);

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
    fx.offset = moved + DAY - Date.now();
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
    const again = await fx.w.call(admin, "DELETE", `/api/orgs/${org}`, { confirm: org });
    expect(again.status).toBe(202);
    await until("the API sees the second deletion", async () => !!fx.w.api.directory.organization(org)?.spec.deletion);
    fx.offset = moved + 11 * DAY - Date.now(); // past the invoice's due date
    // The grace as the API counts it: from the request's time (kept to the second) to the
    // restore. About 10 days: less the real time the steps since `moved + DAY` took.
    const requestedAgain = Date.parse(again.body.deletion.requestedAt);
    const restoreFrom = clock();
    expect(restoreFrom - requestedAgain).toBeGreaterThan(9 * DAY);
    expect((await fx.w.call(admin, "POST", `/api/orgs/${org}/restore`)).status).toBe(200);
    await until("the API sees the second restore", async () => !fx.w.api.directory.organization(org)?.spec.deletion);
    const span = clock() - requestedAgain;
    const dueNow = (await prisma().invoice.findUnique({ where: { id: renewal?.id as string } }))?.dueAt.getTime();
    expect(dueNow).toBeGreaterThanOrEqual(due + (restoreFrom - requestedAgain));
    expect(dueNow).toBeLessThanOrEqual(due + span);
    await schedulerPasses();
    expect((await billing().viewFor(org, "kept"))?.state).toBe("active");
    expect(await prisma().outbox.count({ where: { org, type: "invoice.due" } })).toBe(0);
  });
});
