// Gateway API mode (issue 17) on a private control plane, before any data plane: the real
// operator writes each app's HTTPRoute, selector-less Service and EndpointSlice, and switches
// the endpoints between the app's pods and the activator (the real gateway process) in
// Knative's order. Requests go to the activator as the data plane would send them: to the
// address the EndpointSlice names, with the identity header the route sets. The data plane
// itself (Envoy Gateway) is test/cluster/dataplane.ts's.
import { execFileSync } from "node:child_process";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { AppsV1Api, CoreV1Api, KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, kubectlIn, startControlPlane } from "../cluster/controlplane.ts";
import { echoTemplate, type FakeApp, serveAppPods } from "../cluster/fake-pods.ts";
import { type GatewayProcess, startGateway } from "../cluster/gateway-process.ts";
import { installCrds } from "../cluster/install.ts";
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
const CRDS_SCRIPT = fileURLToPath(new URL("../cluster/gateway-api-crds.sh", import.meta.url));

let cp: ControlPlane;
let kc: KubeConfig;
let objects: KubernetesObjectApi;
let apps: AppsV1Api;
let core: CoreV1Api;
let operator: OperatorProcess;
let gateway: GatewayProcess;
let activatorPort: number;
const fakes: FakeApp[] = [];

type Slice = {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  ports?: { name?: string; port?: number }[];
  endpoints?: { addresses: string[] }[];
};
const read = async (kind: string, apiVersion: string, name: string) =>
  (await objects.read({ apiVersion, kind, metadata: { name, namespace: NS } })) as any;
const app = (name: string) => read("AppInstance", A, name);
const route = (name: string) => read("HTTPRoute", "gateway.networking.k8s.io/v1", name);
const slice = async (name: string): Promise<Slice> => read("EndpointSlice", "discovery.k8s.io/v1", `${name}-route`);
const replicas = async (name: string) => (await apps.readNamespacedDeployment({ name, namespace: NS })).spec?.replicas;
const podIps = async (name: string) =>
  (await core.listNamespacedPod({ namespace: NS, labelSelector: `app.kubernetes.io/instance=${name}` })).items
    .filter((p) => p.status?.phase === "Running" && !p.metadata?.deletionTimestamp && p.status.podIP)
    .map((p) => p.status?.podIP as string)
    .sort();
const addresses = (s: Slice) => (s.endpoints ?? []).flatMap((e) => e.addresses).sort();
const mode = (s: Slice) => s.metadata.labels?.["atrium.dev/endpoints"];

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
  await until(`${name} Running`, async () => ((await app(name)).status?.phase === "Running" ? true : undefined));
}

beforeAll(async () => {
  cp = await startControlPlane();
  installCrds(cp);
  // The Gateway API's own CRDs, from its Go module (the harness has none).
  const crds = execFileSync("bash", [CRDS_SCRIPT], { encoding: "utf8" }).trim().split("\n").at(-1) as string;
  kubectlIn(cp.binDir, cp.kubeconfig, "apply", "--server-side", "-f", crds).run();
  kubectlIn(
    cp.binDir,
    cp.kubeconfig,
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "crd/httproutes.gateway.networking.k8s.io",
  ).run();
  kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  objects = KubernetesObjectApi.makeApiClient(kc);
  apps = kc.makeApiClient(AppsV1Api);
  core = kc.makeApiClient(CoreV1Api);
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
  await objects.create({
    apiVersion: A,
    kind: "Organization",
    metadata: { name: ORG },
    spec: { displayName: "GW" },
  } as Obj);
  await until("the org namespace", () => core.readNamespace({ name: NS }));
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
          requestHeaderModifier: { set: [{ name: "x-atrium-app", value: `${ORG}/hello` }] },
        },
      ]);
      expect(rule.backendRefs).toMatchObject([{ kind: "Service", name: "hello-route", port: 8080 }]);
    }
    const service = await core.readNamespacedService({ name: "hello-route", namespace: NS });
    expect(service.spec?.selector).toBeUndefined();

    // Running: the slice holds the ready pod on the app's port.
    const pods = await until("a running pod", async () =>
      (await podIps("hello")).length ? podIps("hello") : undefined,
    );
    const serving = await until("endpoints at the pod", async () => {
      const s = await slice("hello");
      return mode(s) === "serve" && addresses(s).join() === pods.join() ? s : undefined;
    });
    expect(serving.ports).toEqual([{ name: "http", port: 8080, protocol: "TCP" }]);
    expect(serving.metadata.labels).toMatchObject({
      "kubernetes.io/service-name": "hello-route",
      "endpointslice.kubernetes.io/managed-by": "atrium-operator.atrium.dev",
    });

    // Idle: the endpoints go to the activator first, while the pod is still there (the grace)...
    const draining = await until(
      "endpoints at the activator",
      async () => {
        const s = await slice("hello");
        return mode(s) === "proxy"
          ? { slice: s, replicas: await replicas("hello"), pods: await podIps("hello") }
          : undefined;
      },
      30_000,
      50,
    );
    expect(draining.replicas).toBe(1);
    expect(draining.pods).toEqual(pods);
    expect(addresses(draining.slice)).toEqual([ACTIVATOR_IP]);
    expect(draining.slice.ports).toEqual([{ name: "http", port: activatorPort, protocol: "TCP" }]);
    expect(Date.parse(draining.slice.metadata.annotations?.["atrium.dev/proxy-since"] ?? "")).toBeGreaterThan(0);
    // ...then to zero replicas, the endpoints staying at the activator.
    await until(
      "hello Stopped",
      async () => ((await app("hello")).status?.phase === "Stopped" ? true : undefined),
      30_000,
    );
    expect(await replicas("hello")).toBe(0);
    expect(mode(await slice("hello"))).toBe("proxy");

    // A request the data plane sends to the activator wakes the app and gets the app's answer,
    // whatever its Host (here the activator's address).
    const res = await viaActivator("hello", "/after-wake?x=1");
    expect(res.status).toBe(200);
    const woken = await until("the woken pod", async () =>
      (await podIps("hello")).length ? podIps("hello") : undefined,
    );
    expect(await res.text()).toBe(`hello from hello at ${woken[0]}/after-wake?x=1`);
    await until("endpoints back at the pod", async () => {
      const s = await slice("hello");
      return mode(s) === "serve" && addresses(s).join() === woken.join() ? true : undefined;
    });

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
    const pods = await until("a running pod", async () => ((await podIps("race")).length ? podIps("race") : undefined));
    // Twice: the first request is this gateway's first activity for the app, which its periodic
    // flush writes within a second anyway; the second comes within the flush interval of that
    // write, so only the activator's prompt write can cancel the stop in time.
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
      const res = await viaActivator("race", `/during-stop-${round}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(`hello from race at ${pods[0]}/during-stop-${round}`);
      // Without the request the app would be at zero once the grace is over; it keeps its pod
      // past that, and its endpoints go back to the pod. (A new stop sequence starts 3 s after
      // that request and ends a grace later: the app is at zero only then.)
      let servedAgain = false;
      while (Date.now() < since + GRACE_MS + 600) {
        expect(await replicas("race")).toBe(1);
        const s = await slice("race");
        if (mode(s) === "serve" && addresses(s).join() === pods.join()) servedAgain = true;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(servedAgain).toBe(true);
      expect(await podIps("race")).toEqual(pods);
    }
    // Silent again, it does stop (the stop sequence starts over).
    await until(
      "race Stopped",
      async () => ((await app("race")).status?.phase === "Stopped" ? true : undefined),
      30_000,
    );
  });

  it("wakes a stopped app for a WebSocket upgrade routed by the identity header, whatever the Host", async () => {
    await installApp("chat", "3s");
    await until(
      "chat Stopped",
      async () => ((await app("chat")).status?.phase === "Stopped" ? true : undefined),
      30_000,
    );
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
    expect(await replicas("chat")).toBe(1);
  });

  it("does not wake an app for a health check through the activator", async () => {
    await installApp("quiet", "3s");
    await until(
      "quiet Stopped",
      async () => ((await app("quiet")).status?.phase === "Stopped" ? true : undefined),
      30_000,
    );
    const res = await viaActivator("quiet", "/status");
    expect(res.status).toBe(503);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await replicas("quiet")).toBe(0);
    expect(mode(await slice("quiet"))).toBe("proxy");
  });
});
