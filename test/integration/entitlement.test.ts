// Billing's decision in the operator and the gateway, end to end on a private control plane:
// the real operator and gateway processes, KWOK pods with real HTTP servers at their addresses
// (fake-pods.ts), and status.entitlement published as Atrium's API publishes it (server-side
// apply on the status subresource, field manager atrium-api, only that field).
import type { Entitlement } from "@atrium/crds";
import { CoreV1Api, KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AppWaits, appWaits, createOrg } from "../cluster/app-waits.ts";
import { type ControlPlane, startControlPlane } from "../cluster/controlplane.ts";
import { publishEntitlement } from "../cluster/entitlement.ts";
import { echoTemplate, type FakeApp, serveAppPods } from "../cluster/fake-pods.ts";
import { type GatewayProcess, startGateway } from "../cluster/gateway-process.ts";
import { installCrds } from "../cluster/install.ts";
import { type OperatorProcess, startOperator } from "../cluster/operator-process.ts";
import { type Obj, until } from "./kube.ts";

const A = "atrium.dev/v1alpha1";
const ORG = "billed";
const NS = `org-${ORG}`;
const TEMPLATE = "paid-echo";
let cp: ControlPlane;
let kc: KubeConfig;
let objects: KubernetesObjectApi;
let core: CoreV1Api;
let waits: AppWaits;
let operator: OperatorProcess;
let gateway: GatewayProcess;
const fakes: FakeApp[] = [];

const startTheOperator = (id: string) =>
  startOperator({ kubeconfig: cp.kubeconfig, id, leaseNamespace: "atrium-system", leaseDurationMs: 4000 });
const condition = (app: any, type: string) => app.status?.conditions?.find((c: any) => c.type === type);
const get = (name: string, path = "/", headers: Record<string, string> = {}) =>
  fetch(`${gateway.url}/apps/${ORG}/${name}${path}`, { headers });
const publish = (name: string, entitlement: Entitlement) =>
  publishEntitlement(kc, { namespace: NS, name }, entitlement);
const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString().replace(/\.\d+Z$/, "Z");
const wakes = () => gateway.metric("atrium_gateway_wakes_total");
const refusals = (reason: string) =>
  gateway.metric("atrium_gateway_payment_required_total", (l) => l.includes(`reason="${reason}"`));

/** Who owns status.entitlement, from the object's managedFields. */
async function entitlementOwners(name: string): Promise<string[]> {
  const app = await waits.app(name);
  return (app.metadata.managedFields as any[])
    .filter((m) => m.subresource === "status" && m.fieldsV1?.["f:status"]?.["f:entitlement"])
    .map((m) => m.manager);
}

async function createApp(name: string) {
  await objects.create({
    apiVersion: A,
    kind: "AppInstance",
    metadata: { name, namespace: NS },
    // Public: this gateway has no forward-auth. A long timeout: only billing stops these apps.
    spec: { template: TEMPLATE, access: { policy: "Public" }, idle: { policy: "Auto", timeout: "1h" } },
  } as Obj);
  fakes.push(serveAppPods(kc, { namespace: NS, app: name, port: 8080 }));
}
const running = async (name: string) => {
  await waits.untilPhase(name, "Running");
  await until(`${name} served`, async () => ((await get(name)).status === 200 ? true : undefined));
};

beforeAll(async () => {
  cp = await startControlPlane();
  installCrds(cp);
  kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  objects = KubernetesObjectApi.makeApiClient(kc);
  core = kc.makeApiClient(CoreV1Api);
  waits = appWaits(kc, NS);
  const echo = echoTemplate(TEMPLATE);
  await objects.create({
    ...echo,
    spec: {
      ...echo.spec,
      storage: { size: "1Gi", mountPath: "/data" },
      pricing: { trialDays: 30, plans: [{ id: "monthly", interval: "monthly", amount: 900, currency: "EUR" }] },
    },
  } as Obj);
  operator = await startTheOperator("billing");
  gateway = await startGateway({
    kubeconfig: cp.kubeconfig,
    env: { ATRIUM_GATEWAY_FLUSH_INTERVAL_MS: "500", ATRIUM_GATEWAY_WAKE_TIMEOUT_MS: "20000" },
  });
  await createOrg(kc, ORG, "B");
});

afterAll(async () => {
  for (const f of fakes) await f.stop();
  await gateway?.kill();
  await operator?.kill();
  await cp?.stop();
});

describe("entitlement", () => {
  it("never runs a paid app nobody subscribed to, and the gateway answers 402 without waking it", async () => {
    await createApp("unpaid");
    const app = await until("Ready says PaymentRequired", async () => {
      const a = await waits.app("unpaid");
      return condition(a, "Ready")?.reason === "PaymentRequired" && a.status.phase === "Stopped" ? a : undefined;
    });
    expect(condition(app, "Ready").message).toBe(
      "Waiting for Atrium's API to start a trial or record a subscription for this app",
    );
    expect(await waits.replicas("unpaid")).toBe(0);
    const before = await wakes();
    const res = await get("unpaid", "/", { accept: "application/json" });
    expect(res.status).toBe(402);
    expect(await res.json()).toMatchObject({ error: "payment_required", reason: "AwaitingSubscription" });
    await new Promise((r) => setTimeout(r, 1500));
    expect(await waits.replicas("unpaid")).toBe(0);
    expect(await wakes()).toBe(before);
    expect((await waits.app("unpaid")).status.lastActivity).toBeUndefined(); // a 402 is not activity
    // Waiting for the API's first word is neither a stop nor a Warning.
    const events = await core.listNamespacedEvent({ namespace: NS, fieldSelector: "involvedObject.name=unpaid" });
    expect(events.items.filter((e) => e.type === "Warning")).toEqual([]);
    expect(await operator.metric("atrium_operator_app_stops_total")).toBe(0);
  });

  it("runs in its trial, pauses at the trial's end keeping the volume, and answers 402 instead of waking", async () => {
    await createApp("trial");
    await publish("trial", { allowed: true, reason: "Trialing", until: inSeconds(3600), message: "30-day trial" });
    await running("trial");
    expect((await get("trial", "/hello")).status).toBe(200);
    // Let the start's own re-checks (a 5 s safety requeue after a rollout) pass first.
    await operator.settled();
    await new Promise((r) => setTimeout(r, 5000));
    // The trial ends a few seconds from now: nothing but the operator's own timer stops it.
    await publish("trial", { allowed: true, reason: "Trialing", until: inSeconds(4), message: "30-day trial" });
    await waits.untilPhase("trial", "Stopped", 30_000);
    const app = await waits.app("trial");
    expect(app.status.stoppedReason).toBe(
      "PaymentRequired: scaled to zero, the volume is kept. The free trial has ended; subscribe to run the app again",
    );
    expect(condition(app, "Ready")).toMatchObject({ status: "False", reason: "PaymentRequired" });
    expect(condition(app, "Idle")).toMatchObject({ status: "True", reason: "PaymentRequired" });
    expect(await waits.replicas("trial")).toBe(0);
    expect((await core.readNamespacedPersistentVolumeClaim({ name: "trial-data", namespace: NS })).status?.phase).toBe(
      "Bound",
    );
    expect(
      await operator.metric("atrium_operator_app_stops_total", (l) => l.includes('reason="PaymentRequired"')),
    ).toBe(1);
    const events = await core.listNamespacedEvent({ namespace: NS, fieldSelector: "involvedObject.name=trial" });
    expect(events.items.filter((e) => e.reason === "PaymentRequired").map((e) => e.type)).toEqual(["Warning"]);

    const wakesBefore = await wakes();
    const refusedBefore = await refusals("TrialEnded");
    const json = await get("trial", "/api/items", { accept: "application/json" });
    expect(json.status).toBe(402);
    expect(json.headers.get("content-type")).toBe("application/json");
    const body = (await json.json()) as { message: string };
    expect(body).toMatchObject({ error: "payment_required", reason: "TrialEnded" });
    expect(body.message).toContain("billing:manage");
    const page = await get("trial", "/", { accept: "text/html,application/xhtml+xml" });
    expect(page.status).toBe(402);
    const html = await page.text();
    expect(html).toContain("trial is paused");
    expect(html).toContain("billing:manage");
    // A health check gets the same answer, and wakes nothing either.
    expect((await get("trial", "/healthz", { "user-agent": "kube-probe/1.34" })).status).toBe(402);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await waits.replicas("trial")).toBe(0);
    expect(await wakes()).toBe(wakesBefore);
    expect((await refusals("TrialEnded")) - refusedBefore).toBe(3);

    // The operator's status writes since the stop left the API's field to the API.
    expect((await waits.app("trial")).status.entitlement).toMatchObject({ allowed: true, reason: "Trialing" });
    expect(await entitlementOwners("trial")).toEqual(["atrium-api"]);
  });

  it("stays stopped once paid, and the next request wakes it and gets the app's answer", async () => {
    const operatorWakes = await operator.metric("atrium_operator_app_wakes_total");
    const wakesBefore = await wakes();
    await publish("trial", { allowed: true, reason: "Active", message: "Monthly plan" });
    await until("the operator saw the payment", async () =>
      condition(await waits.app("trial"), "Idle")?.reason === "ResumesOnRequest" ? true : undefined,
    );
    await operator.settled();
    expect(await waits.replicas("trial")).toBe(0); // paying alone starts nothing
    expect((await waits.app("trial")).status.phase).toBe("Stopped");
    // The gateway's cache follows its own watch: a moment may pass before it sees the payment.
    const res = await until("an answer other than 402", async () => {
      const r = await get("trial", "/after-payment", { accept: "application/json" });
      return r.status === 402 ? undefined : r;
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/^hello from trial at [\d.]+\/after-payment$/);
    expect(await waits.replicas("trial")).toBe(1);
    expect((await wakes()) - wakesBefore).toBe(1);
    await until("the operator counted the wake", async () =>
      (await operator.metric("atrium_operator_app_wakes_total")) - operatorWakes === 1 ? true : undefined,
    );
    await waits.untilPhase("trial", "Running");
    // Through all the operator's writes since, the field stayed the API's.
    expect((await waits.app("trial")).status.entitlement).toEqual({
      allowed: true,
      reason: "Active",
      message: "Monthly plan",
    });
    expect(await entitlementOwners("trial")).toEqual(["atrium-api"]);
  });

  it("answers 402 for a running app billing no longer allows, even before the operator stops it", async () => {
    await createApp("lapsed");
    await publish("lapsed", { allowed: true, reason: "Active", message: "Monthly plan" });
    await running("lapsed");
    // Without an operator to stop it, the app keeps running: the gateway's own decision refuses it.
    await operator.kill();
    await publish("lapsed", {
      allowed: false,
      reason: "Canceled",
      message: "The subscription was canceled. Ask an Admin to subscribe again.",
    });
    const res = await until("402", async () => {
      const r = await get("lapsed", "/", { accept: "application/json" });
      return r.status === 402 ? r : undefined;
    });
    expect(await res.json()).toEqual({
      error: "payment_required",
      reason: "Canceled",
      message: expect.stringContaining("The subscription was canceled. Ask an Admin to subscribe again."),
    });
    expect(await waits.replicas("lapsed")).toBe(1);
    // Back, the operator stops it for the refusal it finds.
    operator = await startTheOperator("billing-2");
    await until(
      "lapsed stopped for payment",
      async () => {
        const a = await waits.app("lapsed");
        return a.status?.phase === "Stopped" && condition(a, "Ready")?.reason === "PaymentRequired" ? a : undefined;
      },
      40_000,
    );
    expect(condition(await waits.app("lapsed"), "Ready").message).toBe(
      "The subscription was canceled. Ask an Admin to subscribe again.",
    );
  });
});
