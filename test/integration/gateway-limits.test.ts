// The gateway's limits (issue 16, items 1 and 9) with raw sockets against the real gateway
// process, on a private control plane with the real operator, KWOK pods, and real HTTP servers
// at the pods' addresses: a body that trickles or stops, a head that stops on a kept-alive
// connection, an app that never answers, a flood of connections, a GET whose client half-closes,
// none of which may keep an app awake, and a gateway that is told to stop.

import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { CoreV1Api, KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, startControlPlane } from "../cluster/controlplane.ts";
import { echoTemplate } from "../cluster/fake-pods.ts";
import { type GatewayProcess, startGateway } from "../cluster/gateway-process.ts";
import { installCatalog, installCrds } from "../cluster/install.ts";
import { type OperatorProcess, startOperator } from "../cluster/operator-process.ts";
import { type Obj, until } from "./kube.ts";

const A = "atrium.dev/v1alpha1";
const ORG = "lim";
const NS = `org-${ORG}`;
const DOMAIN = "atrium.test";
// Small limits, so that each one is reached in a test's time; the defaults are nginx's scale.
const GATEWAY_ENV = {
  ATRIUM_BASE_DOMAIN: DOMAIN,
  ATRIUM_GATEWAY_FLUSH_INTERVAL_MS: "500",
  ATRIUM_GATEWAY_HEADERS_TIMEOUT_MS: "1000",
  ATRIUM_GATEWAY_BODY_TIMEOUT_MS: "1500",
  ATRIUM_GATEWAY_BODY_MIN_RATE: "100",
  ATRIUM_GATEWAY_UPSTREAM_TIMEOUT_MS: "1500",
};

let cp: ControlPlane;
let kc: KubeConfig;
let objects: KubernetesObjectApi;
let core: CoreV1Api;
let operator: OperatorProcess;
let gateway: GatewayProcess;
const pods: AppPods[] = [];
/** The app most tests send to (idle timeout 1h). */
let app: AppPods;
const sockets: Socket[] = [];

/**
 * What an app's pods received: requests per path, and those whose connection closed before
 * their answer. /hang is taken and never answered; /echo answers once the body is through; /stream
 * is an event stream of 3 s; the rest answer at once.
 */
type AppPods = {
  deliveries: Map<string, number>;
  /** Requests whose connection closed before they were answered (the gateway gave up on them). */
  abandoned: string[];
  stop(): Promise<void>;
};

/** Serves the app at the address of each of its running pods (as test/cluster/fake-pods.ts does). */
function serveApp(app: string): AppPods {
  const state: AppPods = {
    deliveries: new Map(),
    abandoned: [],
    async stop() {
      stopped = true;
      for (const s of servers.values()) s.closeAllConnections();
      await Promise.all([...servers.values()].map((s) => new Promise((r) => s.close(r))));
    },
  };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? "/";
    state.deliveries.set(path, (state.deliveries.get(path) ?? 0) + 1);
    res.on("close", () => {
      if (!res.writableFinished) state.abandoned.push(path);
    });
    if (path.startsWith("/hang")) return;
    if (path.startsWith("/stream")) {
      // An event stream that lasts 3 s.
      res.writeHead(200, { "content-type": "text/event-stream" });
      const tick = setInterval(() => res.write("data: tick\n\n"), 200);
      setTimeout(() => {
        clearInterval(tick);
        res.end();
      }, 3000);
      return;
    }
    if (path.startsWith("/echo")) {
      let size = 0;
      req.on("data", (d: Buffer) => {
        size += d.length;
      });
      req.on("end", () => res.end(`received ${size}`));
      return;
    }
    res.end(`ok ${path}`);
  };
  const servers = new Map<string, Server>();
  let stopped = false;
  void (async () => {
    while (!stopped) {
      const list = await core
        .listNamespacedPod({ namespace: NS, labelSelector: `app.kubernetes.io/instance=${app}` })
        .catch(() => undefined);
      const live = new Set<string>();
      for (const p of list?.items ?? []) {
        const ip = p.status?.podIP;
        if (!ip || p.metadata?.deletionTimestamp || p.status?.phase !== "Running") continue;
        live.add(ip);
        if (servers.has(ip)) continue;
        const server = createServer(handle);
        server.on("error", () => servers.delete(ip));
        servers.set(ip, server);
        server.listen(8080, ip);
      }
      // A stopped pod's address may go to another app's next pod: its server goes with it.
      for (const [ip, server] of list ? servers : [])
        if (!live.has(ip)) {
          server.close();
          server.closeAllConnections();
          servers.delete(ip);
        }
      await sleep(50);
    }
  })();
  pods.push(state);
  return state;
}

/** A raw client connection to a gateway: what it received, and whether the gateway ended it. */
class Raw {
  readonly socket: Socket;
  text = "";
  ended = false;

  constructor(port: number) {
    this.socket = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    sockets.push(this.socket);
    this.socket.on("data", (d: Buffer) => {
      this.text += d.toString("latin1");
    });
    this.socket.on("end", () => {
      this.ended = true;
    });
    this.socket.on("close", () => {
      this.ended = true;
    });
    this.socket.on("error", () => undefined);
  }

  send(data: string): this {
    if (this.socket.writable) this.socket.write(data);
    return this;
  }

  /** Waits until the gateway ended the connection (FIN or reset). */
  closed(what: string, timeoutMs = 10_000): Promise<true> {
    return until(what, async () => this.ended || undefined, timeoutMs, 20);
  }

  /** Waits for a response with this status among what was received. */
  async status(code: number, timeoutMs = 10_000): Promise<true> {
    try {
      return await until(
        `HTTP ${code}`,
        async () => (this.text.includes(`HTTP/1.1 ${code} `) ? true : undefined),
        timeoutMs,
        20,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}; received ${JSON.stringify(this.text.slice(0, 300))}`);
    }
  }
}

const host = (app: string) => `${app}.${ORG}.${DOMAIN}`;
const get = (app: string, path: string) => `GET ${path} HTTP/1.1\r\nHost: ${host(app)}\r\n\r\n`;
const read = async (name: string) =>
  (await objects.read({ apiVersion: A, kind: "AppInstance", metadata: { name, namespace: NS } })) as any;

async function installApp(name: string, timeout: string): Promise<AppPods> {
  await objects.create({
    apiVersion: A,
    kind: "AppInstance",
    metadata: { name, namespace: NS },
    // Public: this gateway has no forward-auth, and refuses other apps (fail closed).
    spec: { template: "echo", access: { policy: "Public" }, idle: { policy: "Auto", timeout } },
  } as Obj);
  const served = serveApp(name);
  await until(`${name} served`, async () => {
    const res = await fetch(`${gateway.url}/apps/${ORG}/${name}/ready`);
    return res.status === 200 || undefined;
  });
  return served;
}

const phase = async (name: string) => (await read(name)).status?.phase as string | undefined;

beforeAll(async () => {
  cp = await startControlPlane();
  installCrds(cp);
  installCatalog(cp);
  kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  objects = KubernetesObjectApi.makeApiClient(kc);
  core = kc.makeApiClient(CoreV1Api);
  await objects.create(echoTemplate() as Obj);
  operator = await startOperator({
    kubeconfig: cp.kubeconfig,
    id: "limits",
    leaseNamespace: "atrium-system",
    leaseDurationMs: 4000,
  });
  gateway = await startGateway({ kubeconfig: cp.kubeconfig, env: GATEWAY_ENV });
  await objects.create({
    apiVersion: A,
    kind: "Organization",
    metadata: { name: ORG },
    spec: { displayName: "L" },
  } as Obj);
  await until("the org namespace", () => core.readNamespace({ name: NS }));
  app = await installApp("limits", "1h");
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  for (const p of pods) await p.stop();
  await gateway?.kill();
  await operator?.kill();
  await cp?.stop();
});

describe("gateway limits", () => {
  it("answers 408 to a body that stops after one byte, and closes the app's connection", async () => {
    const count408 = () => gateway.metric("atrium_gateway_requests_total", (l) => l.includes('code="408"'));
    const before = await count408();
    const client = new Raw(gateway.port);
    client.send(`POST /echo/one-byte HTTP/1.1\r\nHost: ${host("limits")}\r\nContent-Length: 100\r\n\r\nx`);
    await until("the app has the request", async () => app.deliveries.get("/echo/one-byte") || undefined);
    await client.status(408);
    expect(client.text).toMatch(/connection: close/i);
    await client.closed("the gateway to close the connection");
    await until("the app's request abandoned", async () => app.abandoned.includes("/echo/one-byte") || undefined);
    expect((await count408()) - before).toBe(1); // counted as what the client got
  });

  it("answers 408 to a body trickled a byte every 400 ms (never quiet for the timeout, but under the rate)", async () => {
    const client = new Raw(gateway.port);
    client.send(`POST /echo/trickle HTTP/1.1\r\nHost: ${host("limits")}\r\nContent-Length: 1000\r\n\r\n`);
    const trickle = setInterval(() => client.send("x"), 400);
    try {
      const started = Date.now();
      await client.status(408);
      await client.closed("the gateway to close the trickling connection");
      // Within the 1.5 s grace and a sweep or two; before the fix it stayed open (150 s+ seen).
      expect(Date.now() - started).toBeLessThan(8000);
    } finally {
      clearInterval(trickle);
    }
    await until("the app's request abandoned", async () => app.abandoned.includes("/echo/trickle") || undefined);
  });

  it("answers 408 to the head of a kept-alive connection's second request that stops coming", async () => {
    const client = new Raw(gateway.port);
    client.send(get("limits", "/first"));
    await client.status(200);
    client.send(`GET /second HTTP/1.1\r\nHost: ${host("limits")}\r\nx-slow: `);
    await client.status(408);
    await client.closed("the gateway to close the connection");
    expect(app.deliveries.get("/second")).toBeUndefined();
  });

  it("answers 408 to a head that ran out of time behind an answer under way, once that answer is through", async () => {
    const client = new Raw(gateway.port);
    client.send(get("limits", "/stream"));
    await until("the stream", async () => client.text.includes("data: tick") || undefined);
    client.send(`GET /behind-stream HTTP/1.1\r\nHost: ${host("limits")}\r\nx-slow: `);
    await sleep(2500); // well past the 1 s headers timeout (a starved machine fires timers late), the stream still going
    client.send("late\r\n\r\n");
    await client.status(408);
    await client.closed("the gateway to close the connection");
    expect(app.deliveries.get("/behind-stream")).toBeUndefined();
  });

  it("answers 504 when the app takes a request and never answers, and does not reuse that connection", async () => {
    const client = new Raw(gateway.port);
    client.send(get("limits", "/hang"));
    await until("the app has the request", async () => app.deliveries.get("/hang") || undefined);
    await client.status(504);
    expect(client.text).toContain("did not answer within 1.5 s");
    // The app's connection that carried it is closed, not handed to the next request.
    await until("the app's request abandoned", async () => app.abandoned.includes("/hang") || undefined);
    client.send(get("limits", "/after-hang"));
    await until("the next answer", async () => client.text.includes("ok /after-hang") || undefined);
  });

  it("delivers a GET whose client half-closes right after sending it to the app once", async () => {
    // Issue 16: 4 of 5 such GETs reached the app twice (the client's FIN ended the exchange, and
    // the request was then retried on a fresh connection as if the app had closed the old one).
    for (let i = 0; i < 5; i++) {
      // A kept-alive connection to the app, as traffic before leaves one.
      expect(await (await fetch(`${gateway.url}/apps/${ORG}/limits/warm-${i}`)).text()).toBe(`ok /warm-${i}`);
      const client = new Raw(gateway.port);
      client.socket.end(get("limits", `/once-${i}`));
      await client.closed("the gateway to end the half-closed connection");
      await sleep(300);
    }
    const counts = Array.from({ length: 5 }, (_, i) => app.deliveries.get(`/once-${i}`));
    expect(counts).toEqual([1, 1, 1, 1, 1]);
  });

  it("lets an app stop while a client trickles a request body to it", async () => {
    // The open request counts as activity; a body the gateway gives up on must stop counting.
    const sleepy = await installApp("sleepy", "3s");
    const client = new Raw(gateway.port);
    client.send(`POST /echo/keep-me-up HTTP/1.1\r\nHost: ${host("sleepy")}\r\nContent-Length: 100000\r\n\r\n`);
    const trickle = setInterval(() => client.send("x"), 400);
    try {
      await until("the app has the request", async () => sleepy.deliveries.get("/echo/keep-me-up") || undefined);
      await until("sleepy Stopped", async () => (await phase("sleepy")) === "Stopped" || undefined, 30_000);
      expect(client.ended).toBe(true); // the gateway cut it; the client never stopped trickling
    } finally {
      clearInterval(trickle);
    }
  });

  it("lets an app stop while it holds a request it never answers", async () => {
    const silent = await installApp("silent", "3s");
    const client = new Raw(gateway.port);
    client.send(get("silent", "/hang"));
    await client.status(504);
    await until("silent Stopped", async () => (await phase("silent")) === "Stopped" || undefined, 30_000);
    expect(silent.deliveries.get("/hang")).toBe(1);
  });

  it("closes connections over ATRIUM_GATEWAY_MAX_CONNECTIONS at once, says so in one log line, and counts them", async () => {
    const capped = await startGateway({
      kubeconfig: cp.kubeconfig,
      env: { ...GATEWAY_ENV, ATRIUM_GATEWAY_MAX_CONNECTIONS: "20" },
    });
    try {
      // Fill it: each connection answered is held open (kept alive). The harness's own check of
      // the port may still hold one, so the first refusal comes at 20 or a little before.
      const held: Raw[] = [];
      let refused: Raw | undefined;
      while (!refused && held.length < 25) {
        const client = new Raw(capped.port);
        client.send(get("limits", `/held-${held.length}`));
        await until("an answer or the end", async () => client.text.includes("ok /held") || client.ended || undefined);
        if (client.text.includes("ok /held")) held.push(client);
        else refused = client;
      }
      expect(refused?.text).toBe(""); // closed without a byte
      expect(held.length).toBeGreaterThanOrEqual(18);
      expect(held.length).toBeLessThanOrEqual(20);
      // A flood beyond the limit: each closed as it comes.
      const flood = Array.from({ length: 30 }, () => new Raw(capped.port).send(get("limits", "/flood")));
      for (const c of flood) await c.closed("a connection over the limit to close", 5000);
      expect(flood.every((c) => c.text === "")).toBe(true);
      expect(await capped.metric("atrium_gateway_connections_dropped_total")).toBe(31);
      const notices = readFileSync(capped.logFile, "utf8")
        .split("\n")
        .filter((l) => l.includes("Connection limit reached"));
      expect(notices).toHaveLength(1); // one line for the burst, not 31
      expect(JSON.parse(notices[0] as string)).toMatchObject({ level: "warn", limit: 20, dropped: 1 });
      // Room again once a connection closes.
      held[0]?.socket.destroy();
      await sleep(200);
      const after = new Raw(capped.port).send(get("limits", "/room"));
      await until("an answer after room was made", async () => after.text.includes("ok /room") || undefined);
    } finally {
      await capped.kill();
    }
  });

  it("on SIGTERM answers /readyz 503 first while still serving, then drains and exits", async () => {
    const stopping = await startGateway({
      kubeconfig: cp.kubeconfig,
      env: { ...GATEWAY_ENV, ATRIUM_GATEWAY_SHUTDOWN_DELAY_MS: "3000" },
    });
    const { adminUrl } = stopping;
    expect((await fetch(`${adminUrl}/readyz`)).status).toBe(200);
    const signalled = Date.now();
    const exited = stopping.kill("SIGTERM");
    await until("/readyz 503", async () => (await fetch(`${adminUrl}/readyz`)).status === 503 || undefined, 2000, 20);
    expect(await (await fetch(`${adminUrl}/readyz`)).text()).toBe("shutting down");
    // Not ready, but still serving: a request now is answered.
    const res = await fetch(`${stopping.url}/apps/${ORG}/limits/during-shutdown`);
    expect(await res.text()).toBe("ok /during-shutdown");
    expect(await exited).toBe(0);
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(3000); // it served out the delay, then drained
  });
});
