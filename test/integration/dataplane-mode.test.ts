// Gateway API mode end to end (issue 17): the real operator in gateway-api mode attaches each
// app's HTTPRoute to the harness's real data plane (Envoy Gateway + Envoy, dataplane.ts), the
// real gateway runs as the activator only, and every request here goes to Envoy's listener with
// the app's Host. Warm traffic must flow Envoy → pod without Atrium's gateway; a stopped or
// stopping app's traffic must reach the activator through the EndpointSlice and be answered.
import { request } from "node:http";
import { AppsV1Api, CoreV1Api, KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, startControlPlane } from "../cluster/controlplane.ts";
import { type Dataplane, startDataplane } from "../cluster/dataplane.ts";
import { echoTemplate, type FakeApp, serveAppPods } from "../cluster/fake-pods.ts";
import { type GatewayProcess, startGateway } from "../cluster/gateway-process.ts";
import { installCrds } from "../cluster/install.ts";
import { type OperatorProcess, startOperator } from "../cluster/operator-process.ts";
import { freePorts } from "../cluster/ports.ts";
import { type Obj, until } from "./kube.ts";

const A = "atrium.dev/v1alpha1";
const ORG = "dpm";
const NS = `org-${ORG}`;
const DOMAIN = "atrium.test";
/**
 * Where the activator answers for Envoy. EndpointSlices refuse loopback and link-local
 * addresses; the harness makes all of 198.18.0.0/16 local (Envoy's namespace reaches it through
 * its veth) and hands fake pods low addresses of each cluster's /20, so this high one, on a free
 * port, is nobody's pod. (gateway-api-mode.test.ts uses .253.)
 */
const ACTIVATOR_IP = "198.18.255.252";
/**
 * Envoy must learn the slice's new endpoints within it (waited for below); short enough that
 * the race test's app (3 s idle timeout) is checked again before it idles into its next stop.
 */
const GRACE_MS = 3000;

let cp: ControlPlane;
let kc: KubeConfig;
let objects: KubernetesObjectApi;
let apps: AppsV1Api;
let core: CoreV1Api;
let dataplane: Dataplane;
let operator: OperatorProcess;
let gateway: GatewayProcess;
const fakes: FakeApp[] = [];

type Slice = {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  endpoints?: { addresses: string[] }[];
};
const read = async (kind: string, apiVersion: string, name: string) =>
  (await objects.read({ apiVersion, kind, metadata: { name, namespace: NS } })) as any;
const app = (name: string) => read("AppInstance", A, name);
const slice = async (name: string): Promise<Slice> => read("EndpointSlice", "discovery.k8s.io/v1", `${name}-route`);
const mode = (s: Slice) => s.metadata.labels?.["atrium.dev/endpoints"];
const addresses = (s: Slice) => (s.endpoints ?? []).flatMap((e) => e.addresses).sort();
const replicas = async (name: string) => (await apps.readNamespacedDeployment({ name, namespace: NS })).spec?.replicas;
const podIps = async (name: string) =>
  (await core.listNamespacedPod({ namespace: NS, labelSelector: `app.kubernetes.io/instance=${name}` })).items
    .filter((p) => p.status?.phase === "Running" && !p.metadata?.deletionTimestamp && p.status.podIP)
    .map((p) => p.status?.podIP as string)
    .sort();
const phaseIs = (name: string, phase: string) => async () =>
  (await app(name)).status?.phase === phase ? true : undefined;

/** Requests Atrium's gateway answered for one app (its /metrics). */
const gatewayRequests = (name: string) =>
  gateway.metric("atrium_gateway_requests_total", (l) => l.includes(`org="${ORG}"`) && l.includes(`app="${name}"`));
/** Every request Atrium's gateway answered, whichever app (or none) it named. */
const allGatewayRequests = () => gateway.metric("atrium_gateway_requests_total");
const gatewayWakes = () => gateway.metric("atrium_gateway_wakes_total");
const operatorWakes = () => operator.metric("atrium_operator_app_wakes_total");

/** A request to Envoy's listener for `<app>.<org>.<domain>` (fetch cannot set Host). */
function viaEnvoy(name: string, path = "/") {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      { host: dataplane.host, port: dataplane.port, path, headers: { host: `${name}.${ORG}.${DOMAIN}` }, agent: false },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d) => {
          body += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

async function installApp(name: string, timeout: string) {
  await objects.create({
    apiVersion: A,
    kind: "AppInstance",
    metadata: { name, namespace: NS },
    spec: { template: "echo", access: { policy: "Public" }, idle: { policy: "Auto", timeout } },
  } as Obj);
  fakes.push(serveAppPods(kc, { namespace: NS, app: name, port: 8080 }));
  await until(`${name} Running`, phaseIs(name, "Running"));
}

/** Waits until Envoy answers for the app from its pod (the route is programmed, the slice at the pod). */
async function servedByPod(name: string) {
  const pods = await until(`${name}'s pod`, async () => ((await podIps(name)).length ? podIps(name) : undefined));
  await until(
    `${name} through Envoy`,
    async () => {
      const res = await viaEnvoy(name, "/ready").catch(() => undefined);
      return res?.status === 200 && res.body === `hello from ${name} at ${pods[0]}/ready` ? true : undefined;
    },
    120_000,
    100,
  );
  return pods;
}

async function stopped(name: string) {
  await until(`${name} Stopped`, phaseIs(name, "Stopped"), 60_000);
  const s = await slice(name);
  expect(mode(s)).toBe("proxy");
  expect(addresses(s)).toEqual([ACTIVATOR_IP]);
  expect(await replicas(name)).toBe(0);
}

beforeAll(async () => {
  cp = await startControlPlane();
  installCrds(cp);
  kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  objects = KubernetesObjectApi.makeApiClient(kc);
  apps = kc.makeApiClient(AppsV1Api);
  core = kc.makeApiClient(CoreV1Api);
  // Installs the Gateway API's CRDs too, which the operator needs at start in this mode.
  dataplane = await startDataplane({ kubeconfig: cp.kubeconfig, binDir: cp.binDir, dir: cp.dir });
  await objects.create(echoTemplate() as Obj);
  const [activatorPort] = (await freePorts(1)) as [number];
  operator = await startOperator({
    kubeconfig: cp.kubeconfig,
    id: "dpm",
    leaseNamespace: "atrium-system",
    leaseDurationMs: 4000,
    env: {
      ATRIUM_BASE_DOMAIN: DOMAIN,
      ATRIUM_ROUTING: "gateway-api",
      ATRIUM_GATEWAY_API_PARENT: `${dataplane.gateway.namespace}/${dataplane.gateway.name}/http`,
      ATRIUM_ACTIVATOR_ADDRESSES: ACTIVATOR_IP,
      ATRIUM_ACTIVATOR_PORT: String(activatorPort),
      ATRIUM_STOP_GRACE: `${GRACE_MS}ms`,
    },
  });
  gateway = await startGateway({
    kubeconfig: cp.kubeconfig,
    port: activatorPort,
    env: {
      // Every local address: 127.0.0.1 for the harness's readiness check, ACTIVATOR_IP for Envoy.
      ATRIUM_GATEWAY_ADDR: `0.0.0.0:${activatorPort}`,
      ATRIUM_ROUTING: "gateway-api",
      ATRIUM_BASE_DOMAIN: DOMAIN,
      // Its periodic writes a minute apart: what cancels a stop must be the activator's prompt one.
      ATRIUM_GATEWAY_FLUSH_INTERVAL_MS: "60000",
      ATRIUM_GATEWAY_WAKE_TIMEOUT_MS: "20000",
    },
  });
  await objects.create({
    apiVersion: A,
    kind: "Organization",
    metadata: { name: ORG },
    spec: { displayName: "DPM" },
  } as Obj);
  await until("the org namespace", () => core.readNamespace({ name: NS }));
}, 900_000);

afterAll(async () => {
  for (const f of fakes) await f.stop();
  await gateway?.kill();
  await operator?.kill();
  await dataplane?.stop();
  await cp?.stop();
});

describe("Gateway API mode on a real data plane (Envoy) with Atrium's gateway as the activator", () => {
  it("serves warm requests from the pod through Envoy without touching Atrium's gateway", async () => {
    await installApp("warm", "10m");
    const pods = await servedByPod("warm");
    const before = { gateway: await allGatewayRequests(), envoy: await dataplane.routeStats(NS, "warm", 1) };
    for (let i = 0; i < 20; i++)
      expect(await viaEnvoy("warm", `/warm-${i}`)).toEqual({
        status: 200,
        body: `hello from warm at ${pods[0]}/warm-${i}`,
      });
    // Envoy counted them on the route's app rule (rule 0 is the health checks')...
    const counted = await until("20 requests in the route's statistics", async () => {
      const s = await dataplane.routeStats(NS, "warm", 1);
      return s.upstream_rq_total >= before.envoy.upstream_rq_total + 20 ? s : undefined;
    });
    expect(counted.upstream_rq_total).toBe(before.envoy.upstream_rq_total + 20);
    // ...and Atrium's gateway saw none of them.
    expect(await allGatewayRequests()).toBe(before.gateway);
    expect(await gatewayRequests("warm")).toBe(0);
  });

  it("stops an idle app with its endpoints at the activator, and the next request through Envoy wakes it", async () => {
    await installApp("nap", "3s");
    await servedByPod("nap");
    await stopped("nap");
    const wakes = await gatewayWakes();
    const res = await viaEnvoy("nap", "/after-wake?x=1");
    const woken = await podIps("nap");
    expect(woken).toHaveLength(1);
    expect(res).toEqual({ status: 200, body: `hello from nap at ${woken[0]}/after-wake?x=1` });
    // It went through the activator, which woke the app once.
    expect(await gatewayWakes()).toBe(wakes + 1);
    expect(await gatewayRequests("nap")).toBeGreaterThanOrEqual(1);
    // Then the endpoints go back to the pod, and warm traffic leaves the activator again.
    await until("endpoints back at the pod", async () => {
      const s = await slice("nap");
      return mode(s) === "serve" && addresses(s).join() === woken.join() ? true : undefined;
    });
    await servedByPod("nap");
    const settled = await gatewayRequests("nap");
    for (let i = 0; i < 5; i++) expect((await viaEnvoy("nap", "/warm-again")).status).toBe(200);
    expect(await gatewayRequests("nap")).toBe(settled);
  });

  it("wakes once for 50 concurrent requests through Envoy, and answers all of them", async () => {
    await installApp("crowd", "3s");
    await servedByPod("crowd");
    await stopped("crowd");
    const wakes = { gateway: await gatewayWakes(), operator: await operatorWakes() };
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => viaEnvoy("crowd", `/c${i}`)));
    const pods = await podIps("crowd");
    expect(pods).toHaveLength(1);
    expect(answers).toEqual(
      Array.from({ length: 50 }, (_, i) => ({ status: 200, body: `hello from crowd at ${pods[0]}/c${i}` })),
    );
    expect(await gatewayWakes()).toBe(wakes.gateway + 1);
    expect(
      await until("the operator's wake", async () =>
        (await operatorWakes()) > wakes.operator ? operatorWakes() : undefined,
      ),
    ).toBe(wakes.operator + 1);
  });

  it("answers a request that arrives during the stop grace from the app still there, and cancels the stop", async () => {
    await installApp("race", "3s");
    const pods = await servedByPod("race");
    // Twice: the first request is this gateway's first activity for the app, which its periodic
    // flush writes within a second anyway; the second comes well within the flush interval of
    // that write, so only the activator's prompt write (for a request carrying the route's
    // identity header) can cancel the stop in time.
    let previous = 0;
    for (const round of [1, 2]) {
      const since = await until(
        `stop sequence ${round}`,
        async () => {
          const s = await slice("race");
          const at = Date.parse(s.metadata.annotations?.["atrium.dev/proxy-since"] ?? "");
          return mode(s) === "proxy" && at > previous ? at : undefined;
        },
        30_000,
        20,
      );
      previous = since;
      // Envoy learns the slice's new endpoints a moment later (its /clusters lists the hosts).
      await until(
        "Envoy sending race's traffic to the activator",
        async () =>
          (await (await fetch(`${dataplane.adminUrl}/clusters`)).text()).includes(`/race/rule/1::${ACTIVATOR_IP}:`)
            ? true
            : undefined,
        GRACE_MS,
        50,
      );
      const wakes = await gatewayWakes();
      const through = await gatewayRequests("race");
      const res = await viaEnvoy("race", `/during-stop-${round}`);
      expect(res).toEqual({ status: 200, body: `hello from race at ${pods[0]}/during-stop-${round}` });
      // Through the activator to the pod still there, without a wake.
      expect(
        await until("the activator's count", async () =>
          (await gatewayRequests("race")) > through ? gatewayRequests("race") : undefined,
        ),
      ).toBe(through + 1);
      expect(await gatewayWakes()).toBe(wakes);
      // The stop is cancelled: the endpoints go back to the same pod, never scaled away. (Seen
      // while it lasts: the app's 3 s idle timeout starts its next stop soon after.)
      await until(
        "endpoints back at the pod",
        async () => {
          const s = await slice("race");
          return mode(s) === "serve" && addresses(s).join() === pods.join() ? true : undefined;
        },
        30_000,
        20,
      );
      expect(await replicas("race")).toBe(1);
      expect(await podIps("race")).toEqual(pods);
    }
  });
});
