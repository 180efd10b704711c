// The operator survives what production does to it: being killed mid-reconcile, the
// apiserver restarting under it, and a second replica taking over when the leader dies.
// These tests own a private control plane because they restart parts of it.
import { AppsV1Api, KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, startControlPlane } from "../cluster/controlplane.ts";
import { installCatalog, installCrds } from "../cluster/install.ts";
import { type OperatorProcess, startOperator } from "../cluster/operator-process.ts";
import { type Obj, unique, until } from "./kube.ts";

const A = "atrium.dev/v1alpha1";
let cp: ControlPlane;
let objects: KubernetesObjectApi;
let apps: AppsV1Api;
const running: OperatorProcess[] = [];

const operatorFor = async (id: string, leaseNamespace: string, leaseDurationMs = 15_000) => {
  const op = await startOperator({ kubeconfig: cp.kubeconfig, id, leaseNamespace, leaseDurationMs });
  running.push(op);
  return op;
};
const read = async (kind: string, name: string, namespace?: string) =>
  (await objects.read({ apiVersion: A, kind, metadata: { name, ...(namespace ? { namespace } : {}) } })) as any;
const createOrg = (name: string) =>
  objects.create({ apiVersion: A, kind: "Organization", metadata: { name }, spec: { displayName: name } } as Obj);
const createApp = (ns: string, name: string) =>
  objects.create({
    apiVersion: A,
    kind: "AppInstance",
    metadata: { name, namespace: ns },
    spec: { template: "uptime-kuma" },
  } as Obj);
const orgReady = (name: string) =>
  until(`org ${name} Ready`, async () => {
    const o = await read("Organization", name).catch(() => undefined);
    return o?.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True") ? o : undefined;
  });
const allRunning = (ns: string, count: number, timeoutMs = 90_000) =>
  until(
    `${count} Running apps in ${ns}`,
    async () => {
      const list = (await objects.list(A, "AppInstance", ns)).items as any[];
      return list.length === count && list.every((a) => a.status?.phase === "Running") ? list : undefined;
    },
    timeoutMs,
  );

beforeAll(async () => {
  cp = await startControlPlane();
  installCrds(cp);
  installCatalog(cp);
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  objects = KubernetesObjectApi.makeApiClient(kc);
  apps = kc.makeApiClient(AppsV1Api);
});
afterAll(async () => {
  for (const op of running) await op.kill("SIGKILL");
  await cp?.stop();
});

describe("operator resilience", () => {
  // Here, not in operator.test.ts: this cluster runs nothing else, so every write counted is
  // this test's (the shared cluster has other files creating objects meanwhile).
  it("makes no writes when it reconciles an unchanged app again", async () => {
    const op = await operatorFor("quiet", unique("lease"));
    await op.waitUntil("leadership", async () => (await op.status()).leader);
    const org = unique("quiet");
    await createOrg(org);
    await orgReady(org);
    await createApp(`org-${org}`, "steady");
    await until("Running", async () =>
      (await read("AppInstance", "steady", `org-${org}`)).status?.phase === "Running" ? true : undefined,
    );
    await op.settled();
    const writes = await op.objectWrites();
    const reconciles = await op.reconciles("AppInstance");
    for (let i = 0; i < 3; i++)
      await objects.patch(
        {
          apiVersion: A,
          kind: "AppInstance",
          metadata: { name: "steady", namespace: `org-${org}`, labels: { touch: `${i}` } },
        },
        undefined,
        undefined,
        undefined,
        undefined,
        "application/merge-patch+json" as never,
      );
    await op.waitUntil("3 more reconciles", async () => (await op.reconciles("AppInstance")) >= reconciles + 3);
    await op.settled();
    expect(await op.objectWrites()).toBe(writes);
    await op.kill();
  });

  it("converges after being killed mid-reconcile, including changes made while it was down", async () => {
    const lease = unique("lease");
    let op = await operatorFor("crash-1", lease);
    await op.waitUntil("leadership", async () => (await op.status()).leader);
    const org = unique("crash");
    await createOrg(org);
    await orgReady(org);
    const ns = `org-${org}`;
    await Promise.all(Array.from({ length: 20 }, (_, i) => createApp(ns, `app-${i}`)));
    await op.waitUntil("some reconciles", async () => (await op.reconciles("AppInstance")) >= 3);
    await op.kill("SIGKILL");
    // While no operator runs: more apps arrive.
    await Promise.all(Array.from({ length: 5 }, (_, i) => createApp(ns, `late-${i}`)));
    op = await operatorFor("crash-2", lease);
    // The dead replica's lease must expire first (15 s), then everything converges.
    await allRunning(ns, 25, 120_000);
    for (let i = 0; i < 20; i++) {
      const sets = await apps.listNamespacedReplicaSet({
        namespace: ns,
        labelSelector: `app.kubernetes.io/instance=app-${i}`,
      });
      expect(sets.items, `app-${i} rolled out once`).toHaveLength(1);
    }
    await op.kill();
  });

  it("recovers its watches after an apiserver restart and reconciles what changed meanwhile", async () => {
    const op = await operatorFor("restart", unique("lease"));
    await op.waitUntil("leadership", async () => (await op.status()).leader);
    const before = await op.metric("atrium_operator_informer_restarts_total");
    await cp.restart("kube-apiserver", 2000);
    // Changes at once, while the operator's watches are still reconnecting with backoff.
    const org = unique("restart");
    await createOrg(org);
    await createApp(`org-${org}`, "right-after").catch(() => undefined); // the namespace may not exist yet
    await orgReady(org);
    await op.waitUntil(
      "watch restarts counted",
      async () => (await op.metric("atrium_operator_informer_restarts_total")) > before,
    );
    // Later changes arrive through the re-established watches.
    await createApp(`org-${org}`, "later");
    await until("the later app Running", async () =>
      (await read("AppInstance", "later", `org-${org}`)).status?.phase === "Running" ? true : undefined,
    );
    await op.kill();
  });

  it("lets only the leader write, and fails over within the lease duration", async () => {
    const leaseMs = 4000;
    const lease = unique("lease");
    const first = await operatorFor("replica-a", lease, leaseMs);
    await first.waitUntil("a leader", async () => (await first.status()).leader);
    const second = await operatorFor("replica-b", lease, leaseMs);
    const org = unique("ha");
    await createOrg(org);
    await orgReady(org);
    expect((await second.status()).leader).toBe(false);
    expect(await second.allWrites()).toBe(0);
    expect(await first.objectWrites()).toBeGreaterThan(0);

    const killedAt = Date.now();
    await first.kill("SIGKILL");
    await second.waitUntil("takeover", async () => (await second.status()).leader, 30_000);
    const takeoverMs = Date.now() - killedAt;
    console.log(`[measure] leader takeover after SIGKILL: ${takeoverMs} ms (lease duration ${leaseMs} ms)`);
    // Expiry is judged on the follower's clock from its last observation of a renewal, plus
    // one retry period to notice: the bound is lease + retry period + scheduling slack.
    expect(takeoverMs).toBeLessThanOrEqual(leaseMs + 1000 + 1500);
    const next = unique("ha2");
    await createOrg(next);
    await orgReady(next);
    await second.kill();
  });
});
