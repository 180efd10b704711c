// Gateway API mode end to end (issue 17): the real operator in gateway-api mode attaches each
// app's HTTPRoute to the harness's real data plane (Envoy Gateway + Envoy, dataplane.ts), the
// real gateway runs as the activator only, and every request here goes to Envoy's listener with
// the app's Host. Warm traffic must flow Envoy → pod without Atrium's gateway; a stopped or
// stopping app's traffic must reach the activator through the EndpointSlice and be answered.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { endpointAddresses, endpointsMode } from "../cluster/app-waits.ts";
import { requestThrough } from "../cluster/dataplane.ts";
import { type DataplaneWorld, startDataplaneWorld } from "../cluster/dataplane-world.ts";
import { serveAppPods } from "../cluster/fake-pods.ts";
import { type Obj, until } from "./kube.ts";

const ORG = "dpm";
const NS = `org-${ORG}`;
const DOMAIN = "atrium.test";
/** Where the activator answers for Envoy: nobody's pod (activator-mode.ts). */
const ACTIVATOR_IP = "198.18.255.252";
/**
 * Envoy must learn the slice's new endpoints within it (waited for below); short enough that
 * the race test's app (3 s idle timeout) is checked again before it idles into its next stop.
 */
const GRACE_MS = 3000;

let w: DataplaneWorld;

/** Requests Atrium's gateway answered for one app (its /metrics). */
const gatewayRequests = (name: string) =>
  w.gateway.metric("atrium_gateway_requests_total", (l) => l.includes(`org="${ORG}"`) && l.includes(`app="${name}"`));
/** Every request Atrium's gateway answered, whichever app (or none) it named. */
const allGatewayRequests = () => w.gateway.metric("atrium_gateway_requests_total");
const gatewayWakes = () => w.gateway.metric("atrium_gateway_wakes_total");
const operatorWakes = () => w.operator.metric("atrium_operator_app_wakes_total");

/** A request to Envoy's listener for `<app>.<org>.<domain>`: its status and body. */
const viaEnvoy = (name: string, path = "/") => requestThrough(w.dataplane, `${name}.${ORG}.${DOMAIN}`, path);

async function installApp(name: string, timeout: string) {
  await w.objects.create({
    apiVersion: "atrium.dev/v1alpha1",
    kind: "AppInstance",
    metadata: { name, namespace: NS },
    spec: { template: "echo", access: { policy: "Public" }, idle: { policy: "Auto", timeout } },
  } as Obj);
  w.fakes.push(serveAppPods(w.kc, { namespace: NS, app: name, port: 8080 }));
  await w.waits.untilPhase(name, "Running");
}

/** Waits until Envoy answers for the app from its pod (the route is programmed, the slice at the pod). */
const servedByPod = (name: string) => w.waits.untilServedByPod(name, (path) => viaEnvoy(name, path));

async function stopped(name: string) {
  await w.waits.untilPhase(name, "Stopped");
  const s = await w.waits.slice(name);
  expect(endpointsMode(s)).toBe("proxy");
  expect(endpointAddresses(s)).toEqual([ACTIVATOR_IP]);
  expect(await w.waits.replicas(name)).toBe(0);
}

beforeAll(async () => {
  w = await startDataplaneWorld({
    id: "dpm",
    org: ORG,
    orgDisplayName: "DPM",
    baseDomain: DOMAIN,
    activatorIp: ACTIVATOR_IP,
    graceMs: GRACE_MS,
    // Its periodic writes a minute apart: what cancels a stop must be the activator's prompt one.
    gatewayEnv: { ATRIUM_GATEWAY_FLUSH_INTERVAL_MS: "60000" },
  });
}, 900_000);

afterAll(() => w?.stop());

describe("Gateway API mode on a real data plane (Envoy) with Atrium's gateway as the activator", () => {
  it("serves warm requests from the pod through Envoy without touching Atrium's gateway", async () => {
    await installApp("warm", "10m");
    const pods = await servedByPod("warm");
    const before = { gateway: await allGatewayRequests(), envoy: await w.dataplane.routeStats(NS, "warm", 1) };
    for (let i = 0; i < 20; i++)
      expect(await viaEnvoy("warm", `/warm-${i}`)).toEqual({
        status: 200,
        body: `hello from warm at ${pods[0]}/warm-${i}`,
      });
    // Envoy counted them on the route's app rule (rule 0 is the health checks')...
    const counted = await until("20 requests in the route's statistics", async () => {
      const s = await w.dataplane.routeStats(NS, "warm", 1);
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
    const woken = await w.waits.podIps("nap");
    expect(woken).toHaveLength(1);
    expect(res).toEqual({ status: 200, body: `hello from nap at ${woken[0]}/after-wake?x=1` });
    // It went through the activator, which woke the app once.
    expect(await gatewayWakes()).toBe(wakes + 1);
    expect(await gatewayRequests("nap")).toBeGreaterThanOrEqual(1);
    // Then the endpoints go back to the pod, and warm traffic leaves the activator again.
    await w.waits.untilServing("nap", woken);
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
    const pods = await w.waits.podIps("crowd");
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
      previous = await w.waits.untilStopSequence("race", previous);
      // Envoy learns the slice's new endpoints a moment later (its /clusters lists the hosts).
      await until(
        "Envoy sending race's traffic to the activator",
        async () =>
          (await (await fetch(`${w.dataplane.adminUrl}/clusters`)).text()).includes(`/race/rule/1::${ACTIVATOR_IP}:`)
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
      await w.waits.untilServing("race", pods);
      expect(await w.waits.replicas("race")).toBe(1);
      expect(await w.waits.podIps("race")).toEqual(pods);
    }
  });
});
