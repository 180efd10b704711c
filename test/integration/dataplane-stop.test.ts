// The stop race, closed (issue 17 item 3; ADR 0024), on the real data plane: the real operator
// in Gateway API mode probes through the harness's Envoy (its listener, ATRIUM_DATA_PLANE_URLS)
// and reads Envoy's admin statistics (ATRIUM_DATAPLANE_STATS_URLS); the real gateway is the
// activator and answers the probe. Two orders are checked, each of which the stop used to skip:
//   1. the grace starts only once a probe through Envoy reaches the activator: with Envoy
//      Gateway frozen (SIGSTOP), Envoy keeps sending the app's requests to its pod after the
//      operator pointed the endpoints at the activator, and the app must keep running;
//   2. requests still under way on the pod when the grace ends hold the stop until they are
//      answered in full.
import { request } from "node:http";
import { KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AppWaits, appWaits, createOrg, endpointAddresses, endpointsMode } from "../cluster/app-waits.ts";
import { type ControlPlane, startControlPlane } from "../cluster/controlplane.ts";
import { type Dataplane, startDataplane } from "../cluster/dataplane.ts";
import { echoTemplate, type FakeApp, serveAppPods } from "../cluster/fake-pods.ts";
import { type GatewayProcess, startGateway } from "../cluster/gateway-process.ts";
import { installCrds } from "../cluster/install.ts";
import { type OperatorProcess, startOperator } from "../cluster/operator-process.ts";
import { freePorts } from "../cluster/ports.ts";
import { type Obj, until } from "./kube.ts";

const A = "atrium.dev/v1alpha1";
const ORG = "dps";
const NS = `org-${ORG}`;
const DOMAIN = "atrium.test";
/** Nobody's pod (fake pods get low addresses of their cluster's /20); .252 and .253 are other tests'. */
const ACTIVATOR_IP = "198.18.255.251";
const GRACE_MS = 3000;

let cp: ControlPlane;
let kc: KubeConfig;
let objects: KubernetesObjectApi;
let dataplane: Dataplane;
let operator: OperatorProcess;
let gateway: GatewayProcess;
let waits: AppWaits;
const fakes: FakeApp[] = [];

/** A request to Envoy's listener for `<app>.<org>.<domain>` (fetch cannot set Host). */
function viaEnvoy(name: string, path = "/") {
  return new Promise<{ status: number; body: string; servedBy?: string }>((resolve, reject) => {
    const req = request(
      { host: dataplane.host, port: dataplane.port, path, headers: { host: `${name}.${ORG}.${DOMAIN}` }, agent: false },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d) => {
          body += d;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body, servedBy: res.headers["x-served-by"] as string | undefined }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** The operator's stop probe, sent by hand through Envoy: its status and the activator's mark, if any. */
const probeViaEnvoy = (name: string) =>
  new Promise<{ status: number; mark?: string }>((resolve, reject) => {
    const req = request(
      {
        host: dataplane.host,
        port: dataplane.port,
        path: "/",
        headers: { host: `${name}.${ORG}.${DOMAIN}`, "x-atrium-probe": "activator" },
        agent: false,
      },
      (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, mark: res.headers["x-atrium-activator"] as string | undefined });
      },
    );
    req.on("error", reject);
    req.end();
  });

const gatewayRequests = (name: string) =>
  gateway.metric("atrium_gateway_requests_total", (l) => l.includes(`org="${ORG}"`) && l.includes(`app="${name}"`));

async function installApp(name: string, timeout: string) {
  await objects.create({
    apiVersion: A,
    kind: "AppInstance",
    metadata: { name, namespace: NS },
    spec: { template: "echo", access: { policy: "Public" }, idle: { policy: "Auto", timeout } },
  } as Obj);
  fakes.push(serveAppPods(kc, { namespace: NS, app: name, port: 8080 }));
  await waits.untilPhase(name, "Running");
  const pods = await waits.untilPods(name);
  // Envoy answers from the pod: the route is programmed and the slice at the pod.
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

/** Whether Envoy's cluster for the route's rule lists `address` as a host (its /clusters). */
const envoySends = async (name: string, rule: number, address: string) =>
  (await (await fetch(`${dataplane.adminUrl}/clusters`)).text()).includes(`/${name}/rule/${rule}::${address}:`);

beforeAll(async () => {
  cp = await startControlPlane();
  installCrds(cp);
  kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  objects = KubernetesObjectApi.makeApiClient(kc);
  waits = appWaits(kc, NS);
  dataplane = await startDataplane({ kubeconfig: cp.kubeconfig, binDir: cp.binDir, dir: cp.dir });
  await objects.create(echoTemplate() as Obj);
  const [activatorPort] = (await freePorts(1)) as [number];
  operator = await startOperator({
    kubeconfig: cp.kubeconfig,
    id: "dps",
    leaseNamespace: "atrium-system",
    leaseDurationMs: 4000,
    env: {
      ATRIUM_BASE_DOMAIN: DOMAIN,
      ATRIUM_ROUTING: "gateway-api",
      ATRIUM_GATEWAY_API_PARENT: `${dataplane.gateway.namespace}/${dataplane.gateway.name}/http`,
      ATRIUM_ACTIVATOR_ADDRESSES: ACTIVATOR_IP,
      ATRIUM_ACTIVATOR_PORT: String(activatorPort),
      ATRIUM_STOP_GRACE: `${GRACE_MS}ms`,
      // The stop's checks: the probe through Envoy's listener, the re-check in its admin's statistics.
      ATRIUM_DATA_PLANE_URLS: dataplane.url,
      ATRIUM_DATAPLANE_STATS_URLS: dataplane.adminUrl,
      ATRIUM_STOP_DRAIN_TIMEOUT: "1m",
    },
  });
  gateway = await startGateway({
    kubeconfig: cp.kubeconfig,
    port: activatorPort,
    env: {
      ATRIUM_GATEWAY_ADDR: `0.0.0.0:${activatorPort}`,
      ATRIUM_ROUTING: "gateway-api",
      ATRIUM_BASE_DOMAIN: DOMAIN,
      // No statistics here and writes a minute apart: what holds a stop must be the operator's checks.
      ATRIUM_GATEWAY_FLUSH_INTERVAL_MS: "60000",
      ATRIUM_GATEWAY_WAKE_TIMEOUT_MS: "20000",
    },
  });
  await createOrg(kc, ORG);
}, 900_000);

afterAll(async () => {
  // Never leave Envoy Gateway frozen, whatever failed.
  if (dataplane) process.kill(dataplane.pids.envoyGateway, "SIGCONT");
  for (const f of fakes) await f.stop();
  await gateway?.kill();
  await operator?.kill();
  await dataplane?.stop();
  await cp?.stop();
});

describe("the stop sequence through a real data plane (Knative's order)", () => {
  it("sends the probe on the route's health rule: never counted on the app rule; a pod's answer has no mark", async () => {
    await installApp("probed", "10m");
    const appRule = await dataplane.routeStats(NS, "probed", 1);
    // The probe through Envoy, to the running app: the header match sends it to the health
    // rule, whose endpoints are the pod's while it runs: the pod answers, without the mark.
    const toPod = await probeViaEnvoy("probed");
    expect(toPod).toEqual({ status: 200, mark: undefined });
    const health = await dataplane.routeStats(NS, "probed", 0);
    expect(health.upstream_rq_total).toBeGreaterThanOrEqual(1);
    expect((await dataplane.routeStats(NS, "probed", 1)).upstream_rq_total).toBe(appRule.upstream_rq_total);
  });

  it("does not start the grace until a probe through Envoy sees the activator; then stops", async () => {
    const pods = await installApp("frozen", "8s");
    expect(endpointsMode(await waits.slice("frozen"))).toBe("serve"); // frozen before its stop begins
    // Envoy Gateway frozen: Envoy keeps the endpoints it has, the pod's, whatever the slice says.
    process.kill(dataplane.pids.envoyGateway, "SIGSTOP");
    let resumedAt = 0;
    try {
      await waits.untilStopSequence("frozen", 0, 30_000);
      expect(endpointAddresses(await waits.slice("frozen"))).toEqual([ACTIVATOR_IP]);
      // Three graces later, the app still runs, and Envoy still sends its requests to the pod:
      // scaled to zero now, they would have nowhere to go.
      await new Promise((r) => setTimeout(r, 3 * GRACE_MS));
      expect(await waits.replicas("frozen")).toBe(1);
      expect(await waits.podIps("frozen")).toEqual(pods);
      expect(await envoySends("frozen", 1, ACTIVATOR_IP)).toBe(false);
      const res = await viaEnvoy("frozen", "/while-frozen");
      expect(res).toMatchObject({ status: 200, body: `hello from frozen at ${pods[0]}/while-frozen` });
      expect(await gatewayRequests("frozen")).toBe(0);
    } finally {
      process.kill(dataplane.pids.envoyGateway, "SIGCONT");
      resumedAt = Date.now();
    }
    // Envoy Gateway pushes the slice's endpoints; the probe sees the activator; the grace runs; zero.
    await until(
      "Envoy sending frozen's traffic to the activator",
      () => envoySends("frozen", 1, ACTIVATOR_IP) || undefined,
      60_000,
      100,
    );
    await waits.untilPhase("frozen", "Stopped", 60_000);
    const stoppedAt = Date.parse((await waits.app("frozen")).status?.stoppedAt);
    // Whole seconds in status: the stop came a grace after the thaw at the earliest.
    expect(stoppedAt).toBeGreaterThanOrEqual(Math.floor((resumedAt + GRACE_MS) / 1000) * 1000 - 1000);
    expect(await waits.replicas("frozen")).toBe(0);
    expect(endpointsMode(await waits.slice("frozen"))).toBe("proxy");
    // The activator answers a probe itself, naming the app: no request, no wake, still stopped.
    const wakes = await gateway.metric("atrium_gateway_wakes_total");
    expect(await probeViaEnvoy("frozen")).toEqual({ status: 200, mark: `${ORG}/frozen` });
    await new Promise((r) => setTimeout(r, 2000));
    expect(await gateway.metric("atrium_gateway_wakes_total")).toBe(wakes);
    expect(await gatewayRequests("frozen")).toBe(0);
    expect((await waits.app("frozen")).status?.phase).toBe("Stopped");
  });

  it("holds zero replicas while a request is under way on the pod at the end of the grace, and answers it in full", async () => {
    const pods = await installApp("slow", "8s");
    // Sent straight to the pod through Envoy just before the stop begins, answered 10 s later
    // (Envoy's default route timeout is 15 s): the grace ends while it is under way.
    const stopsAt = Date.parse((await waits.app("slow")).status?.stopsAt);
    await new Promise((r) => setTimeout(r, Math.max(0, stopsAt - 1500 - Date.now())));
    expect(endpointsMode(await waits.slice("slow"))).toBe("serve");
    const started = Date.now();
    const slow = viaEnvoy("slow", "/slow?ms=10000");
    const since = await waits.untilStopSequence("slow", 0, 30_000);
    await until(
      "Envoy sending slow's traffic to the activator",
      () => envoySends("slow", 1, ACTIVATOR_IP) || undefined,
      30_000,
      50,
    );
    // The grace is over and more: the request is still under way, so the pod stays.
    await new Promise((r) => setTimeout(r, Math.max(0, since + GRACE_MS + 2500 - Date.now())));
    expect((await dataplane.routeStats(NS, "slow", 1)).upstream_rq_active).toBe(1);
    expect(await waits.replicas("slow")).toBe(1);
    expect(await waits.podIps("slow")).toEqual(pods);
    expect(endpointsMode(await waits.slice("slow"))).toBe("proxy");
    // Answered in full by the pod that was kept for it…
    expect(await slow).toEqual({ status: 200, body: `hello from slow at ${pods[0]}/slow?ms=10000`, servedBy: pods[0] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(10_000);
    expect(await gatewayRequests("slow")).toBe(0); // straight to the pod, never through the activator
    // …and then the stop goes on, to zero.
    await waits.untilPhase("slow", "Stopped", 30_000);
    expect(await waits.replicas("slow")).toBe(0);
  });
});
