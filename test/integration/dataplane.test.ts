// The cluster's own data plane (issue 17, ADR 0025) on a private control plane: Envoy Gateway
// built from its Go module watching the real apiserver, Envoy from PyPI as its host process,
// and two KWOK pods with real HTTP servers at their addresses. An HTTPRoute sends one host to a
// Service without a selector whose EndpointSlice the test writes, as the operator will in
// Gateway API mode: pointing the slice elsewhere moves traffic with no route edit, and Envoy's
// statistics for the route's cluster count what the activity scraper will read.

import { request } from "node:http";
import { CoreV1Api, DiscoveryV1Api, KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, startControlPlane } from "../cluster/controlplane.ts";
import { type Dataplane, requestThrough, startDataplane } from "../cluster/dataplane.ts";
import { type FakeApp, serveAppPods } from "../cluster/fake-pods.ts";
import { type Obj, until } from "./kube.ts";

const NS = "org-dp";
const HOST = "web.dp.atrium.test";
const ROUTE = "web";
const PORT = 8080;
let cp: ControlPlane;
let kc: KubeConfig;
let objects: KubernetesObjectApi;
let core: CoreV1Api;
let discovery: DiscoveryV1Api;
let dataplane: Dataplane;
const fakes: FakeApp[] = [];
/** Pod addresses of the two backends, "blue" and "green". */
const ip: Record<string, string> = {};

/** A request through Envoy with a Host header. */
const viaEnvoy = (host: string, path = "/") => requestThrough(dataplane, host, path);

/** The Service's one EndpointSlice, pointed at one address (what the operator will write). */
const slice = (address: string) => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { name: `${ROUTE}-dp`, namespace: NS, labels: { "kubernetes.io/service-name": ROUTE } },
  addressType: "IPv4",
  endpoints: [{ addresses: [address], conditions: { ready: true } }],
  ports: [{ name: "http", port: PORT, protocol: "TCP" }],
});

async function startPod(name: string) {
  await objects.create({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: NS, labels: { "app.kubernetes.io/instance": name } },
    spec: { containers: [{ name: "app", image: "traefik/whoami" }] },
  } as Obj);
  fakes.push(serveAppPods(kc, { namespace: NS, app: name, port: PORT, body: (at) => `${name} at ${at}` }));
  ip[name] = await until(`${name}'s address`, async () => {
    const pod = await core.readNamespacedPod({ name, namespace: NS });
    return pod.status?.phase === "Running" ? pod.status.podIP : undefined;
  });
}

beforeAll(async () => {
  cp = await startControlPlane();
  kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  objects = KubernetesObjectApi.makeApiClient(kc);
  core = kc.makeApiClient(CoreV1Api);
  discovery = kc.makeApiClient(DiscoveryV1Api);
  dataplane = await startDataplane({ kubeconfig: cp.kubeconfig, binDir: cp.binDir, dir: cp.dir });
  await core.createNamespace({ body: { metadata: { name: NS } } });
  await startPod("blue");
  await startPod("green");
  // No selector: the endpoints are whatever the slice says.
  await core.createNamespacedService({
    namespace: NS,
    body: { metadata: { name: ROUTE }, spec: { ports: [{ name: "http", port: 80, targetPort: PORT }] } },
  });
  await objects.create(slice(ip.blue as string) as Obj);
  await objects.create({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: ROUTE, namespace: NS },
    spec: {
      parentRefs: [{ name: dataplane.gateway.name, namespace: dataplane.gateway.namespace }],
      hostnames: [HOST],
      rules: [{ backendRefs: [{ name: ROUTE, port: 80 }] }],
    },
  } as Obj);
}, 900_000);

afterAll(async () => {
  await Promise.all(fakes.map((f) => f.stop()));
  await dataplane?.stop();
  await cp?.stop();
});

describe("the data plane (Envoy Gateway + Envoy as host processes)", () => {
  it("routes by Host header to the address in the Service's EndpointSlice", async () => {
    const answer = await until("the route through Envoy", async () => {
      const res = await viaEnvoy(HOST);
      return res.status === 200 ? res : undefined;
    });
    expect(answer.body).toBe(`blue at ${ip.blue}`);
    // Another host has no route: Envoy answers itself and no backend sees the request.
    const before = fakes.reduce((n, f) => n + f.requests, 0);
    expect((await viaEnvoy("other.dp.atrium.test")).status).toBe(404);
    expect(fakes.reduce((n, f) => n + f.requests, 0)).toBe(before);
  });

  it("moves traffic when the EndpointSlice changes, without touching the route", async () => {
    const ref = {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: ROUTE, namespace: NS },
    };
    const route = (await objects.read(ref)) as Obj;
    await discovery.replaceNamespacedEndpointSlice({
      name: `${ROUTE}-dp`,
      namespace: NS,
      body: slice(ip.green as string) as never,
    });
    const moved = await until("traffic on green", async () => {
      const res = await viaEnvoy(HOST);
      return res.body.startsWith("green") ? res : undefined;
    });
    expect(moved).toEqual({ status: 200, body: `green at ${ip.green}` });
    // Once moved, every request goes there.
    for (let i = 0; i < 5; i++) expect((await viaEnvoy(HOST)).body).toBe(`green at ${ip.green}`);
    const after = (await objects.read(ref)) as Obj;
    // The route itself never changed: same generation and spec. (Its resourceVersion may move:
    // Envoy Gateway writes the route's status whenever it reconciles.)
    expect(after.metadata?.generation).toBe(route.metadata?.generation);
    expect((after as { spec?: unknown }).spec).toEqual((route as { spec?: unknown }).spec);
  });

  it("counts the route's requests and open streams in its cluster's statistics", async () => {
    const before = await dataplane.routeStats(NS, ROUTE);
    for (let i = 0; i < 3; i++) expect((await viaEnvoy(HOST)).status).toBe(200);
    // Envoy counts a request when it ends upstream; the stats are read a moment later.
    const counted = await until("three more requests in the route's cluster", async () => {
      const s = await dataplane.routeStats(NS, ROUTE);
      return s.upstream_rq_total >= before.upstream_rq_total + 3 ? s : undefined;
    });
    expect(counted.upstream_rq_total).toBe(before.upstream_rq_total + 3);
    expect(counted.upstream_rq_active).toBe(0);

    // An event stream that stays open is an active request until the client goes away.
    const stream = request({ host: dataplane.host, port: dataplane.port, path: "/stream", headers: { host: HOST } });
    const opened = new Promise<import("node:http").IncomingMessage>((resolve) => stream.on("response", resolve));
    stream.end();
    const res = await opened;
    expect(res.statusCode).toBe(200);
    await until("one active request", async () => (await dataplane.routeStats(NS, ROUTE)).upstream_rq_active === 1);
    res.destroy();
    stream.destroy();
    await until("no active request", async () => (await dataplane.routeStats(NS, ROUTE)).upstream_rq_active === 0);
  });
});
