// Scale to zero end to end on a private control plane: the real operator and the real
// gateway as processes, KWOK pods, and real HTTP servers at the pods' addresses.

import { connect } from "node:net";
import { AppsV1Api, CoreV1Api, KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AppWaits, appWaits, createOrg } from "../cluster/app-waits.ts";
import { type ControlPlane, startControlPlane } from "../cluster/controlplane.ts";
import { echoTemplate, type FakeApp, serveAppPods } from "../cluster/fake-pods.ts";
import { type GatewayProcess, startGateway } from "../cluster/gateway-process.ts";
import { installCatalog, installCrds } from "../cluster/install.ts";
import { type OperatorProcess, startOperator } from "../cluster/operator-process.ts";
import { type Obj, until } from "./kube.ts";

const A = "atrium.dev/v1alpha1";
const ORG = "zero";
const NS = `org-${ORG}`;
let cp: ControlPlane;
let kc: KubeConfig;
let objects: KubernetesObjectApi;
let apps: AppsV1Api;
let core: CoreV1Api;
let waits: AppWaits;
let operator: OperatorProcess;
let gateway: GatewayProcess;
const fakes: FakeApp[] = [];
const GATEWAY_ENV = {
  ATRIUM_GATEWAY_FLUSH_INTERVAL_MS: "500",
  ATRIUM_GATEWAY_WAKE_TIMEOUT_MS: "20000",
  ATRIUM_GATEWAY_MAX_BODY_BYTES: "65536",
  ATRIUM_BASE_DOMAIN: "atrium.test",
};

// fetch cannot set Host, so requests use the path form /apps/<org>/<app>/...; the WebSocket
// test below speaks raw HTTP and uses the host form <app>.<org>.<domain>.
const get = (name: string, path = "/", headers: Record<string, string> = {}, base = gateway.url) =>
  fetch(`${base}/apps/${ORG}/${name}${path}`, { headers });

async function installApp(name: string, template: string, timeout: string, port: number, startDelayMs = 0) {
  await objects.create({
    apiVersion: A,
    kind: "AppInstance",
    metadata: { name, namespace: NS },
    // Public: this gateway has no forward-auth, and refuses other apps (fail closed).
    spec: { template, access: { policy: "Public" }, idle: { policy: "Auto", timeout, excludePaths: ["/status"] } },
  } as Obj);
  fakes.push(serveAppPods(kc, { namespace: NS, app: name, port, startDelayMs }));
  await waits.untilPhase(name, "Running");
  await until(`${name} served`, async () => ((await get(name)).status === 200 ? true : undefined));
}

beforeAll(async () => {
  cp = await startControlPlane();
  installCrds(cp);
  installCatalog(cp);
  kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  objects = KubernetesObjectApi.makeApiClient(kc);
  apps = kc.makeApiClient(AppsV1Api);
  core = kc.makeApiClient(CoreV1Api);
  waits = appWaits(kc, NS);
  await objects.create(echoTemplate() as Obj);
  operator = await startOperator({
    kubeconfig: cp.kubeconfig,
    id: "zero",
    leaseNamespace: "atrium-system",
    leaseDurationMs: 4000,
  });
  gateway = await startGateway({ kubeconfig: cp.kubeconfig, env: GATEWAY_ENV });
  await createOrg(kc, ORG, "Zero");
});

afterAll(async () => {
  for (const f of fakes) await f.stop();
  await gateway?.kill();
  await operator?.kill();
  await cp?.stop();
});

describe("scale to zero", () => {
  it("keeps an app up under steady traffic, stops it after silence and keeps its volume", async () => {
    await installApp("kuma", "uptime-kuma", "4s", 3001);
    const until8s = Date.now() + 8000;
    while (Date.now() < until8s) {
      expect((await get("kuma")).status).toBe(200);
      await new Promise((r) => setTimeout(r, 400));
    }
    expect(await waits.replicas("kuma")).toBe(1);
    expect((await waits.app("kuma")).status.phase).toBe("Running");
    const stopsAt = Date.parse((await waits.app("kuma")).status.stopsAt);
    expect(stopsAt).toBeGreaterThan(Date.now());

    await waits.untilPhase("kuma", "Stopped");
    const app = await waits.app("kuma");
    expect(await waits.replicas("kuma")).toBe(0);
    expect(app.status.stoppedReason).toContain("No traffic for 4s");
    expect(app.status.conditions.find((c: any) => c.type === "Idle")).toMatchObject({ status: "True", reason: "Idle" });
    expect((await core.readNamespacedPersistentVolumeClaim({ name: "kuma-data", namespace: NS })).status?.phase).toBe(
      "Bound",
    );

    // The next request wakes it and gets the backend's own answer.
    const started = Date.now();
    const res = await get("kuma", "/after-wake");
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/^hello from kuma at 198\.1[89]\.\d+\.\d+\/after-wake$/);
    console.log(`[measure] wake through the gateway: ${Date.now() - started} ms`);
    expect(await waits.replicas("kuma")).toBe(1);
  });

  it("wakes once for 50 concurrent requests, and all of them succeed", async () => {
    await installApp("burst", "echo", "3s", 8080);
    await waits.untilPhase("burst", "Stopped");
    const wakesBefore = await gateway.metric("atrium_gateway_wakes_total");
    const operatorWakesBefore = await operator.metric("atrium_operator_app_wakes_total");
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => get("burst", `/r${i}`)));
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
    const bodies = await Promise.all(results.map((r) => r.text()));
    for (const [i, b] of bodies.entries()) expect(b).toMatch(new RegExp(`/r${i}$`));
    expect((await gateway.metric("atrium_gateway_wakes_total")) - wakesBefore).toBe(1);
    expect((await operator.metric("atrium_operator_app_wakes_total")) - operatorWakesBefore).toBe(1);
    const sets = await apps.listNamespacedReplicaSet({
      namespace: NS,
      labelSelector: "app.kubernetes.io/instance=burst",
    });
    expect(sets.items).toHaveLength(1); // a scale-up, not a new rollout
  });

  it("shows browsers a starting page, and neither wakes nor keeps awake on health checks", async () => {
    await installApp("quiet", "echo", "3s", 8080);
    // Health checks only: the app stops anyway.
    const checks = setInterval(() => void get("quiet", "/status").catch(() => undefined), 300);
    try {
      await waits.untilPhase("quiet", "Stopped");
      // ...and they do not wake it.
      const probe = await get("quiet", "/healthz", { "user-agent": "kube-probe/1.34" });
      expect(probe.status).toBe(503);
      expect(probe.headers.get("retry-after")).toBe("5");
      await new Promise((r) => setTimeout(r, 1500));
      expect(await waits.replicas("quiet")).toBe(0);
    } finally {
      clearInterval(checks);
    }
    const page = await get("quiet", "/", { accept: "text/html" });
    expect(page.status).toBe(503);
    expect(await page.text()).toContain("Starting quiet");
    await until("quiet awake", async () => ((await get("quiet")).status === 200 ? true : undefined));
  });

  it("answers 503 with Retry-After when the app does not start in time", async () => {
    const slow = await startGateway({
      kubeconfig: cp.kubeconfig,
      env: { ...GATEWAY_ENV, ATRIUM_GATEWAY_WAKE_TIMEOUT_MS: "1000" },
    });
    try {
      await installApp("slow", "echo", "3s", 8080);
      await waits.untilPhase("slow", "Stopped");
      fakes.at(-1)?.stop(); // the next pod start will take longer than the gateway waits
      fakes.push(serveAppPods(kc, { namespace: NS, app: "slow", port: 8080, startDelayMs: 4000 }));
      const res = await get("slow", "/", {}, slow.url);
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("5");
      await until("slow answers later", async () => ((await get("slow")).status === 200 ? true : undefined));
    } finally {
      await slow.kill();
    }
  });

  it("answers at once for an app its owners stopped, without waking it", async () => {
    await objects.create({
      apiVersion: A,
      kind: "AppInstance",
      metadata: { name: "parked", namespace: NS },
      spec: { template: "echo", access: { policy: "Public" }, idle: { policy: "Stopped" } },
    } as Obj);
    await waits.untilPhase("parked", "Stopped");
    const started = Date.now();
    const res = await get("parked");
    expect(res.status).toBe(503);
    expect(await res.text()).toContain("stopped by its owners");
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await waits.replicas("parked")).toBe(0);
    expect((await waits.app("parked")).status.stoppedReason).toContain("spec.idle.policy: Stopped");
  });

  it("keeps an app up while a WebSocket is open", async () => {
    await installApp("ws", "echo", "3s", 8080);
    const socket = connect(gateway.port, "127.0.0.1");
    await new Promise((r) => socket.once("connect", r));
    socket.write(
      `GET /chat HTTP/1.1\r\nhost: ws.${ORG}.atrium.test\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n`,
    );
    const first = await new Promise<string>((r) => socket.once("data", (d) => r(String(d))));
    expect(first).toContain("101 Switching Protocols");
    // The upgrade is a request of the app's in the metrics, with the app's own answer.
    expect(
      await gateway.metric("atrium_gateway_requests_total", (l) => l.includes(`app="ws"`) && l.includes(`code="101"`)),
    ).toBe(1);
    await new Promise((r) => setTimeout(r, 7000)); // more than twice the idle timeout
    expect((await waits.app("ws")).status.phase).toBe("Running");
    socket.write("ping");
    expect(await new Promise<string>((r) => socket.once("data", (d) => r(String(d))))).toBe("ping");
    socket.destroy();
    await waits.untilPhase("ws", "Stopped");
  });

  it("streams a server-sent event response as it is written", async () => {
    const res = await get("ws", "/stream");
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain("data: tick");
    await reader.cancel();
  });

  it("opens an event stream whose app sends its headers and waits: the headers pass at once", async () => {
    // The app's next event comes in 30 s; the client must not wait for it to see the stream open.
    const started = Date.now();
    const res = await get("ws", "/stream?quiet");
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    expect(Date.now() - started).toBeLessThan(10_000);
    await res.body?.cancel();
  });

  it("passes request bodies with a length and in chunks, and refuses both over the limit", async () => {
    await installApp("bodies", "echo", "1h", 8080);
    const url = `${gateway.url}/apps/${ORG}/bodies/echo?x=1`;
    const stream = (...parts: string[]) =>
      new ReadableStream({
        start(c) {
          for (const p of parts) c.enqueue(new TextEncoder().encode(p));
          c.close();
        },
      });
    const sized = await (await fetch(url, { method: "POST", body: "hello" })).json();
    expect(sized).toEqual({
      method: "POST",
      length: "5",
      chunked: null,
      body: "hello",
      forwarded: ["127.0.0.1", `127.0.0.1:${gateway.port}`, "http"],
    });
    const chunked = await fetch(url, { method: "PUT", body: stream("one,", "two"), duplex: "half" } as RequestInit);
    expect(await chunked.json()).toMatchObject({ method: "PUT", length: null, chunked: "chunked", body: "one,two" });
    const big = "x".repeat(70_000);
    for (const body of [big, stream(big)]) {
      const res = await fetch(url, { method: "POST", body, duplex: "half" } as RequestInit);
      expect(res.status).toBe(413);
      // The rest of a refused body is not read: the connection closes after the answer.
      expect(res.headers.get("connection")).toBe("close");
    }
    expect((await get("bodies")).status).toBe(200);
  });

  it("keeps the stop deadline across gateway and operator restarts", async () => {
    await installApp("durable", "echo", "20s", 8080);
    expect((await get("durable")).status).toBe(200);
    await gateway.waitUntil("activity flushed", async () => Boolean((await waits.app("durable")).status.lastActivity));
    await new Promise((r) => setTimeout(r, 1000));
    const before = (await waits.app("durable")).status.stopsAt;
    await gateway.kill();
    await operator.kill("SIGKILL");
    operator = await startOperator({
      kubeconfig: cp.kubeconfig,
      id: "zero-2",
      leaseNamespace: "atrium-system",
      leaseDurationMs: 4000,
    });
    gateway = await startGateway({ kubeconfig: cp.kubeconfig, env: GATEWAY_ENV });
    await operator.waitUntil("leader", async () => (await operator.status()).leader, 30_000);
    await operator.settled();
    expect((await waits.app("durable")).status.stopsAt).toBe(before);
    await waits.untilPhase("durable", "Stopped", 40_000);
    const stoppedAt = Date.parse((await waits.app("durable")).status.stoppedAt);
    // Stopped at the deadline set before the restarts: not earlier, and not a fresh 20 s later.
    expect(stoppedAt).toBeGreaterThanOrEqual(Date.parse(before) - 1000);
    expect(stoppedAt).toBeLessThan(Date.parse(before) + 10_000);
  });
});
