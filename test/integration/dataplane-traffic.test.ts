// Gateway API mode's activity rules through a real data plane (issue 17's tests): the real
// operator in gateway-api mode, the real gateway as the activator AND reading Envoy's route
// statistics (ATRIUM_DATAPLANE_STATS_URLS), Envoy Gateway + Envoy (dataplane.ts), fake pods
// answering HTTP and WebSocket upgrades (fake-pods.ts). Every request goes to Envoy's listener
// with the app's Host: (a) an open WebSocket is activity for as long as it is open, though no
// byte crosses it; (b) health checks, on their own route rule, neither keep a running app awake
// (their statistics are not read as activity) nor wake a stopped one (the activator answers).
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { endpointAddresses, endpointsMode } from "../cluster/app-waits.ts";
import { requestThrough } from "../cluster/dataplane.ts";
import { type DataplaneWorld, startDataplaneWorld } from "../cluster/dataplane-world.ts";
import { serveAppPods } from "../cluster/fake-pods.ts";
import { type Obj, until } from "./kube.ts";

const ORG = "dpt";
const NS = `org-${ORG}`;
const DOMAIN = "atrium.test";
/** Nobody's pod (activator-mode.ts); .251 to .253 are other tests'. */
const ACTIVATOR_IP = "198.18.255.250";
/** The apps' idle timeout: short, and still longer than Envoy takes to program a new route. */
const IDLE_MS = 4000;
const GRACE_MS = 2000;
/** Set on every app, so its route has the health rule (index 0) whatever the operator's defaults. */
const HEALTH_PATH = "/healthz";
/** The `app` rule's index in the route: after the health rule. */
const APP_RULE = 1;

let w: DataplaneWorld;

const host = (name: string) => `${name}.${ORG}.${DOMAIN}`;
const viaEnvoy = (name: string, path = "/") => requestThrough(w.dataplane, host(name), path);
const gatewayRequests = (name: string) =>
  w.gateway.metric("atrium_gateway_requests_total", (l) => l.includes(`org="${ORG}"`) && l.includes(`app="${name}"`));
const gatewayWakes = () => w.gateway.metric("atrium_gateway_wakes_total");
const operatorWakes = () => w.operator.metric("atrium_operator_app_wakes_total");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function installApp(name: string) {
  await w.objects.create({
    apiVersion: "atrium.dev/v1alpha1",
    kind: "AppInstance",
    metadata: { name, namespace: NS },
    spec: {
      template: "echo",
      access: { policy: "Public" },
      idle: { policy: "Auto", timeout: `${IDLE_MS / 1000}s`, excludePaths: [HEALTH_PATH] },
    },
  } as Obj);
  w.fakes.push(serveAppPods(w.kc, { namespace: NS, app: name, port: 8080 }));
  await w.waits.untilPhase(name, "Running");
}

/** Waits until Envoy sends the app's traffic to its pod (route programmed, slice at the pod); the pods. */
const servedByPod = (name: string) => w.waits.untilServedByPod(name, (path) => viaEnvoy(name, path));

/** Waits until Envoy knows both of the app's rules' endpoints at `address` (its /clusters). */
const envoySends = (name: string, address: string) =>
  until(`Envoy sending ${name}'s rules to ${address}`, async () => {
    const clusters = await (await fetch(`${w.dataplane.adminUrl}/clusters`)).text();
    return [0, APP_RULE].every((rule) => clusters.includes(`/${name}/rule/${rule}::${address}:`));
  });

/** The next bytes a socket receives, as text (rejects if it closes first). */
const nextData = (socket: Socket) =>
  new Promise<string>((resolve, reject) => {
    const fail = () => reject(new Error("the socket closed"));
    socket.once("close", fail);
    socket.once("data", (d) => {
      socket.off("close", fail);
      resolve(String(d));
    });
  });

/** A WebSocket upgrade through Envoy for the app; the socket once the 101 has come back. */
async function openWebSocket(name: string) {
  const socket = connect(w.dataplane.port, w.dataplane.host);
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  socket.write(
    `GET /socket HTTP/1.1\r\nhost: ${host(name)}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n` +
      "sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
  );
  expect(await nextData(socket)).toMatch(/^HTTP\/1\.1 101 /);
  return socket;
}

beforeAll(async () => {
  w = await startDataplaneWorld({
    id: "dpt",
    org: ORG,
    orgDisplayName: "DPT",
    baseDomain: DOMAIN,
    activatorIp: ACTIVATOR_IP,
    graceMs: GRACE_MS,
    gatewayEnv: (dataplane) => ({
      // Running apps' activity comes only from here: Envoy's statistics, read often, written
      // several times per idle timeout.
      ATRIUM_DATAPLANE_STATS_URLS: dataplane.adminUrl,
      ATRIUM_DATAPLANE_STATS_INTERVAL_MS: "200",
      ATRIUM_GATEWAY_FLUSH_INTERVAL_MS: "500",
    }),
  });
}, 900_000);

afterAll(() => w?.stop());

describe("activity through the data plane (Envoy), read from its statistics by the activator", () => {
  it("keeps an app with an open WebSocket up past its idle timeout, and stops it once the socket closes", async () => {
    await installApp("chat");
    const pods = await servedByPod("chat");
    const wakes = await gatewayWakes();
    const socket = await openWebSocket("chat");
    const through = await gatewayRequests("chat");
    // Silent for more than two idle timeouts: only the open socket (Envoy's upstream_rq_active
    // of the app rule) says the app is in use. Not even a stop sequence may start.
    const held = Date.now() + 2.25 * IDLE_MS;
    while (Date.now() < held) {
      expect((await w.waits.app("chat")).status?.phase).toBe("Running");
      expect(endpointsMode(await w.waits.slice("chat"))).toBe("serve");
      expect((await w.dataplane.routeStats(NS, "chat", APP_RULE)).upstream_rq_active).toBe(1);
      await sleep(250);
    }
    // The same connection, to the same pod, and never through the activator.
    socket.write("still here");
    expect(await nextData(socket)).toBe("still here");
    expect(await w.waits.podIps("chat")).toEqual(pods);
    expect(await gatewayRequests("chat")).toBe(through);

    socket.end();
    await until("Envoy's socket closed", async () => {
      return (await w.dataplane.routeStats(NS, "chat", APP_RULE)).upstream_rq_active === 0;
    });
    // Idle from now: the app stops (a timeout, the grace, and the operator's and scraper's delays,
    // and Envoy Gateway's programming of the switch, which takes seconds on a loaded machine).
    await w.waits.untilPhase("chat", "Stopped", IDLE_MS + GRACE_MS + 40_000);
    expect(await w.waits.replicas("chat")).toBe(0);
    expect(endpointAddresses(await w.waits.slice("chat"))).toEqual([ACTIVATOR_IP]);
    expect(await gatewayWakes()).toBe(wakes);
  });

  it("neither keeps a running app awake nor wakes a stopped one for health checks on their own rule", async () => {
    await installApp("probed");
    const pods = await servedByPod("probed");
    const wakes = { gateway: await gatewayWakes(), operator: await operatorWakes() };
    // Only health checks from now, several a second, answered by the pod while it runs: the app
    // still stops at its idle timeout, as their rule's statistics are not activity.
    const answers: string[] = [];
    const checking = Date.now();
    while ((await w.waits.app("probed")).status?.phase !== "Stopped") {
      expect(Date.now() - checking).toBeLessThan(IDLE_MS + GRACE_MS + 15_000);
      expect(await gatewayWakes()).toBe(wakes.gateway); // not even between its pod going and its phase
      const res = await viaEnvoy("probed", HEALTH_PATH);
      if (res.status === 200) answers.push(res.body);
      await sleep(200);
    }
    expect(answers.length).toBeGreaterThan(IDLE_MS / 200 / 2);
    expect(new Set(answers)).toEqual(new Set([`hello from probed at ${pods[0]}${HEALTH_PATH}`]));
    expect(await w.waits.replicas("probed")).toBe(0);

    // Stopped, with Envoy sending both rules to the activator: health checks get its answer
    // (the app is stopped) and wake nothing.
    await envoySends("probed", ACTIVATOR_IP);
    const before = await gatewayRequests("probed");
    const checks = [];
    for (let i = 0; i < 5; i++) checks.push(await viaEnvoy("probed", HEALTH_PATH));
    // (Any other answer is shown whole.)
    const said = (body: string) => (body.includes("is stopped and starts on the next visit") ? "stopped" : body);
    expect(checks.map((c) => [c.status, said(c.body)])).toEqual(Array.from({ length: 5 }, () => [503, "stopped"]));
    expect(await gatewayRequests("probed")).toBe(before + 5);
    await sleep(1500);
    expect(await gatewayWakes()).toBe(wakes.gateway);
    expect(await operatorWakes()).toBe(wakes.operator);
    expect(await w.waits.replicas("probed")).toBe(0);
    expect((await w.waits.app("probed")).status?.phase).toBe("Stopped");
  });
});
