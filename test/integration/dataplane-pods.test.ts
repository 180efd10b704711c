// Statistics that follow the data plane's pods (issue 17, Gateway API mode): the real gateway
// process watches a real Deployment's pods on the shared control plane (scheduled there, made
// Running and Ready at their own addresses by KWOK) through the namespace and labels the
// operator is given, reads each ready pod's /stats/prometheus at <pod IP>:<port>, and writes
// running apps' lastActivity. What answers at each pod's address is a loopback HTTP server
// serving Envoy's Prometheus text for the pod that holds the address now (no Envoy runs in
// these pods: dataplane-activity.test.ts reads a real Envoy's statistics, dataplane.test.ts has
// Envoy Gateway itself). The Deployment is scaled up and rolled: pods that come are read first
// as a baseline only, pods that go count nothing, whatever their counters were.
import { createServer, type Server } from "node:http";
import { AppsV1Api, CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type GatewayProcess, startGateway } from "../cluster/gateway-process.ts";
import { freePorts } from "../cluster/ports.ts";
import { until } from "../cluster/until.ts";
import { cluster, type Obj, unique } from "./kube.ts";

const { objects, info, kc, kubectl } = cluster();
const APPS = "org-dppods";
const DATA_PLANE = unique("dp-pods");
const LABELS = { "atrium-test/data-plane": "envoy" };
const apps = kc.makeApiClient(AppsV1Api);
const core = kc.makeApiClient(CoreV1Api);

/** Each proxy pod's counters of app rules ("<app>" → total requests), by pod uid: its own Envoy. */
const counters = new Map<string, Map<string, number>>();
/** Readings of the statistics: [pod IP, uid of the pod holding it then]. */
const readings: [string, string][] = [];
/** The pods of the data plane now, by IP. */
let byIp = new Map<string, V1Pod>();
const servers = new Map<string, Server>();
let statsPort: number;
let gateway: GatewayProcess;
let stopped = false;

const prometheus = (rules: Map<string, number>) =>
  [...rules]
    .map(
      ([app, total]) =>
        `envoy_cluster_upstream_rq_active{envoy_cluster_name="httproute/${APPS}/${app}/rule/0"} 0\n` +
        `envoy_cluster_upstream_rq_total{envoy_cluster_name="httproute/${APPS}/${app}/rule/0"} ${total}\n`,
    )
    .join("");

/** Serves the statistics of whichever pod holds `ip` when asked. */
function serveAt(ip: string) {
  const server = createServer((req, res) => {
    const uid = byIp.get(ip)?.metadata?.uid ?? "";
    const found = req.url?.startsWith("/stats/prometheus") && counters.has(uid);
    if (found) readings.push([ip, uid]);
    res.statusCode = found ? 200 : 404;
    res.end(found ? prometheus(counters.get(uid) as Map<string, number>) : "");
  });
  server.on("error", () => servers.delete(ip)); // the address still held: the next poll tries again
  servers.set(ip, server);
  server.listen(statsPort, ip);
}

const listPods = async () =>
  (
    await core.listNamespacedPod({
      namespace: DATA_PLANE,
      labelSelector: Object.entries(LABELS)
        .map(([k, v]) => `${k}=${v}`)
        .join(","),
    })
  ).items;
const ready = (p: V1Pod) =>
  !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");

/** Follows the pods' addresses as fake-pods.ts does: a server at each, for as long as a pod holds it. */
async function followPods() {
  while (!stopped) {
    const pods = await listPods().catch(() => undefined);
    if (pods) {
      byIp = new Map(pods.filter((p) => p.status?.podIP).map((p) => [p.status?.podIP as string, p]));
      for (const ip of byIp.keys()) if (!servers.has(ip)) serveAt(ip);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const lastActivity = async (app: string): Promise<string | undefined> => {
  const found = (await objects.read({
    apiVersion: "atrium.dev/v1alpha1",
    kind: "AppInstance",
    metadata: { name: app, namespace: APPS },
  })) as { status?: { lastActivity?: string } };
  return found.status?.lastActivity;
};

/** The ready pods, once there are `count` of them and no other (a rollout over). */
const readyPods = (count: number) =>
  until(`${count} ready data plane pods and no other`, async () => {
    const pods = await listPods();
    return pods.length === count && pods.every(ready) ? pods : undefined;
  });

/** Waits until each pod was read at least `times` more times. */
async function readEach(pods: V1Pod[], times = 2) {
  const mark = readings.length;
  for (const pod of pods)
    await until(`pod ${pod.metadata?.name} read ${times} times`, async () =>
      readings.slice(mark).filter(([, uid]) => uid === pod.metadata?.uid).length >= times ? true : undefined,
    );
}

const uidOf = (p: V1Pod) => p.metadata?.uid as string;

beforeAll(async () => {
  [statsPort] = (await freePorts(1)) as [number];
  for (const name of [APPS, DATA_PLANE])
    await objects.create({ apiVersion: "v1", kind: "Namespace", metadata: { name } } as Obj).catch(() => {});
  for (const name of ["web", "other"])
    await objects
      .create({
        apiVersion: "atrium.dev/v1alpha1",
        kind: "AppInstance",
        metadata: { name, namespace: APPS },
        spec: { template: "echo", access: { policy: "Public" }, idle: { policy: "Auto", timeout: "1h" } },
      } as Obj)
      .catch(() => {});
  await apps.createNamespacedDeployment({
    namespace: DATA_PLANE,
    body: {
      metadata: { name: "envoy", labels: LABELS },
      spec: {
        replicas: 1,
        selector: { matchLabels: LABELS },
        template: {
          metadata: { labels: LABELS },
          spec: { containers: [{ name: "envoy", image: "envoyproxy/envoy:distroless-v1.36.2" }] },
        },
      },
    },
  });
  void followPods();
  gateway = await startGateway({
    kubeconfig: info.kubeconfig,
    env: {
      ATRIUM_ROUTING: "gateway-api",
      ATRIUM_DATA_PLANE_NAMESPACE: DATA_PLANE,
      ATRIUM_DATA_PLANE_POD_LABELS: "atrium-test/data-plane=envoy",
      ATRIUM_DATAPLANE_STATS_PORT: String(statsPort),
      ATRIUM_DATAPLANE_STATS_INTERVAL_MS: "200",
      ATRIUM_GATEWAY_FLUSH_INTERVAL_MS: "300",
    },
  });
}, 120_000);

afterAll(async () => {
  stopped = true;
  await gateway?.kill();
  for (const s of servers.values()) s.close();
  for (const name of [APPS, DATA_PLANE])
    await objects.delete({ apiVersion: "v1", kind: "Namespace", metadata: { name } } as Obj).catch(() => {});
});

it("reads each ready pod of the data plane, its first reading a baseline, and its new requests as activity", async () => {
  // The first proxy has served 100 requests for web before the gateway ever saw it.
  const [first] = (await readyPods(1)) as [V1Pod];
  counters.set(uidOf(first), new Map([["web", 100]]));
  await readEach([first]);
  expect(await lastActivity("web")).toBeUndefined();
  // One more request through it: web was active.
  counters.get(uidOf(first))?.set("web", 101);
  await until("web's lastActivity", () => lastActivity("web"), 20_000);
  // Read at the pod's address and port, as Envoy Gateway's proxies serve their statistics.
  expect(readings.some(([ip]) => ip === first.status?.podIP)).toBe(true);
});

it("reads a pod that comes on a scale-up first as a baseline, whatever it counted before", async () => {
  const webBefore = await lastActivity("web");
  // Counters set before the pod is ready: the gateway's first reading of it already sees them.
  const known = new Set((await listPods()).map(uidOf));
  kubectl("scale", "deployment/envoy", `--namespace=${DATA_PLANE}`, "--replicas=2");
  const added = await until("the second pod", async () => (await listPods()).find((p) => !known.has(uidOf(p))));
  counters.set(uidOf(added), new Map([["other", 500]]));
  const pods = await readyPods(2);
  await readEach(pods);
  expect(await lastActivity("other")).toBeUndefined();
  expect(await lastActivity("web")).toBe(webBefore);
});

it("counts nothing when a rollout replaces every pod, and new requests on the new pods again", async () => {
  const webBefore = await lastActivity("web");
  const old = new Set((await listPods()).map(uidOf));
  // Every new pod starts its counters from zero and has a few requests when first read: lower
  // than the gone pods' totals, which is what an Envoy restart looks like at one address.
  const seed = (p: V1Pod) => {
    if (!old.has(uidOf(p)) && !counters.has(uidOf(p)))
      counters.set(
        uidOf(p),
        new Map([
          ["web", 3],
          ["other", 2],
        ]),
      );
  };
  // A gone pod's Envoy is gone with it: its statistics stop answering. (This fake maps addresses
  // to pods by polling, so without this a new pod at a reused address could for a moment be
  // served the gone pod's counters, which no real Envoy does.)
  const forgetGone = (pods: V1Pod[]) => {
    const here = new Set(pods.map(uidOf));
    for (const uid of old) if (!here.has(uid)) counters.delete(uid);
  };
  const seeding = setInterval(
    () =>
      void listPods().then(
        (pods) => {
          forgetGone(pods);
          pods.forEach(seed);
        },
        () => {},
      ),
    20,
  );
  try {
    kubectl("rollout", "restart", "deployment/envoy", `--namespace=${DATA_PLANE}`);
    const renewed = await until("every pod replaced", async () => {
      const pods = await listPods();
      return pods.length === 2 && pods.every((p) => !old.has(uidOf(p)) && ready(p)) ? pods : undefined;
    });
    const mark = readings.length;
    await readEach(renewed);
    expect(await lastActivity("web")).toBe(webBefore);
    expect(await lastActivity("other")).toBeUndefined();
    // Only the pods there now are read: none of the gone ones.
    expect(new Set(readings.slice(mark).map(([, uid]) => uid))).toEqual(new Set(renewed.map(uidOf)));

    // A request through one of the new pods is activity again.
    counters.get(uidOf(renewed[1] as V1Pod))?.set("other", 3);
    await until("other's lastActivity", () => lastActivity("other"), 20_000);
  } finally {
    clearInterval(seeding);
  }
});
