// A proxy between one client and the real apiserver, on loopback, that can model a network
// partition: like `kubectl proxy`, it speaks plain HTTP to the client and forwards with the
// admin credentials. While partitioned, requests and responses are held, not refused (the
// client sees silence, as on a real partition, and its own timeouts decide); on heal,
// whatever the client still waits for goes through. A request the client gave up on while
// held never reaches the apiserver. Every request is logged with when the client sent it and
// when (if ever) the apiserver got it: an audit of what this client did to the cluster.
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Agent, request as httpsRequest } from "node:https";
import type { Socket } from "node:net";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { KubeConfig } from "@kubernetes/client-node";

export type ProxiedRequest = {
  method: string;
  url: string;
  /** When the client sent it (ms since the epoch). */
  sentAt: number;
  /** When it was forwarded to the apiserver; undefined if it never was. */
  forwardedAt?: number;
  /** The client gave up on it while it was held: the apiserver never saw it. */
  dropped?: boolean;
};

export type ApiProxy = Awaited<ReturnType<typeof startApiProxy>>;

/** Requests that change state, leaving out the leader Lease and Events. */
export const isObjectWrite = (r: ProxiedRequest) =>
  !["GET", "HEAD", "OPTIONS"].includes(r.method) && !/\/(leases|events)(\/|\?|$)/.test(r.url);

export async function startApiProxy(options: {
  kubeconfig: string;
  dir: string;
  name: string;
  /** Partition at once when a request matches, holding that request (deterministic timing). */
  partitionWhen?: (r: ProxiedRequest) => boolean;
}) {
  const kc = new KubeConfig();
  kc.loadFromFile(options.kubeconfig);
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (!cluster || !user) throw new Error(`${options.kubeconfig}: no current cluster or user`);
  const fromData = (data?: string, file?: string) =>
    data ? Buffer.from(data, "base64") : file ? readFileSync(file) : undefined;
  const agent = new Agent({
    keepAlive: true,
    ca: fromData(cluster.caData, cluster.caFile),
    cert: fromData(user.certData, user.certFile),
    key: fromData(user.keyData, user.keyFile),
  });
  const upstream = new URL(cluster.server);
  const log: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  let partitioned = false;
  let healed: { promise: Promise<void>; resolve: () => void } | undefined;
  let partitionWhen = options.partitionWhen;
  const gate = () => (partitioned && healed ? healed.promise : Promise.resolve());
  const partition = () => {
    if (partitioned) return;
    partitioned = true;
    let resolve = () => {};
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    healed = { promise, resolve };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const entry: ProxiedRequest = { method: req.method ?? "GET", url: req.url ?? "/", sentAt: Date.now() };
    log.push(entry);
    if (partitionWhen?.(entry)) {
      partitionWhen = undefined;
      partition();
    }
    let clientGone = false;
    res.on("close", () => {
      clientGone = !res.writableFinished;
    });
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    await gate();
    if (clientGone) {
      entry.dropped = true;
      return;
    }
    entry.forwardedAt = Date.now();
    const headers = { ...req.headers, host: upstream.host };
    delete headers.connection;
    const out = httpsRequest({
      agent,
      hostname: upstream.hostname,
      port: upstream.port,
      method: entry.method,
      path: entry.url,
      headers,
    });
    res.on("close", () => {
      if (!res.writableFinished) out.destroy();
    });
    out.on("error", () => res.destroy());
    out.on("response", async (answer) => {
      await gate();
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      const held = new Transform({
        transform(chunk, _encoding, done) {
          gate().then(() => done(null, chunk));
        },
      });
      await pipeline(answer, held, res).catch(() => res.destroy());
    });
    out.end(Buffer.concat(chunks));
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  const kubeconfig = join(options.dir, `${options.name}.kubeconfig`);
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{ name: proxy, cluster: { server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true } }]
users: [{ name: proxy, user: {} }]
contexts: [{ name: proxy, context: { cluster: proxy, user: proxy } }]
current-context: proxy
`,
  );
  return {
    kubeconfig,
    log,
    get partitioned() {
      return partitioned;
    },
    partition,
    /** Partitions when the next request matching `predicate` arrives, holding that request. */
    partitionWhen(predicate: (r: ProxiedRequest) => boolean) {
      partitionWhen = predicate;
    },
    heal() {
      partitioned = false;
      healed?.resolve();
      healed = undefined;
    },
    /** Resets every client connection, as a dropped network path does. */
    cut() {
      for (const s of sockets) s.destroy();
    },
    async close() {
      this.heal();
      this.cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
