// Gateway API mode (issue 17) on a private control plane, before any data plane: the real
// operator writes each app's HTTPRoute, selector-less Service and EndpointSlice, and switches
// the endpoints between the app's pods and the activator (the real gateway process) in
// Knative's order. Requests go to the activator as the data plane would send them: to the
// address the EndpointSlice names, with the identity header the route sets. The data plane
// itself (Envoy Gateway) is test/cluster/dataplane.ts's.
import { connect } from "node:net";
import { CoreV1Api, KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AppWaits,
  appWaits,
  createOrg,
  endpointAddresses,
  endpointsMode,
  proxySince,
} from "../cluster/app-waits.ts";
import { type ControlPlane, startControlPlane } from "../cluster/controlplane.ts";
import { echoTemplate, type FakeApp, serveAppPods } from "../cluster/fake-pods.ts";
import { type GatewayProcess, startGateway } from "../cluster/gateway-process.ts";
import { installCrds, installGatewayApiCrds } from "../cluster/install.ts";
import { type OperatorProcess, startOperator } from "../cluster/operator-process.ts";
import { freePorts } from "../cluster/ports.ts";
import { type Obj, until } from "./kube.ts";

const A = "atrium.dev/v1alpha1";
const ORG = "gwapi";
const NS = `org-${ORG}`;
/**
 * Where the activator answers for the data plane. EndpointSlices refuse loopback addresses; the
 * harness makes all of 198.18.0.0/16 local, and fake pods get low addresses of their cluster's
 * /20, so this top address (with a free port) is nobody else's.
 */
const ACTIVATOR_IP = "198.18.255.253";
const GRACE_MS = 3000;

let cp: ControlPlane;
let kc: KubeConfig;
let objects: KubernetesObjectApi;
let core: CoreV1Api;
let waits: AppWaits;
let operator: OperatorProcess;
let gateway: GatewayProcess;
let activatorPort: number;
const fakes: FakeApp[] = [];

const route = async (name: string) =>
  (await objects.read({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name, namespace: NS },
  })) as any;

/** A request as the data plane sends it to the activator: to the slice's address, marked with the app. */
const viaActivator = (name: string, path = "/") =>
  fetch(`http://${ACTIVATOR_IP}:${activatorPort}${path}`, { headers: { "x-atrium-app": `${ORG}/${name}` } });

async function installApp(name: string, timeout: string) {
  await objects.create({
    apiVersion: A,
    kind: "AppInstance",
    metadata: { name, namespace: NS },
    spec: {
      template: "echo",
      access: { policy: "Public" },
      idle: { policy: "Auto", timeout, excludePaths: ["/status"] },
    },
  } as Obj);
  fakes.push(serveAppPods(kc, { namespace: NS, app: name, port: 8080 }));
  await waits.untilPhase(name, "Running");
}

beforeAll(async () => {
  cp = await startControlPlane();
  installCrds(cp);
  installGatewayApiCrds(cp);
  kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  objects = KubernetesObjectApi.makeApiClient(kc);
  core = kc.makeApiClient(CoreV1Api);
  waits = appWaits(kc, NS);
  await objects.create(echoTemplate() as Obj);
  [activatorPort] = (await freePorts(1)) as [number];
  operator = await startOperator({
    kubeconfig: cp.kubeconfig,
    id: "gwapi",
    leaseNamespace: "atrium-system",
    leaseDurationMs: 4000,
    env: {
      ATRIUM_BASE_DOMAIN: "atrium.test",
      ATRIUM_ROUTING: "gateway-api",
      ATRIUM_GATEWAY_API_PARENT: "edge/public",
      ATRIUM_ACTIVATOR_ADDRESSES: ACTIVATOR_IP,
      ATRIUM_ACTIVATOR_PORT: String(activatorPort),
      ATRIUM_STOP_GRACE: `${GRACE_MS}ms`,
      // No data plane here to probe or read (dataplane-stop.test.ts has one): stops unconfirmed.
      ATRIUM_STOP_UNCONFIRMED: "true",
    },
  });
  gateway = await startGateway({
    kubeconfig: cp.kubeconfig,
    port: activatorPort,
    env: {
      // Every local address: 127.0.0.1 for the harness's readiness check, ACTIVATOR_IP for the data plane.
      ATRIUM_GATEWAY_ADDR: `0.0.0.0:${activatorPort}`,
      ATRIUM_ROUTING: "gateway-api",
      ATRIUM_BASE_DOMAIN: "atrium.test",
      // Its periodic writes are a minute apart: what cancels a stop must be the prompt one.
      ATRIUM_GATEWAY_FLUSH_INTERVAL_MS: "60000",
      ATRIUM_GATEWAY_WAKE_TIMEOUT_MS: "20000",
    },
  });
  await createOrg(kc, ORG, "GW");
});

afterAll(async () => {
  for (const f of fakes) await f.stop();
  await gateway?.kill();
  await operator?.kill();
  await cp?.stop();
});

describe("Gateway API mode", () => {
  it("routes through a fixed HTTPRoute whose endpoints follow the app: pods while it runs, the activator while stopped", async () => {
    await installApp("hello", "3s");
    const fixed = await route("hello");
    expect(fixed.spec.hostnames).toEqual([`hello.${ORG}.atrium.test`]);
    expect(fixed.spec.parentRefs).toMatchObject([{ kind: "Gateway", namespace: "edge", name: "public" }]);
    expect(fixed.spec.rules.map((r: any) => r.name)).toEqual(["health-checks", "app"]);
    expect(fixed.spec.rules[0].matches).toContainEqual({ path: { type: "Exact", value: "/status" } });
    for (const rule of fixed.spec.rules) {
      expect(rule.filters).toEqual([
        {
          type: "RequestHeaderModifier",
          // A Public app: no check names its caller, so a client's own X-Atrium-User goes too.
          requestHeaderModifier: {
            set: [{ name: "x-atrium-app", value: `${ORG}/hello` }],
            remove: ["x-atrium-probe-token", "x-atrium-user"],
          },
        },
      ]);
      expect(rule.backendRefs).toMatchObject([{ kind: "Service", name: "hello-route", port: 8080 }]);
    }
    const service = await core.readNamespacedService({ name: "hello-route", namespace: NS });
    expect(service.spec?.selector).toBeUndefined();

    // Running: the slice holds the ready pod on the app's port.
    const pods = await waits.untilPods("hello");
    const serving = await waits.untilServing("hello", pods);
    expect(serving.ports).toEqual([{ name: "http", port: 8080, protocol: "TCP" }]);
    expect(serving.metadata.labels).toMatchObject({
      "kubernetes.io/service-name": "hello-route",
      "endpointslice.kubernetes.io/managed-by": "atrium-operator.atrium.dev",
    });

    // Idle: the endpoints go to the activator first, while the pod is still there (the grace)...
    const draining = await until(
      "endpoints at the activator",
      async () => {
        const s = await waits.slice("hello");
        return endpointsMode(s) === "proxy"
          ? { slice: s, replicas: await waits.replicas("hello"), pods: await waits.podIps("hello") }
          : undefined;
      },
      30_000,
      50,
    );
    expect(draining.replicas).toBe(1);
    expect(draining.pods).toEqual(pods);
    expect(endpointAddresses(draining.slice)).toEqual([ACTIVATOR_IP]);
    expect(draining.slice.ports).toEqual([{ name: "http", port: activatorPort, protocol: "TCP" }]);
    expect(proxySince(draining.slice)).toBeGreaterThan(0);
    // ...then to zero replicas, the endpoints staying at the activator.
    await waits.untilPhase("hello", "Stopped", 30_000);
    expect(await waits.replicas("hello")).toBe(0);
    expect(endpointsMode(await waits.slice("hello"))).toBe("proxy");

    // A request the data plane sends to the activator wakes the app and gets the app's answer,
    // whatever its Host (here the activator's address).
    const res = await viaActivator("hello", "/after-wake?x=1");
    expect(res.status).toBe(200);
    const woken = await waits.untilPods("hello");
    expect(await res.text()).toBe(`hello from hello at ${woken[0]}/after-wake?x=1`);
    await waits.untilServing("hello", woken);

    // The route itself was never written again: only its endpoints changed.
    const after = await route("hello");
    expect(after.metadata.resourceVersion).toBe(fixed.metadata.resourceVersion);
    expect(after.metadata.generation).toBe(fixed.metadata.generation);
    // Settled, nothing of the data plane's is written again.
    const writes = () =>
      operator.metric("atrium_operator_api_writes_total", (l) => /httproutes|endpointslices/.test(l));
    const settled = await writes();
    await new Promise((r) => setTimeout(r, 2000));
    expect(await writes()).toBe(settled);
  });

  it("cancels a stop when a request reaches the activator during the grace, and the pod still there answers it", async () => {
    // 3 s: a shorter timeout can pass before the first pod is Ready, and an app with nothing
    // to drain goes to zero at once.
    await installApp("race", "3s");
    const pods = await waits.untilPods("race");
    // Twice: the first request is this gateway's first activity for the app, which its periodic
    // flush writes within a second anyway; the second comes within the flush interval of that
    // write, so only the activator's prompt write can cancel the stop in time.
    let previous = 0;
    for (const round of [1, 2]) {
      const since = await waits.untilStopSequence("race", previous);
      previous = since;
      const res = await viaActivator("race", `/during-stop-${round}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(`hello from race at ${pods[0]}/during-stop-${round}`);
      // Without the request the app would be at zero once the grace is over; it keeps its pod
      // past that, and its endpoints go back to the pod. (A new stop sequence starts 3 s after
      // that request and ends a grace later: the app is at zero only then.)
      let servedAgain = false;
      while (Date.now() < since + GRACE_MS + 600) {
        expect(await waits.replicas("race")).toBe(1);
        const s = await waits.slice("race");
        if (endpointsMode(s) === "serve" && endpointAddresses(s).join() === pods.join()) servedAgain = true;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(servedAgain).toBe(true);
      expect(await waits.podIps("race")).toEqual(pods);
    }
    // Silent again, it does stop (the stop sequence starts over).
    await waits.untilPhase("race", "Stopped", 30_000);
  });

  it("wakes a stopped app for a WebSocket upgrade routed by the identity header, whatever the Host", async () => {
    await installApp("chat", "3s");
    await waits.untilPhase("chat", "Stopped", 30_000);
    const socket = connect(activatorPort, ACTIVATOR_IP);
    await new Promise((r) => socket.once("connect", r));
    socket.write(
      `GET /socket HTTP/1.1\r\nhost: somewhere.example\r\nx-atrium-app: ${ORG}/chat\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n`,
    );
    const first = await new Promise<string>((r) => socket.once("data", (d) => r(String(d))));
    expect(first).toContain("101 Switching Protocols");
    socket.write("ping");
    expect(await new Promise<string>((r) => socket.once("data", (d) => r(String(d))))).toBe("ping");
    socket.destroy();
    expect(await waits.replicas("chat")).toBe(1);
  });

  it("does not wake an app for a health check through the activator", async () => {
    await installApp("quiet", "3s");
    await waits.untilPhase("quiet", "Stopped", 30_000);
    const res = await viaActivator("quiet", "/status");
    expect(res.status).toBe(503);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await waits.replicas("quiet")).toBe(0);
    expect(endpointsMode(await waits.slice("quiet"))).toBe("proxy");
  });
});
