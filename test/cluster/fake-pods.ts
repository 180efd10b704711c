// Stands in for the containers KWOK does not run: serves real HTTP (and WebSocket upgrades)
// at the IP of every running pod of an app, so requests through the gateway reach a server
// that exists only while the pod does. Pod addresses are local (see claimPodCidr in controlplane.ts).
import { createServer, type Server } from "node:http";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";

/**
 * A minimal AppTemplate for apps whose pods these servers stand in for: one http port, no
 * volume, small requests (the benchmarks install a thousand of them).
 */
export const echoTemplate = (name = "echo", port = 8080) => ({
  apiVersion: "atrium.dev/v1alpha1",
  kind: "AppTemplate",
  metadata: { name },
  spec: {
    displayName: "Echo",
    category: "Development",
    image: "traefik/whoami",
    versions: ["v1.10"],
    defaultVersion: "v1.10",
    ports: [{ name: "http", containerPort: port }],
    resources: { cpu: "10m", memory: "16Mi" },
    runAsUser: 1000,
  },
});

/** The echo template with a price list, and other spec fields over the echo's: a paid app for billing tests. */
export const paidEchoTemplate = (
  name: string,
  pricing: Record<string, unknown>,
  spec: Record<string, unknown> = {},
) => {
  const base = echoTemplate(name);
  return { ...base, spec: { ...base.spec, ...spec, pricing } };
};

export type FakeApp = { stop(): Promise<void>; servedBy(): string[]; requests: number };

export function serveAppPods(
  kc: KubeConfig,
  options: {
    namespace: string;
    app: string;
    port: number;
    body?: (ip: string, path: string, headers: import("node:http").IncomingHttpHeaders) => string;
    startDelayMs?: number;
  },
): FakeApp {
  const core = kc.makeApiClient(CoreV1Api);
  const servers = new Map<string, Server>();
  const upgraded = new Set<import("node:net").Socket>();
  let stopped = false;
  const state: FakeApp = {
    requests: 0,
    servedBy: () => [...servers.keys()],
    async stop() {
      stopped = true;
      for (const socket of upgraded) socket.destroy();
      for (const s of servers.values()) s.closeAllConnections();
      await Promise.all([...servers.values()].map((s) => new Promise((r) => s.close(r))));
      servers.clear();
    },
  };
  const serve = async (ip: string) => {
    const server = createServer((req, res) => {
      state.requests++;
      res.setHeader("x-served-by", ip);
      if (req.url?.startsWith("/echo")) {
        // What the app received: method, framing, body and the gateway's X-Forwarded-* headers.
        const parts: Buffer[] = [];
        req.on("data", (d: Buffer) => parts.push(d));
        req.on("end", () => {
          const h = req.headers;
          res.setHeader("content-type", "application/json");
          res.end(
            JSON.stringify({
              method: req.method,
              length: h["content-length"] ?? null,
              chunked: h["transfer-encoding"] ?? null,
              body: Buffer.concat(parts).toString(),
              forwarded: [h["x-forwarded-for"], h["x-forwarded-host"], h["x-forwarded-proto"]],
            }),
          );
        });
        return;
      }
      if (req.url?.startsWith("/stream")) {
        res.writeHead(200, { "content-type": "text/event-stream" });
        // ?quiet: the headers at once, the first event only after a long while (an event
        // stream waiting for news): clients must see the stream open before it.
        const quiet = req.url.includes("quiet");
        if (quiet) res.flushHeaders();
        const t = setInterval(() => res.write("data: tick\n\n"), quiet ? 30_000 : 200);
        req.on("close", () => clearInterval(t));
        return;
      }
      const answer = () =>
        res.end(
          options.body ? options.body(ip, req.url ?? "/", req.headers) : `hello from ${options.app} at ${ip}${req.url}`,
        );
      // /slow?ms=N: the usual answer, N ms late (a request still under way while the app stops).
      const slowMs = req.url?.startsWith("/slow") ? Number(/[?&]ms=(\d+)/.exec(req.url)?.[1] ?? 1000) : 0;
      if (slowMs) {
        const t = setTimeout(answer, slowMs);
        res.on("close", () => clearTimeout(t));
        return;
      }
      answer();
    });
    // A WebSocket-style upgrade: answer 101 and echo what arrives.
    server.on("upgrade", (_req, socket) => {
      upgraded.add(socket as import("node:net").Socket);
      socket.on("close", () => upgraded.delete(socket as import("node:net").Socket));
      socket.write("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n");
      socket.on("data", (d) => socket.write(d));
    });
    servers.set(ip, server);
    // An address can still be held by the server of a pod that just went away: forget this
    // attempt and let the next poll try again.
    server.on("error", () => servers.delete(ip));
    if (options.startDelayMs) await new Promise((r) => setTimeout(r, options.startDelayMs));
    if (!stopped) server.listen(options.port, ip);
  };
  void (async () => {
    while (!stopped) {
      const pods = await core
        .listNamespacedPod({ namespace: options.namespace, labelSelector: `app.kubernetes.io/instance=${options.app}` })
        .catch(() => undefined);
      if (pods) {
        const live = new Set<string>();
        for (const p of pods.items) {
          const ip = p.status?.podIP;
          if (!ip || p.metadata?.deletionTimestamp || p.status?.phase !== "Running") continue;
          live.add(ip);
          if (!servers.has(ip)) void serve(ip);
        }
        for (const [ip, s] of servers)
          if (!live.has(ip)) {
            s.close();
            s.closeAllConnections();
            servers.delete(ip);
          }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return state;
}
