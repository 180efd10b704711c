// reconcile-1000: 50 organizations × 20 apps created at once on the local control plane.
// Measures the time until every AppInstance is Ready, the operator's peak RSS (VmHWM of its
// process), and its writes during 60 s of steady state afterwards.
import { readFileSync } from "node:fs";
import { KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import { OPERATOR_NODE_FLAGS } from "../../operator/src/node-flags.ts";
import { startControlPlane } from "../../test/cluster/controlplane.ts";
import { echoTemplate } from "../../test/cluster/fake-pods.ts";
import { installCatalog, installCrds } from "../../test/cluster/install.ts";
import { startOperator } from "../../test/cluster/operator-process.ts";
import { until } from "../../test/cluster/until.ts";
import { writeResult } from "../results.ts";

const ORGS = Number(process.env.BENCH_ORGS ?? 50);
const APPS_PER_ORG = Number(process.env.BENCH_APPS_PER_ORG ?? 20);
const TEMPLATE = process.env.BENCH_TEMPLATE ?? "bench-echo";
const STEADY_MS = Number(process.env.BENCH_STEADY_MS ?? 60_000);
const A = "atrium.dev/v1alpha1";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (m: string) => console.log(`[reconcile-1000] ${m}`);

/** Runs `work` over `items` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

const peakRssMb = (pid: number) =>
  Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmHWM:\s+(\d+) kB/)?.[1] ?? 0) / 1024;

export async function run() {
  const cp = await startControlPlane({ log });
  try {
    installCrds(cp);
    installCatalog(cp);
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    const objects = KubernetesObjectApi.makeApiClient(kc);
    // A template without a volume: what is measured is the operator, not the test cluster's
    // hostPath provisioner (it binds claims one at a time; see BENCH_TEMPLATE to include it).
    await objects.create(echoTemplate("bench-echo", 80) as never);
    const op = await startOperator({ kubeconfig: cp.kubeconfig, id: "bench", leaseNamespace: "atrium-system" });
    await op.waitUntil("leadership", async () => (await op.status()).leader);

    const total = ORGS * APPS_PER_ORG;
    const started = Date.now();
    const orgs = Array.from({ length: ORGS }, (_, i) => `bench-${i}`);
    await pool(orgs, 25, (name) =>
      objects.create({ apiVersion: A, kind: "Organization", metadata: { name }, spec: { displayName: name } } as never),
    );
    // An app needs its org's namespace; create each org's apps as soon as it exists.
    await pool(orgs, 10, async (org) => {
      const ns = `org-${org}`;
      await until(`namespace ${ns}`, () =>
        objects.read({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }),
      );
      await pool(
        Array.from({ length: APPS_PER_ORG }, (_, i) => `app-${i}`),
        5,
        (name) =>
          objects.create({
            apiVersion: A,
            kind: "AppInstance",
            metadata: { name, namespace: ns },
            spec: { template: TEMPLATE },
          } as never),
      );
    });
    log(`created ${ORGS} orgs and ${total} apps in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    let ready = 0;
    let lastLog = 0;
    while (ready < total) {
      await sleep(500);
      const list = (await objects.list(A, "AppInstance")).items as any[];
      ready = list.filter((a) =>
        a.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True"),
      ).length;
      if (Date.now() - lastLog > 5000) {
        lastLog = Date.now();
        const phases: Record<string, number> = {};
        for (const a of list) phases[a.status?.phase ?? "none"] = (phases[a.status?.phase ?? "none"] ?? 0) + 1;
        log(`${((Date.now() - started) / 1000).toFixed(0)} s: ${ready}/${total} Ready ${JSON.stringify(phases)}`);
      }
      if (Date.now() - started > 300_000) throw new Error(`only ${ready}/${total} Ready after 5 minutes`);
    }
    const allReadyS = (Date.now() - started) / 1000;
    log(`all ${total} apps Ready after ${allReadyS.toFixed(1)} s`);

    await op.settled(2000);
    const writesBefore = await op.objectWrites();
    const leaseBefore = await op.metric("atrium_operator_api_writes_total", (l) => l.includes('resource="leases"'));
    await sleep(STEADY_MS);
    const steadyWrites = (await op.objectWrites()) - writesBefore;
    const leaseWrites =
      (await op.metric("atrium_operator_api_writes_total", (l) => l.includes('resource="leases"'))) - leaseBefore;
    const rss = peakRssMb(op.pid);
    const heapMb = (await op.metric("atrium_operator_nodejs_heap_size_used_bytes")) / 2 ** 20;
    log(`operator heap in use after the run: ${heapMb.toFixed(0)} MB`);
    log(
      `steady state: ${steadyWrites} object writes, ${leaseWrites} lease renewals in ${STEADY_MS / 1000} s; peak RSS ${rss.toFixed(0)} MB`,
    );
    await op.kill();

    writeResult({
      scenario: "reconcile-1000",
      method:
        `${ORGS} orgs x ${APPS_PER_ORG} apps (template ${TEMPLATE}: ${TEMPLATE === "bench-echo" ? "Deployment and Service" : "Deployment, Service and PVC"}) created at once on the local control plane ` +
        "(etcd, kube-apiserver, controller-manager, scheduler, 1 KWOK node); clock from the first create to every AppInstance " +
        `Ready=True (polled every 0.5 s); peak RSS = VmHWM of the operator process; steady-state writes = the operator's ` +
        `writes to anything but its leader Lease (and Events) during ${STEADY_MS / 1000} s after the queues drained ` +
        `(lease renewals in that window: ${leaseWrites}). Operator flags: ${OPERATOR_NODE_FLAGS.join(" ")}. One run.`,
      metrics: {
        all_ready_s: Math.round(allReadyS * 10) / 10,
        operator_peak_rss_mb: Math.round(rss),
        steady_state_writes: steadyWrites,
      },
      goals: { all_ready_s: "<= 60", operator_peak_rss_mb: "< 250", steady_state_writes: "== 0" },
    });
  } finally {
    await cp.stop();
  }
}
