// wake-real: wakes of the demo app (images/demo-app) on a real node (containerd + kubelet,
// test/cluster/real-node.ts), each timed from the request to the first byte of the app's
// answer through the gateway, so it includes the real container start and its readiness
// probe. Side by side in the same run, the same app woken on KWOK (a server started at the
// pod address as soon as KWOK reports the pod Running): the difference is the container.
// Wakes alternate real, KWOK, real, KWOK … on one control plane, operator and gateway.
import { KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import { kubectlIn, startControlPlane } from "../../test/cluster/controlplane.ts";
import { serveAppPods } from "../../test/cluster/fake-pods.ts";
import { startGateway } from "../../test/cluster/gateway-process.ts";
import { installCatalog, installCrds } from "../../test/cluster/install.ts";
import { startOperator } from "../../test/cluster/operator-process.ts";
import { placeOnRealNodeAnnotations, realNodeUnsupported } from "../../test/cluster/real-node.ts";
import { until } from "../../test/cluster/until.ts";
import { writeResult } from "../results.ts";
import { percentile } from "../stats.ts";

const WAKES = Number(process.env.BENCH_WAKES ?? 20);
const A = "atrium.dev/v1alpha1";
const log = (m: string) => console.log(`[wake-real] ${m}`);
const METHOD =
  `${WAKES} wakes each of the demo app (catalog demo-notes: Node, a volume, readiness probe every 1 s after 1 s), ` +
  "each a fresh install stopped after a 2 s idle timeout (a woken app runs the 5 min wake grace), through the gateway: on a real node (containerd 1.6 + runc from Debian, " +
  "kubelet v1.34) and on KWOK (a server started at the pod address once the pod is Running), alternating in one " +
  "run on one control plane; request to response headers, measured by the client; p50 and p99 (nearest rank).";
const GOALS = { wake_real_p50_ms: "<= 2000", wake_real_p99_ms: "<= 5000" };

export async function run() {
  const unsupported = realNodeUnsupported();
  if (unsupported) {
    writeResult({ scenario: "wake-real", method: `Not run: ${unsupported}. ${METHOD}`, metrics: {}, goals: GOALS });
    return;
  }
  const cp = await startControlPlane({ log, realNode: { images: ["demo-notes"] } });
  const node = cp.realNode;
  if (!node) throw new Error("no real node");
  installCrds(cp);
  installCatalog(cp);
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const operator = await startOperator({ kubeconfig: cp.kubeconfig, id: "bench", leaseNamespace: "atrium-system" });
  const gateway = await startGateway({ kubeconfig: cp.kubeconfig, env: { ATRIUM_GATEWAY_FLUSH_INTERVAL_MS: "500" } });
  const fakes: ReturnType<typeof serveAppPods>[] = [];
  try {
    const orgs = { real: "wake-real", kwok: "wake-kwok" } as const;
    for (const org of Object.values(orgs)) {
      await objects.create({
        apiVersion: A,
        kind: "Organization",
        metadata: { name: org },
        spec: { displayName: org },
      } as never);
      await until(`namespace org-${org}`, () =>
        objects.read({ apiVersion: "v1", kind: "Namespace", metadata: { name: `org-${org}` } }),
      );
    }
    kubectlIn(
      cp.binDir,
      cp.kubeconfig,
      "annotate",
      "--overwrite",
      `namespace/org-${orgs.real}`,
      ...Object.entries(placeOnRealNodeAnnotations()).map(([k, v]) => `${k}=${v}`),
    ).run();
    const phase = async (org: string, name: string) =>
      (
        (await objects.read({
          apiVersion: A,
          kind: "AppInstance",
          metadata: { name, namespace: `org-${org}` },
        })) as any
      ).status?.phase;
    // A woken app runs at least the operator's wake grace (5 min), so each wake is of a fresh
    // install: it starts, idles 2 s, stops, and the timed request wakes it.
    const wake = async (org: string, i: number) => {
      const name = `notes-${i}`;
      const namespace = `org-${org}`;
      if (org === orgs.real) node.provideVolume(namespace, `${name}-data`);
      const fake =
        org === orgs.real ? undefined : serveAppPods(kc, { namespace, app: name, port: 8080, body: () => "[]" });
      if (fake) fakes.push(fake);
      await objects.create({
        apiVersion: A,
        kind: "AppInstance",
        metadata: { name, namespace },
        spec: { template: "demo-notes", access: { policy: "Public" }, idle: { policy: "Auto", timeout: "2s" } },
      } as never);
      await until(`${namespace}/${name} to stop`, async () => (await phase(org, name)) === "Stopped", 120_000);
      const started = performance.now();
      const res = await fetch(`${gateway.url}/apps/${org}/${name}/notes`);
      const ms = performance.now() - started; // headers arrived: the first byte
      const body = await res.text();
      if (res.status !== 200 || !body.startsWith("[")) throw new Error(`wake of ${org}: ${res.status} ${body}`);
      await objects.delete({ apiVersion: A, kind: "AppInstance", metadata: { name, namespace } } as never);
      await fake?.stop();
      return ms;
    };
    const real: number[] = [];
    const kwok: number[] = [];
    for (let i = 0; i < WAKES; i++) {
      real.push(await wake(orgs.real, i));
      kwok.push(await wake(orgs.kwok, i));
      log(`wake ${i + 1}: real ${real.at(-1)?.toFixed(0)} ms, KWOK ${kwok.at(-1)?.toFixed(0)} ms`);
    }
    writeResult({
      scenario: "wake-real",
      method: METHOD,
      metrics: {
        wake_real_p50_ms: Math.round(percentile(real, 50)),
        wake_real_p99_ms: Math.round(percentile(real, 99)),
        wake_kwok_p50_ms: Math.round(percentile(kwok, 50)),
        wake_kwok_p99_ms: Math.round(percentile(kwok, 99)),
      },
      goals: GOALS,
    });
  } finally {
    for (const f of fakes) await f.stop();
    await gateway.kill();
    await operator.kill();
    await cp.stop();
  }
}
