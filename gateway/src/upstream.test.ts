// The upstream client against real loopback servers: node:http apps, and raw sockets where an
// app must misbehave in a way node:http would not.
import { EventEmitter, once } from "node:events";
import { createServer as createHttpServer, get, type IncomingMessage, request, type Server } from "node:http";
import { type AddressInfo, createServer as createTcpServer, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { requestHead } from "./headers.ts";
import { HttpServer } from "./server.ts";
import { bodySize, putInParts } from "./test-clients.ts";
import { type Endpoint, type UpstreamError, UpstreamPool } from "./upstream.ts";

const servers: Array<{ close(): unknown }> = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function listen<T extends Server | ReturnType<typeof createTcpServer>>(
  server: T,
): Promise<Endpoint & { server: T }> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  servers.push({
    close: () => {
      (server as Server).closeAllConnections?.();
      server.close();
    },
  });
  return { host: "127.0.0.1", port: (server.address() as AddressInfo).port, server };
}

/** An app on node:http that counts the connections it accepted. */
async function app(handler: Parameters<typeof createHttpServer>[1]) {
  const server = createHttpServer(handler);
  const endpoint = await listen(server);
  let connections = 0;
  server.on("connection", () => connections++);
  return { ...endpoint, connections: () => connections };
}

/** An app on a raw socket: answers each request head with whatever respond() returns. */
async function rawApp(respond: (n: number, socket: Socket) => string | undefined) {
  let n = 0;
  const server = createTcpServer((socket) => {
    let buffer = "";
    socket.on("data", (d) => {
      buffer += d.toString("latin1");
      while (buffer.includes("\r\n\r\n")) {
        buffer = buffer.slice(buffer.indexOf("\r\n\r\n") + 4);
        const answer = respond(n++, socket);
        if (answer !== undefined) socket.write(answer);
      }
    });
    socket.on("error", () => undefined);
  });
  return listen(server);
}

/** The gateway's side: a server that forwards everything to the endpoint through the pool. */
async function front(pool: UpstreamPool, to: Endpoint, maxBodyBytes = 1 << 20) {
  const server = createHttpServer((req, res) => {
    const chunked = req.headers["transfer-encoding"] !== undefined;
    const length = req.headers["content-length"];
    const method = req.method ?? "GET";
    const head = requestHead(req.rawHeaders, {
      method,
      path: req.url ?? "/",
      remoteAddress: "127.0.0.1",
      chunked,
      fallbackHost: `${to.host}:${to.port}`,
    });
    const body = chunked || (length !== undefined && length !== "0") ? req : undefined;
    pool.forward(to, { head, method, body, chunked, maxBodyBytes }, res, (e?: UpstreamError) => {
      if (!e) return;
      res.writeHead(e.status, { "content-type": "text/plain" });
      res.end(e.message);
    });
  });
  const { port } = await listen(server);
  return `http://127.0.0.1:${port}`;
}

/** The gateway's own pairing: server.ts' server and Response in front of the pool, as gateway.ts has it. */
async function gatewayFront(pool: UpstreamPool, to: Endpoint) {
  const server = new HttpServer({}, (req, res) => {
    const head = requestHead(req.rawHeaders, {
      method: req.method,
      path: req.url,
      remoteAddress: "127.0.0.1",
      chunked: req.chunked,
      fallbackHost: `${to.host}:${to.port}`,
    });
    const request = { head, method: req.method, body: req.body, chunked: req.chunked, maxBodyBytes: 1 << 20 };
    pool.forward(to, request, res, (e?: UpstreamError) => {
      if (!e) return;
      res.writeHead(e.status, { "content-type": "text/plain" });
      res.end(e.message);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push({ close: () => void server.close(0) });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A request head for path, as the gateway makes it. */
const headOf = (path: string, to: Endpoint) =>
  requestHead(["Host", "app.test"], {
    method: "GET",
    path,
    remoteAddress: "127.0.0.1",
    fallbackHost: `${to.host}:${to.port}`,
  });

/** A response sink that takes everything (a client that reads at once), as the pool writes it. */
type Sink = EventEmitter & { writeHead(): void; write(): boolean; end(): void; destroy(): void };
const sink = (): Sink =>
  Object.assign(new EventEmitter(), {
    writeHead: () => undefined,
    write: () => true,
    end: () => undefined,
    destroy: () => undefined,
  });

let pool: UpstreamPool;
afterEach(() => pool?.close());
const newPool = (options: ConstructorParameters<typeof UpstreamPool>[0] = {}) => (pool = new UpstreamPool(options));

describe("UpstreamPool", () => {
  it("sends a request head's bytes as llhttp read them (obs-text in a field value stays one byte)", async () => {
    const heads: Buffer[] = [];
    const server = createTcpServer((socket) => {
      socket.on("data", (d: Buffer) => {
        heads.push(d);
        if (d.includes("\r\n\r\n")) socket.write("HTTP/1.1 204 No Content\r\n\r\n");
      });
      socket.on("error", () => undefined);
    });
    const to = await listen(server);
    newPool();
    // llhttp hands a field value's bytes over as one char each (latin1): 0xe9 is "\xe9".
    const head = requestHead(["Host", "app.test", "X-Name", "caf\xe9"], {
      method: "GET",
      path: "/",
      remoteAddress: "127.0.0.1",
      fallbackHost: "x",
    });
    const error = await new Promise<UpstreamError | undefined>((resolve) =>
      pool.forward(to, { head, method: "GET", maxBodyBytes: 0 }, sink(), resolve),
    );
    expect(error).toBeUndefined();
    const sent = Buffer.concat(heads);
    expect(sent.includes(Buffer.from("X-Name: caf\xe9\r\n", "latin1"))).toBe(true);
    expect(sent.includes(Buffer.from([0xc3, 0xa9]))).toBe(false);
  });

  it("forwards status, repeated headers and body, and reuses one kept-alive connection", async () => {
    const backend = await app((req, res) => {
      res.setHeader("set-cookie", ["a=1", "b=2"]);
      res.setHeader("x-seen-forwarded-for", req.headers["x-forwarded-for"] ?? "");
      res.statusCode = 201;
      res.end(`hello ${req.url}`);
    });
    const url = await front(newPool(), backend);
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${url}/n${i}`);
      expect(res.status).toBe(201);
      expect(res.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
      expect(res.headers.get("x-seen-forwarded-for")).toBe("127.0.0.1");
      expect(await res.text()).toBe(`hello /n${i}`);
    }
    expect(backend.connections()).toBe(1);
    expect(pool.idleCount(backend)).toBe(1);
  });

  it("streams a large chunked response to a slow reader intact, holding the app back meanwhile", async () => {
    const block = Buffer.alloc(64 * 1024, "x");
    const blocks = 1024; // 64 MiB: far more than the sockets between app and client buffer
    let written = 0;
    const backend = await app(async (_req, res) => {
      for (; written < blocks; written++) if (!res.write(block)) await once(res, "drain");
      res.end("end");
    });
    const url = await front(newPool(), backend);
    const res = await new Promise<IncomingMessage>((resolve) => get(url, resolve));
    res.pause();
    await new Promise((r) => setTimeout(r, 300));
    // Without backpressure the gateway would have read it all into memory by now.
    expect(written).toBeLessThan(blocks / 2);
    expect(await bodySize(res)).toBe(blocks * block.length + 3);
    // The connection went back to the pool once the response was through.
    expect((await fetch(url)).status).toBe(200);
    expect(backend.connections()).toBe(1);
  });

  it("reads the next response on a connection whose last client never drained", async () => {
    const backend = await app((_req, res) => res.end("ok"));
    const pool = newPool();
    // A client that went away between a write and its 'close' event: writes report a full
    // buffer and 'drain' never comes.
    let congested = true;
    const server = createHttpServer((req, res) => {
      if (congested) res.write = () => false;
      const head = requestHead(req.rawHeaders, { method: "GET", path: "/", remoteAddress: "x", fallbackHost: "h" });
      pool.forward(backend, { head, method: "GET", maxBodyBytes: 0 }, res, () => undefined);
    });
    const { port } = await listen(server);
    await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined);
    congested = false;
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) });
    expect(await res.text()).toBe("ok");
    expect(backend.connections()).toBe(1);
  });

  it("sends request bodies with a length and in chunks", async () => {
    const backend = await app(async (req, res) => {
      const parts: Buffer[] = [];
      for await (const p of req) parts.push(p as Buffer);
      res.end(`${req.headers["content-length"] ?? req.headers["transfer-encoding"]}:${Buffer.concat(parts)}`);
    });
    const url = await front(newPool(), backend);
    expect(await (await fetch(url, { method: "POST", body: "abc" })).text()).toBe("3:abc");
    expect(await putInParts(`${url}/c`)).toBe("chunked:one,two");
    expect(backend.connections()).toBe(1);
  });

  it("refuses a chunked body over the limit with 413", async () => {
    const backend = await app((req, res) => {
      req.resume();
      req.on("end", () => res.end("took it"));
    });
    const url = await front(newPool(), backend, 10);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(url, { method: "POST" }, (res) => resolve(res.statusCode ?? 0));
      req.on("error", reject);
      req.write("0123456789");
      req.end("x");
    });
    expect(status).toBe(413);
  });

  it("reads HEAD, 204, 304 and 1xx answers without bodies and keeps the connection usable", async () => {
    const backend = await rawApp((n) => {
      const answers = [
        "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", // HEAD: the length describes a body not sent
        "HTTP/1.1 204 No Content\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\netag: x\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\ndone",
      ];
      return answers[n];
    });
    const url = await front(newPool(), backend);
    const head = await fetch(url, { method: "HEAD" });
    expect([head.status, head.headers.get("content-length")]).toEqual([200, "5"]);
    expect((await fetch(url)).status).toBe(204);
    expect((await fetch(url)).status).toBe(304);
    const last = await fetch(url);
    expect([last.status, await last.text()]).toEqual([200, "done"]);
  });

  it("forwards a response whose end is the end of the connection, and does not reuse it", async () => {
    const backend = await rawApp((_n, socket) => {
      socket.end("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil close");
      return undefined;
    });
    const url = await front(newPool(), backend);
    expect(await (await fetch(url)).text()).toBe("until close");
    expect(await (await fetch(url)).text()).toBe("until close");
    expect(pool.idleCount(backend)).toBe(0);
  });

  it("retries a GET on a fresh connection when a kept-alive one was closed, but not a POST", async () => {
    // Each connection answers its first request and drops the second without a word: what a
    // client meets when the app closes an idle connection just as a request goes out.
    const perConnection = new WeakMap<Socket, number>();
    const backend = await rawApp((_n, socket) => {
      const seen = (perConnection.get(socket) ?? 0) + 1;
      perConnection.set(socket, seen);
      if (seen > 1) return void socket.destroy();
      return "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    });
    const url = await front(newPool(), backend);
    expect((await fetch(url)).status).toBe(200);
    expect((await fetch(url)).status).toBe(200); // retried on a fresh connection
    const post = await fetch(url, { method: "POST", body: "x" });
    expect(post.status).toBe(502);
    expect(await post.text()).toMatch(/closed the connection|did not answer/);
  });

  it("sends a GET its client left before the answer once: only the app's own close is retried", async () => {
    // The client half-closed (or went away) after its request reached the app: the exchange
    // ends on the gateway's side, and the request must not go to the app again.
    const deliveries: string[] = [];
    const backend = await app((req, res) => {
      deliveries.push(req.url ?? "");
      setTimeout(() => res.end("ok"), req.url === "/slow" ? 300 : 0);
    });
    newPool();
    const forward = (path: string, sink: Sink) =>
      new Promise<UpstreamError | undefined>((resolve) =>
        pool.forward(backend, { head: headOf(path, backend), method: "GET", maxBodyBytes: 0 }, sink, resolve),
      );
    expect(await forward("/first", sink())).toBeUndefined(); // a kept-alive connection to reuse
    const leaving = sink();
    const ended = forward("/slow", leaving);
    for (let i = 0; i < 50 && deliveries.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    leaving.emit("close"); // the client is gone
    const error = await ended;
    await new Promise((r) => setTimeout(r, 500));
    expect(deliveries).toEqual(["/first", "/slow"]);
    expect(error?.message).toMatch(/client went away/);
  });

  it("answers 504 when the app takes a request and never answers, and closes that connection", async () => {
    let appClosed = false;
    const silent = await rawApp((_n, socket) => {
      socket.on("close", () => {
        appClosed = true;
      });
      return undefined;
    });
    const started = Date.now();
    const res = await fetch(await front(newPool({ responseTimeoutMs: 300 }), silent));
    expect([res.status, await res.text()]).toEqual([504, "The app did not answer within 0.3 s"]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    await new Promise((r) => setTimeout(r, 50));
    expect(appClosed).toBe(true);
    expect(pool.idleCount(silent)).toBe(0);
  });

  it("cuts a response whose app falls silent mid-body for the response timeout", async () => {
    let appClosed = false;
    const stalls = await rawApp((_n, socket) => {
      socket.on("close", () => {
        appClosed = true;
      });
      return "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial";
    });
    const res = await fetch(await front(newPool({ responseTimeoutMs: 300 }), stalls));
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
    expect(appClosed).toBe(true);
  });

  it("does not time a response while its client holds it back", async () => {
    // The app wrote everything it has; the gateway stopped reading because the client is slow.
    const size = 8 << 20;
    const backend = await app((_req, res) => res.end(Buffer.alloc(size, "z")));
    const url = await front(newPool({ responseTimeoutMs: 200 }), backend);
    const res = await new Promise<IncomingMessage>((resolve) => get(url, resolve));
    res.pause();
    await new Promise((r) => setTimeout(r, 1000));
    expect(await bodySize(res)).toBe(size);
  });

  it("answers 502 for an invalid response, oversized headers and a refused connection", async () => {
    const garbage = await rawApp(() => "HTTP/1.1 2OO OK\r\n\r\n");
    expect((await fetch(await front(newPool(), garbage))).status).toBe(502);
    const huge = await rawApp(() => `HTTP/1.1 200 OK\r\nx-big: ${"a".repeat(70_000)}\r\ncontent-length: 0\r\n\r\n`);
    const res = await fetch(await front(pool, huge));
    expect([res.status, await res.text()]).toEqual([502, expect.stringContaining("invalid response")]);
    const closed = await listen(createTcpServer());
    closed.server.close();
    await once(closed.server, "close");
    expect((await fetch(await front(pool, closed))).status).toBe(502);
  });

  it("cuts the client's response short when the app does, and closes the app's connection when the client leaves", async () => {
    const cut = await rawApp((_n, socket) => {
      socket.write("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial");
      setTimeout(() => socket.destroy(), 20);
      return undefined;
    });
    await expect((await fetch(await front(newPool(), cut))).text()).rejects.toThrow();

    let appSocketClosed = false;
    const endless = await app((req, res) => {
      req.socket.on("close", () => {
        appSocketClosed = true;
      });
      res.write("first");
    });
    const url = await front(pool, endless);
    const res = await new Promise<IncomingMessage>((resolve) => get(url, resolve));
    await once(res, "data");
    res.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect(appSocketClosed).toBe(true);
    expect(pool.idleCount(endless)).toBe(0);
  });

  it("ends a response with a Content-Length when its last byte came, over several reads, and reuses the connection", async () => {
    // Such a response's end is counted by the pool rather than told by the parser.
    const body = Buffer.alloc(200_000, "b");
    const backend = await rawApp((_n, socket) => {
      socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`);
      socket.write(body.subarray(0, 1000));
      setTimeout(() => socket.write(body.subarray(1000, 150_000)), 30);
      setTimeout(() => socket.write(body.subarray(150_000)), 60);
      return undefined;
    });
    const url = await gatewayFront(newPool(), backend);
    for (const path of ["/a", "/b"]) {
      const res = await fetch(`${url}${path}`);
      expect([res.status, (await res.arrayBuffer()).byteLength]).toEqual([200, body.length]);
    }
    expect(pool.idleCount(backend)).toBe(1);
  });

  it("gets an app's head alone to a server.ts client, when the app sends no body bytes yet (an event stream)", async () => {
    // The head waits for the body's first bytes to go out in one write; a read from the app
    // that brought none must still send it, or an EventSource never opens.
    const backend = await app((req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      if (req.url === "/now") return void res.end("data: at once\n\n");
      res.flushHeaders(); // and waits for news
    });
    const url = await gatewayFront(newPool(), backend);
    const waiting = await Promise.race([
      fetch(`${url}/wait`),
      new Promise<undefined>((resolve) => setTimeout(resolve, 3000, undefined)),
    ]);
    expect([waiting?.status, waiting?.headers.get("content-type")]).toEqual([200, "text/event-stream"]);
    await waiting?.body?.cancel();
    const now = await fetch(`${url}/now`);
    expect([now.status, await now.text()]).toEqual([200, "data: at once\n\n"]);
  });

  it("closes the app's connection when a server.ts client leaves mid-response, and reuses none of it", async () => {
    let appSocketClosed = false;
    const endless = await app((req, res) => {
      req.socket.on("close", () => {
        appSocketClosed = true;
      });
      res.write("first");
    });
    const url = await gatewayFront(newPool(), endless);
    const res = await new Promise<IncomingMessage>((resolve) => get(`${url}/endless`, resolve));
    await once(res, "data");
    res.destroy();
    for (let waited = 0; !appSocketClosed && waited < 2000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    expect(appSocketClosed).toBe(true);
    expect(pool.idleCount(endless)).toBe(0);
  });

  it("keeps a connection idle no longer than a quarter under the app's own Keep-Alive timeout", async () => {
    // An app that closes idle connections after 1 s (and says so) must not meet a request on
    // one it is closing: after 800 ms idle the pool opens a fresh connection instead.
    const backend = await app((_req, res) => res.end("ok"));
    backend.server.keepAliveTimeout = 1000; // node:http announces it as Keep-Alive: timeout=1
    const url = await front(newPool({ idleTimeoutMs: 4000 }), backend);
    await (await fetch(url)).text();
    await (await fetch(url)).text();
    expect(backend.connections()).toBe(1); // reused while fresh
    await new Promise((r) => setTimeout(r, 800));
    expect(await (await fetch(url)).text()).toBe("ok");
    expect(backend.connections()).toBe(2);
  });

  it("closes connections idle longer than the idle timeout", async () => {
    const backend = await app((_req, res) => res.end("ok"));
    const url = await front(newPool({ idleTimeoutMs: 100 }), backend);
    await (await fetch(url)).text();
    expect(pool.idleCount(backend)).toBe(1);
    await new Promise((r) => setTimeout(r, 350));
    expect(pool.idleCount(backend)).toBe(0);
  });
});
