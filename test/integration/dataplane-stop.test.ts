// The stop race, closed (issue 17 item 3; ADR 0024), on the real data plane: the real operator
// in Gateway API mode probes through the harness's Envoy (its listener, ATRIUM_DATA_PLANE_URLS)
// and reads Envoy's admin statistics (ATRIUM_DATAPLANE_STATS_URLS); the real gateway is the
// activator and answers the probe. Two orders are checked, each of which the stop used to skip:
//   1. the grace starts only once a probe through Envoy reaches the activator: with Envoy
//      Gateway frozen (SIGSTOP), Envoy keeps sending the app's requests to its pod after the
//      operator pointed the endpoints at the activator, and the app must keep running;
//   2. requests still under way on the pod when the grace ends hold the stop until they are
//      answered in full.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { endpointAddresses, endpointsMode } from "../cluster/app-waits.ts";
import { requestVia } from "../cluster/dataplane-request.ts";
import { type DataplaneWorld, startDataplaneWorld } from "../cluster/dataplane-world.ts";
import { serveAppPods } from "../cluster/fake-pods.ts";
import { type Obj, until } from "./kube.ts";

const A = "atrium.dev/v1alpha1";
const ORG = "dps";
const NS = `org-${ORG}`;
const DOMAIN = "atrium.test";
/** Nobody's pod (fake pods get low addresses of their cluster's /20); .252 and .253 are other tests'. */
const ACTIVATOR_IP = "198.18.255.251";
const GRACE_MS = 3000;

let w: DataplaneWorld;

/** A request to Envoy's listener for `<app>.<org>.<domain>`: its status, body and the pod that answered. */
async function viaEnvoy(name: string, path = "/") {
  const res = await requestVia(w.dataplane, { host: `${name}.${ORG}.${DOMAIN}`, path });
  return { status: res.status, body: res.body, servedBy: res.headers["x-served-by"] as string | undefined };
}

/** The operator's stop probe, sent by hand through Envoy: its status and the activator's mark, if any. */
async function probeViaEnvoy(name: string) {
  const res = await requestVia(w.dataplane, {
    host: `${name}.${ORG}.${DOMAIN}`,
    headers: { "x-atrium-probe": "activator" },
  });
  return { status: res.status, mark: res.headers["x-atrium-activator"] as string | undefined };
}

const gatewayRequests = (name: string) =>
  w.gateway.metric("atrium_gateway_requests_total", (l) => l.includes(`org="${ORG}"`) && l.includes(`app="${name}"`));

async function installApp(name: string, timeout: string) {
  await w.objects.create({
    apiVersion: A,
    kind: "AppInstance",
    metadata: { name, namespace: NS },
    spec: { template: "echo", access: { policy: "Public" }, idle: { policy: "Auto", timeout } },
  } as Obj);
  w.fakes.push(serveAppPods(w.kc, { namespace: NS, app: name, port: 8080 }));
  await w.waits.untilPhase(name, "Running");
  // Envoy answers from the pod: the route is programmed and the slice at the pod.
  return w.waits.untilServedByPod(name, (path) => viaEnvoy(name, path));
}

/** Whether Envoy's cluster for the route's rule lists `address` as a host (its /clusters). */
const envoySends = async (name: string, rule: number, address: string) =>
  (await (await fetch(`${w.dataplane.adminUrl}/clusters`)).text()).includes(`/${name}/rule/${rule}::${address}:`);

beforeAll(async () => {
  // The stop's checks (the probe through Envoy's listener, the re-check in its admin's
  // statistics) are activator-mode.ts's.
  w = await startDataplaneWorld({
    id: "dps",
    org: ORG,
    baseDomain: DOMAIN,
    activatorIp: ACTIVATOR_IP,
    graceMs: GRACE_MS,
    operatorEnv: { ATRIUM_STOP_DRAIN_TIMEOUT: "1m" },
    // No statistics here and writes a minute apart: what holds a stop must be the operator's checks.
    gatewayEnv: { ATRIUM_GATEWAY_FLUSH_INTERVAL_MS: "60000" },
  });
}, 900_000);

afterAll(async () => {
  // Never leave Envoy Gateway frozen, whatever failed.
  if (w) process.kill(w.dataplane.pids.envoyGateway, "SIGCONT");
  await w?.stop();
});

describe("the stop sequence through a real data plane (Knative's order)", () => {
  it("sends the probe on the route's health rule: never counted on the app rule; a pod's answer has no mark", async () => {
    await installApp("probed", "10m");
    const appRule = await w.dataplane.routeStats(NS, "probed", 1);
    // The probe through Envoy, to the running app: the header match sends it to the health
    // rule, whose endpoints are the pod's while it runs: the pod answers, without the mark.
    const toPod = await probeViaEnvoy("probed");
    expect(toPod).toEqual({ status: 200, mark: undefined });
    const health = await w.dataplane.routeStats(NS, "probed", 0);
    expect(health.upstream_rq_total).toBeGreaterThanOrEqual(1);
    expect((await w.dataplane.routeStats(NS, "probed", 1)).upstream_rq_total).toBe(appRule.upstream_rq_total);
  });

  it("does not start the grace until a probe through Envoy sees the activator; then stops", async () => {
    const pods = await installApp("frozen", "8s");
    expect(endpointsMode(await w.waits.slice("frozen"))).toBe("serve"); // frozen before its stop begins
    // Envoy Gateway frozen: Envoy keeps the endpoints it has, the pod's, whatever the slice says.
    process.kill(w.dataplane.pids.envoyGateway, "SIGSTOP");
    let resumedAt = 0;
    try {
      await w.waits.untilStopSequence("frozen", 0, 30_000);
      expect(endpointAddresses(await w.waits.slice("frozen"))).toEqual([ACTIVATOR_IP]);
      // Three graces later, the app still runs, and Envoy still sends its requests to the pod:
      // scaled to zero now, they would have nowhere to go.
      await new Promise((r) => setTimeout(r, 3 * GRACE_MS));
      expect(await w.waits.replicas("frozen")).toBe(1);
      expect(await w.waits.podIps("frozen")).toEqual(pods);
      expect(await envoySends("frozen", 1, ACTIVATOR_IP)).toBe(false);
      const res = await viaEnvoy("frozen", "/while-frozen");
      expect(res).toMatchObject({ status: 200, body: `hello from frozen at ${pods[0]}/while-frozen` });
      expect(await gatewayRequests("frozen")).toBe(0);
    } finally {
      process.kill(w.dataplane.pids.envoyGateway, "SIGCONT");
      resumedAt = Date.now();
    }
    // Envoy Gateway pushes the slice's endpoints; the probe sees the activator; the grace runs; zero.
    await until(
      "Envoy sending frozen's traffic to the activator",
      () => envoySends("frozen", 1, ACTIVATOR_IP) || undefined,
      60_000,
      100,
    );
    await w.waits.untilPhase("frozen", "Stopped", 60_000);
    const stoppedAt = Date.parse((await w.waits.app("frozen")).status?.stoppedAt);
    // Whole seconds in status: the stop came a grace after the thaw at the earliest.
    expect(stoppedAt).toBeGreaterThanOrEqual(Math.floor((resumedAt + GRACE_MS) / 1000) * 1000 - 1000);
    expect(await w.waits.replicas("frozen")).toBe(0);
    expect(endpointsMode(await w.waits.slice("frozen"))).toBe("proxy");
    // The activator answers a probe itself, naming the app: no request, no wake, still stopped.
    const wakes = await w.gateway.metric("atrium_gateway_wakes_total");
    expect(await probeViaEnvoy("frozen")).toEqual({ status: 200, mark: `${ORG}/frozen` });
    await new Promise((r) => setTimeout(r, 2000));
    expect(await w.gateway.metric("atrium_gateway_wakes_total")).toBe(wakes);
    expect(await gatewayRequests("frozen")).toBe(0);
    expect((await w.waits.app("frozen")).status?.phase).toBe("Stopped");
  });

  it("holds zero replicas while a request is under way on the pod at the end of the grace, and answers it in full", async () => {
    const pods = await installApp("slow", "8s");
    // Sent straight to the pod through Envoy just before the stop begins, answered 10 s later
    // (Envoy's default route timeout is 15 s): the grace ends while it is under way.
    const stopsAt = Date.parse((await w.waits.app("slow")).status?.stopsAt);
    await new Promise((r) => setTimeout(r, Math.max(0, stopsAt - 1500 - Date.now())));
    expect(endpointsMode(await w.waits.slice("slow"))).toBe("serve");
    const started = Date.now();
    const slow = viaEnvoy("slow", "/slow?ms=10000");
    const since = await w.waits.untilStopSequence("slow", 0, 30_000);
    await until(
      "Envoy sending slow's traffic to the activator",
      () => envoySends("slow", 1, ACTIVATOR_IP) || undefined,
      30_000,
      50,
    );
    // The grace is over and more: the request is still under way, so the pod stays.
    await new Promise((r) => setTimeout(r, Math.max(0, since + GRACE_MS + 2500 - Date.now())));
    expect((await w.dataplane.routeStats(NS, "slow", 1)).upstream_rq_active).toBe(1);
    expect(await w.waits.replicas("slow")).toBe(1);
    expect(await w.waits.podIps("slow")).toEqual(pods);
    expect(endpointsMode(await w.waits.slice("slow"))).toBe("proxy");
    // Answered in full by the pod that was kept for it…
    expect(await slow).toEqual({ status: 200, body: `hello from slow at ${pods[0]}/slow?ms=10000`, servedBy: pods[0] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(10_000);
    expect(await gatewayRequests("slow")).toBe(0); // straight to the pod, never through the activator
    // …and then the stop goes on, to zero.
    await w.waits.untilPhase("slow", "Stopped", 30_000);
    expect(await w.waits.replicas("slow")).toBe(0);
  });
});
