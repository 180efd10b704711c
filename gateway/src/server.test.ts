// The gateway's HTTP/1.1 server against real loopback clients: raw sockets where the framing
// must be checked byte by byte, fetch and node:http where what a real client makes of it counts.
import { createHash, randomBytes } from "node:crypto";
import { EventEmitter, once } from "node:events";
import { request as httpRequest, type IncomingMessage, METHODS as NODE_METHODS } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  HttpServer,
  headersOf,
  type Request,
  type Response,
  type ServerOptions,
  slowBody,
  throttled,
} from "./server.ts";
import { bodySize, putInParts } from "./test-clients.ts";

/** The name of the field that, on a plain object, would set its prototype. */
const PROTO = "__proto__";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const servers: HttpServer[] = [];
const clients: Socket[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
  for (const s of servers.splice(0)) void s.close();
});

async function serve(handler: (req: Request, res: Response) => void, options: Partial<ServerOptions> = {}) {
  const server = new HttpServer(options, handler);
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server.net, "listening");
  const port = (server.address() as AddressInfo).port;
  return { server, port, url: `http://127.0.0.1:${port}` };
}

type Parsed = { status: number; head: string; headers: Record<string, string>; body: Buffer };

/** A raw TCP client that keeps what it receives and reads responses from it exactly as framed. */
class Raw extends EventEmitter {
  readonly socket: Socket;
  private chunks: Buffer[] = [];
  ended = false;
  closed = false;
  error: Error | undefined;

  constructor(port: number, options: { allowHalfOpen?: boolean } = {}) {
    super();
    this.socket = connect({ port, host: "127.0.0.1", allowHalfOpen: options.allowHalfOpen ?? false });
    clients.push(this.socket);
    this.socket.on("data", (d: Buffer) => {
      this.chunks.push(d);
      this.emit("change");
    });
    this.socket.on("end", () => {
      this.ended = true;
      this.emit("change");
    });
    this.socket.on("error", (e) => {
      this.error = e;
    });
    this.socket.on("close", () => {
      this.closed = true;
      this.emit("change");
    });
  }

  get data(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  get text(): string {
    return this.data.toString("latin1");
  }

  send(data: string | Buffer): this {
    this.socket.write(data);
    return this;
  }

  /** Resolves with what check() returns once it returns something (or rejects after a while). */
  until<T>(check: () => T | undefined, timeoutMs = 1500): Promise<T> {
    return new Promise((resolve, reject) => {
      const test = () => {
        let value: T | undefined;
        try {
          value = check();
        } catch (e) {
          // A framing error found while parsing: the test's failure, not an uncaught exception.
          this.off("change", test);
          clearTimeout(timer);
          reject(e);
          return true;
        }
        if (value === undefined) return false;
        this.off("change", test);
        clearTimeout(timer);
        resolve(value);
        return true;
      };
      const timer = setTimeout(() => {
        this.off("change", test);
        reject(new Error(`timed out; received so far: ${JSON.stringify(this.text.slice(0, 500))}`));
      }, timeoutMs);
      if (!test()) this.on("change", test);
    });
  }

  /** The connection's end from the server (FIN or close). */
  closedByServer(timeoutMs = 1500): Promise<true> {
    return this.until(() => (this.ended || this.closed ? true : undefined), timeoutMs);
  }

  /** Takes the next complete response off what was received; bodyless for HEAD, 1xx, 204, 304. */
  response(options: { head?: boolean; timeoutMs?: number } = {}): Promise<Parsed> {
    return this.until(() => {
      const parsed = parseResponse(this.data, options.head ?? false, this.ended || this.closed);
      if (!parsed) return undefined;
      this.chunks = [this.data.subarray(parsed.used)];
      return parsed.response;
    }, options.timeoutMs);
  }
}

/** One response from the front of data, framed as RFC 9112 §6.3 says; undefined if incomplete. */
function parseResponse(data: Buffer, head: boolean, eof: boolean): { response: Parsed; used: number } | undefined {
  const end = data.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const headText = data.subarray(0, end).toString("latin1");
  const [statusLine = "", ...lines] = headText.split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3}) /.exec(`${statusLine} `);
  if (!match) throw new Error(`not a status line: ${JSON.stringify(statusLine)}`);
  const status = Number(match[1]);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  let at = end + 4;
  const done = (body: Buffer) => ({ response: { status, head: headText, headers, body }, used: at });
  if (head || status < 200 || status === 204 || status === 304) return done(Buffer.alloc(0));
  if (headers["transfer-encoding"] !== undefined) {
    expect(headers["transfer-encoding"]).toBe("chunked");
    expect(headers["content-length"]).toBeUndefined();
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = data.indexOf("\r\n", at);
      if (lineEnd < 0) return undefined;
      const sizeText = data.subarray(at, lineEnd).toString("latin1");
      expect(sizeText).toMatch(/^[0-9a-f]+$/);
      const size = Number.parseInt(sizeText, 16);
      if (size === 0) {
        if (data.length < lineEnd + 4) return undefined;
        expect(data.subarray(lineEnd, lineEnd + 4).toString()).toBe("\r\n\r\n"); // no trailers
        at = lineEnd + 4;
        return done(Buffer.concat(parts));
      }
      if (data.length < lineEnd + 2 + size + 2) return undefined;
      parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
      expect(data.subarray(lineEnd + 2 + size, lineEnd + 4 + size).toString()).toBe("\r\n");
      at = lineEnd + 4 + size;
    }
  }
  if (headers["content-length"] !== undefined) {
    const length = Number(headers["content-length"]);
    if (data.length < at + length) return undefined;
    at += length;
    return done(data.subarray(at - length, at));
  }
  // Neither: the body is everything up to the connection's end.
  if (!eof) return undefined;
  const body = data.subarray(at);
  at = data.length;
  return done(body);
}

const get = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nHost: test\r\n${extra}\r\n`;

/** A promise with its resolve outside, for handlers held until a test lets them go. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe("HttpServer", () => {
  it("answers two requests on one kept-alive connection, framed by Content-Length, with a Date", async () => {
    // The gateway's common case: a client (or load balancer) reusing one connection.
    const { port } = await serve((req, res) => res.end(`hello ${req.url}`));
    const client = new Raw(port);
    client.send(get("/one"));
    const first = await client.response();
    client.send(get("/second"));
    const second = await client.response();
    expect([first.status, first.body.toString()]).toEqual([200, "hello /one"]);
    expect([second.status, second.body.toString()]).toEqual([200, "hello /second"]);
    for (const r of [first, second]) {
      expect(r.headers["content-length"]).toBe(String(r.body.length));
      expect(r.headers["transfer-encoding"]).toBeUndefined();
      expect(r.headers.connection).toBeUndefined(); // HTTP/1.1 keeps alive by default
      expect(Number.isNaN(Date.parse(r.headers.date ?? ""))).toBe(false);
    }
    await sleep(50);
    expect(client.data.length).toBe(0); // nothing after the two responses
    expect(client.ended || client.closed).toBe(false);
  });

  it("sends a response without a length in chunks, which an empty write does not end", async () => {
    // A streamed (proxied) body: the client must see where it ends, and write("") must not
    // emit the zero-length last chunk.
    const { port, url } = await serve(async (_req, res) => {
      res.writeHead(200, ["content-type", "text/plain"]);
      res.write("hello ");
      res.write("");
      await sleep(20);
      res.write(Buffer.from("world"));
      res.end();
    });
    const client = new Raw(port);
    client.send(get("/"));
    const raw = await client.response();
    expect(raw.headers["transfer-encoding"]).toBe("chunked");
    expect(raw.body.toString()).toBe("hello world");
    await sleep(30);
    expect(client.text).toBe(""); // the last chunk came once, at the end, and nothing after it
    // And as a real client decodes it.
    const res = await fetch(url);
    expect(await res.text()).toBe("hello world");
  });

  it("sends each response piece with its framing in one socket write (head with the first bytes)", async () => {
    // CPU per request (bench gateway-warm): a write through the socket's stream costs more than
    // copying a small body next to its head; one write per piece, not one per head, size line
    // and CRLF. A chunk above the copy limit goes as its size line, itself and CRLF in one cork
    // (one writev). What leaves is checked too.
    const writes: number[] = [];
    const big = "x".repeat(20_000);
    let counted: Socket | undefined;
    const { port } = await serve((req, res) => {
      if (counted !== req.socket) {
        counted = req.socket;
        const write = req.socket.write;
        req.socket.write = function (this: Socket, ...args: unknown[]) {
          writes.push(writes.length);
          return (write as (...a: unknown[]) => boolean).apply(this, args);
        } as typeof req.socket.write;
      }
      if (req.url === "/length") res.writeHead(200, ["content-length", "2"]).end("ok");
      else if (req.url === "/proxied") {
        // As upstream.ts answers: head, then the body as it arrives, then the end.
        res.writeHead(200, ["Content-Length", "2"]);
        res.write(Buffer.from("ok"));
        res.end();
      } else {
        res.writeHead(200, ["content-type", "text/plain"]);
        res.write("ab");
        res.write(big);
        res.end("c");
      }
    });
    const client = new Raw(port);
    for (const [path, pieces] of [
      ["/length", 1],
      ["/proxied", 1],
      ["/chunks", 1 + 3 + 1],
    ] as const) {
      writes.length = 0;
      client.send(get(path));
      const response = await client.response();
      expect(writes.length, path).toBe(pieces);
      expect(response.body.toString(), path).toBe(path === "/chunks" ? `ab${big}c` : "ok");
    }
  });

  it("sends exactly the chunk framing bytes", async () => {
    // Byte-exact: sizes in hex, CRLF after each chunk, a single 0 chunk at the end.
    const { port } = await serve((_req, res) => {
      res.write("a".repeat(26));
      res.write("");
      res.write("bc");
      res.end("");
    });
    const client = new Raw(port);
    client.send(get("/"));
    const text = await client.until(() => (client.text.endsWith("0\r\n\r\n") ? client.text : undefined));
    expect(text.slice(text.indexOf("\r\n\r\n") + 4)).toBe(`1a\r\n${"a".repeat(26)}\r\n2\r\nbc\r\n0\r\n\r\n`);
  });

  it("writes a raw header list as given, repeats included, but frames the body itself", async () => {
    // A proxied response brings the app's framing (Transfer-Encoding, Connection); the server
    // re-frames the body, so those must not reach the client next to its own.
    const { port } = await serve((_req, res) => {
      res.writeHead(201, [
        "Set-Cookie",
        "a=1",
        "Set-Cookie",
        "b=2",
        "Transfer-Encoding",
        "chunked",
        "Connection",
        "keep-alive",
        "X-Custom",
        "v",
      ]);
      res.end("body");
    });
    const client = new Raw(port);
    client.send(get("/"));
    const res = await client.response();
    expect(res.status).toBe(201);
    expect(res.head).toMatch(/^HTTP\/1\.1 201 Created\r\n/);
    expect(res.head.match(/^Set-Cookie: .*$/gm)).toEqual(["Set-Cookie: a=1", "Set-Cookie: b=2"]);
    expect(res.headers["x-custom"]).toBe("v");
    expect(res.headers["transfer-encoding"]).toBeUndefined();
    expect(res.headers.connection).toBeUndefined();
    expect([res.headers["content-length"], res.body.toString()]).toEqual(["4", "body"]);
  });

  it("reports a full socket from write() and emits 'drain' when it empties", async () => {
    // What the proxy's backpressure from client to app rests on.
    const block = Buffer.alloc(64 * 1024, "x");
    const blocks = 512; // 32 MiB
    let written = 0;
    let drains = 0;
    const { url } = await serve(async (_req, res) => {
      res.on("drain", () => drains++);
      for (; written < blocks; written++) if (!res.write(block)) await once(res, "drain");
      res.end();
    });
    const res = await new Promise<IncomingMessage>((resolve, reject) =>
      httpRequest(url, resolve).on("error", reject).end(),
    );
    res.pause();
    await sleep(300);
    expect(written).toBeLessThan(blocks / 2);
    expect(await bodySize(res)).toBe(blocks * block.length);
    expect(drains).toBeGreaterThan(0);
  });

  it("speaks HTTP/1.0: closes unless asked to keep alive, and ends a body without length by closing", async () => {
    const { port } = await serve((req, res) => {
      if (req.url === "/stream") {
        res.write("until ");
        res.end("the end");
      } else res.end("ten bytes!");
    });
    // Without keep-alive: HTTP/1.0's default is one request per connection.
    const plain = new Raw(port);
    plain.send("GET / HTTP/1.0\r\n\r\n");
    const one = await plain.response();
    expect([one.body.toString(), one.headers.connection, one.headers["content-length"]]).toEqual([
      "ten bytes!",
      "close",
      "10",
    ]);
    await plain.closedByServer();

    // With Connection: keep-alive: the server must say so, or the client assumes close.
    const kept = new Raw(port);
    kept.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    const first = await kept.response();
    expect(first.headers.connection).toBe("keep-alive");
    kept.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    expect((await kept.response()).body.toString()).toBe("ten bytes!");
    await sleep(50);
    expect(kept.ended || kept.closed).toBe(false);

    // A body of unknown length: no chunks for a 1.0 client, the connection's end delimits it.
    const stream = new Raw(port);
    stream.send("GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    await stream.closedByServer();
    const res = await stream.response();
    expect(res.headers["transfer-encoding"]).toBeUndefined();
    expect(res.headers["content-length"]).toBeUndefined();
    expect(res.headers.connection).toBe("close");
    expect(res.body.toString()).toBe("until the end");
  });

  it("answers pipelined requests in order, whatever each handler takes", async () => {
    // RFC 9112 §9.3.2: responses in request order, or the client gives each the wrong answer.
    const delays: Record<string, number> = { "/a": 150, "/b": 0, "/c": 40 };
    const calls: string[] = [];
    const { port } = await serve(async (req, res) => {
      calls.push(req.url);
      await sleep(delays[req.url] ?? 0);
      res.end(`answer ${req.url}`);
    });
    const client = new Raw(port);
    client.send(get("/a") + get("/b") + get("/c"));
    const bodies = [];
    for (let i = 0; i < 3; i++) bodies.push((await client.response()).body.toString());
    expect(bodies).toEqual(["answer /a", "answer /b", "answer /c"]);
    expect(calls).toEqual(["/a", "/b", "/c"]);
    expect(client.ended || client.closed).toBe(false);
  });

  it("answers a long line of pipelined requests, with bodies among them, in order", async () => {
    // Reading stops while requests wait in line and starts again as they are answered: every
    // body must still reach its own handler.
    const { port } = await serve(async (req, res) => {
      const parts: Buffer[] = [];
      if (req.body) {
        req.body.on("data", (d: Buffer) => parts.push(d));
        await once(req.body, "end");
      }
      if (Number(req.url.slice(1)) % 3 === 0) await sleep(1);
      res.end(`${req.method} ${req.url} ${Buffer.concat(parts).length}`);
    });
    const client = new Raw(port);
    let line = "";
    const expected: string[] = [];
    for (let i = 0; i < 100; i++) {
      const size = i % 4 === 0 ? 0 : i * 1000;
      const chunked = i % 5 === 1;
      if (size === 0) line += get(`/${i}`);
      else if (chunked)
        line += `POST /${i} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n${size.toString(16)}\r\n${"b".repeat(size)}\r\n0\r\n\r\n`;
      else line += `POST /${i} HTTP/1.1\r\nHost: t\r\nContent-Length: ${size}\r\n\r\n${"b".repeat(size)}`;
      expected.push(`${size ? "POST" : "GET"} /${i} ${size}`);
    }
    client.send(line);
    const bodies: string[] = [];
    for (let i = 0; i < 100; i++) bodies.push((await client.response()).body.toString());
    expect(bodies).toEqual(expected);
  });

  it("holds at most 128 pipelined requests: past that it answers the current one and closes", async () => {
    // One read can bring thousands of tiny requests; they must not all become objects in memory.
    let handled = 0;
    const { port } = await serve(async (req, res) => {
      handled++;
      await sleep(5); // answers come after the whole line was read
      res.end(req.url);
    });
    const client = new Raw(port);
    client.send(Array.from({ length: 1000 }, (_, i) => get(`/${i}`)).join(""));
    await client.closedByServer(3000);
    const first = await client.response();
    expect([first.body.toString(), first.headers.connection]).toEqual(["/0", "close"]);
    expect(client.data.length).toBe(0); // nothing after the answer that closed
    expect(handled).toBe(1);
  });

  it("closes after answering a request that says Connection: close", async () => {
    const { port } = await serve((_req, res) => res.end("bye"));
    const client = new Raw(port);
    client.send(get("/", "Connection: close\r\n"));
    const res = await client.response();
    expect([res.body.toString(), res.headers.connection]).toEqual(["bye", "close"]);
    await client.closedByServer();
  });

  it("delivers request bodies with a length and in chunks whole, and marks the request complete", async () => {
    const seen: Array<{ completeAtFirstData: boolean | undefined; completeAtEnd: boolean }> = [];
    const { port, url } = await serve((req, res) => {
      const body = req.body;
      if (!body) return res.end(`no body ${req.complete}`);
      let completeAtFirstData: boolean | undefined;
      const hash = createHash("sha256");
      let size = 0;
      body.on("data", (d: Buffer) => {
        completeAtFirstData ??= req.complete;
        hash.update(d);
        size += d.length;
      });
      body.on("end", () => {
        seen.push({ completeAtFirstData, completeAtEnd: req.complete });
        res.end(`${req.headers["content-length"] ?? req.headers["transfer-encoding"]}:${size}:${hash.digest("hex")}`);
      });
    });
    const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

    expect(await (await fetch(url)).text()).toBe("no body true");
    expect(await (await fetch(url, { method: "POST", body: "abc" })).text()).toBe(`3:3:${sha("abc")}`);

    // Chunked, as node:http sends a body written in parts.
    expect(await putInParts(`${url}/c`)).toBe(`chunked:7:${sha("one,two")}`);

    // Chunked by hand, with a chunk extension and a trailer, which llhttp must skip.
    const client = new Raw(port);
    client.send(
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nx-trailer: 1\r\n\r\n",
    );
    expect((await client.response()).body.toString()).toBe(`chunked:5:${sha("abcde")}`);

    // Several MiB: many reads, with the request incomplete until the last.
    const big = randomBytes(6 * 1024 * 1024);
    const res = await fetch(url, { method: "POST", body: big });
    expect(await res.text()).toBe(`${big.length}:${big.length}:${sha(big)}`);
    expect(seen.at(-1)).toEqual({ completeAtFirstData: false, completeAtEnd: true });
    expect(seen.every((s) => s.completeAtEnd)).toBe(true);
  });

  it("ends a body that arrived whole before the handler listened, with 'end' listened for after 'data'", async () => {
    // The gateway's order (upstream.ts): forward() runs once an upstream connection is ready,
    // when a small body has long arrived, and listens for 'data' and then for 'end'. As with a
    // node stream, 'end' must come after that second listener is in place, not inside on('data').
    const { url } = await serve(async (req, res) => {
      await sleep(20);
      const body = req.body;
      if (!body) return res.end("no body");
      const parts: Buffer[] = [];
      body.on("data", (d: Buffer) => parts.push(d));
      body.once("end", () => res.end(`got ${Buffer.concat(parts)}`));
    });
    const res = await fetch(url, { method: "POST", body: "small", signal: AbortSignal.timeout(1000) });
    expect(await res.text()).toBe("got small");
  });

  it("echoes a multi-MB body streamed back as it arrives", async () => {
    // The proxy's shape: request body chunks written straight to a chunked response.
    const { url } = await serve((req, res) => {
      const body = req.body;
      if (!body) return res.end();
      body.on("data", (d: Buffer) => {
        if (!res.write(d)) {
          body.pause();
          res.once("drain", () => body.resume());
        }
      });
      body.on("end", () => res.end());
    });
    const big = randomBytes(8 * 1024 * 1024);
    const res = await fetch(url, { method: "POST", body: big });
    expect(res.headers.get("transfer-encoding")).toBe("chunked");
    const echoed = Buffer.from(await res.arrayBuffer());
    expect(echoed.length).toBe(big.length);
    expect(echoed.equals(big)).toBe(true);
  });

  it("stops reading from the client while a body is paused, and delivers it whole after resume()", async () => {
    // A request held while its app wakes must not pull the client's whole upload into memory.
    const block = 64 * 1024;
    const blocks = 512; // 32 MiB, far more than loopback's socket buffers hold
    const upload = randomBytes(block * blocks);
    let received = 0;
    const paused = deferred<number>();
    const { port } = await serve((req, res) => {
      const body = req.body;
      if (!body) return res.end("no body");
      const hash = createHash("sha256");
      body.on("data", (d: Buffer) => {
        if (received === 0) {
          body.pause();
          setTimeout(() => {
            paused.resolve(received);
            body.resume();
          }, 300);
        }
        received += d.length;
        hash.update(d);
      });
      body.on("end", () => res.end(`${received}:${hash.digest("hex")}`));
    });
    const client = new Raw(port);
    await once(client.socket, "connect");
    client.send(`POST / HTTP/1.1\r\nHost: t\r\nContent-Length: ${upload.length}\r\n\r\n`);
    // In blocks once connected (not one writev), so writableLength is what the kernel has not taken.
    for (let i = 0; i < blocks; i++) client.send(upload.subarray(i * block, (i + 1) * block));
    const seenWhilePaused = await paused.promise;
    const unsent = client.socket.writableLength;
    // Loopback buffers a few MiB in the kernel; the rest must still be with the client.
    expect(seenWhilePaused).toBeLessThan(1024 * 1024);
    expect(unsent).toBeGreaterThan(16 * 1024 * 1024);
    const res = await client.response({ timeoutMs: 5000 });
    expect(res.body.toString()).toBe(`${upload.length}:${createHash("sha256").update(upload).digest("hex")}`);
  });

  it("sends 100 Continue only when the handler reads the body, and 417 for other expectations", async () => {
    const { port } = await serve((req, res) => {
      if (req.url === "/private") return res.writeHead(401, { "content-type": "text/plain" }).end("who are you?");
      const parts: Buffer[] = [];
      req.body?.on("data", (d: Buffer) => parts.push(d));
      req.body?.on("end", () => res.end(`got ${Buffer.concat(parts)}`));
    });
    // The client sends the body only after 100 Continue.
    const reads = new Raw(port);
    reads.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    const interim = await reads.response();
    expect(interim.status).toBe(100);
    expect(interim.head).toBe("HTTP/1.1 100 Continue");
    reads.send("hello");
    const final = await reads.response();
    expect([final.status, final.body.toString(), final.headers.connection]).toEqual([200, "got hello", undefined]);

    // Refused before reading: the client must not be asked for a body it would send for nothing,
    // and the connection cannot be reused (the body may still come).
    const refused = new Raw(port);
    refused.send("POST /private HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    const denied = await refused.response();
    expect([denied.status, denied.headers.connection]).toEqual([401, "close"]);
    await refused.closedByServer();
    expect(refused.text).toBe("");

    const odd = new Raw(port);
    odd.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: something-else\r\n\r\nhello");
    const failed = await odd.response();
    expect([failed.status, failed.headers.connection]).toEqual([417, "close"]);
    await odd.closedByServer();
  });

  it("answers 400 to a malformed request line, 431 to headers over the limit, 400 to HTTP/1.1 without Host", async () => {
    let handled = 0;
    const { port } = await serve(
      (_req, res) => {
        handled++;
        res.end("ok");
      },
      { maxHeaderBytes: 1024 },
    );
    const cases: Array<[string, number]> = [
      ["G@T / HTTP/1.1\r\nHost: t\r\n\r\n", 400],
      ["GET / HTTP/1.1 extra\r\nHost: t\r\n\r\n", 400],
      ["GET / HTTP/1.1\nHost: t\n\n", 400], // bare LF
      ["GET / HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n", 400], // obs-fold
      ["GET / HTTP/1.2\r\nHost: t\r\n\r\n", 400],
      ["GET / HTTP/1.1\r\nHost t\r\n\r\n", 400], // a field without its colon
      [`GET / HTTP/1.1\r\nHost: t\r\nx-big: ${"a".repeat(2000)}\r\n\r\n`, 431],
      ["GET / HTTP/1.1\r\n\r\n", 400],
    ];
    for (const [request, status] of cases) {
      const client = new Raw(port);
      client.send(request);
      const res = await client.response();
      expect([request.slice(0, 20), res.status, res.headers.connection]).toEqual([
        request.slice(0, 20),
        status,
        "close",
      ]);
      await client.closedByServer();
    }
    expect(handled).toBe(0);
    // HTTP/1.0 needs no Host.
    const old = new Raw(port);
    old.send("GET / HTTP/1.0\r\n\r\n");
    expect((await old.response()).status).toBe(200);
  });

  it("refuses a request with both Content-Length and Transfer-Encoding (request smuggling)", async () => {
    // RFC 9112 §6.1: a server MAY reject it, and must close after; llhttp in strict mode does.
    let handled = 0;
    const { port } = await serve((_req, res) => {
      handled++;
      res.end("ok");
    });
    const client = new Raw(port);
    client.send(
      "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    const res = await client.response();
    expect([res.status, res.headers.connection]).toEqual([400, "close"]);
    await client.closedByServer();
    expect(handled).toBe(0);
  });

  it("answers 501 to a transfer coding other than chunked, and never passes the body on", async () => {
    // The gateway does not forward Transfer-Encoding: a gzip under the chunks would reach the
    // app as if the body were plain.
    let handled = 0;
    const { port } = await serve((_req, res) => {
      handled++;
      res.end("ok");
    });
    for (const coding of ["gzip, chunked", "x-custom, chunked"]) {
      const client = new Raw(port);
      client.send(`POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: ${coding}\r\n\r\n3\r\nabc\r\n0\r\n\r\n`);
      const res = await client.response();
      expect([coding, res.status, res.headers.connection]).toEqual([coding, 501, "close"]);
      await client.closedByServer();
    }
    expect(handled).toBe(0);
    const ok = new Raw(port);
    ok.send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:  Chunked \r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    expect((await ok.response()).status).toBe(200);
  });

  it("answers HEAD with headers only, and 204 and 304 without body or chunks", async () => {
    const { port } = await serve((req, res) => {
      if (req.url === "/204") {
        res.writeHead(204, {});
        res.write("ignored");
        return res.end();
      }
      if (req.url === "/304") return res.writeHead(304, { etag: '"x"' }).end("ignored too");
      // An app that does not special-case HEAD: sets the length and writes the body anyway.
      res.writeHead(200, { "content-type": "text/plain", "content-length": "11" });
      res.end("hello world");
    });
    const client = new Raw(port);
    client.send(`HEAD / HTTP/1.1\r\nHost: t\r\n\r\n`);
    const head = await client.response({ head: true });
    expect([head.status, head.headers["content-length"], head.headers["transfer-encoding"]]).toEqual([
      200,
      "11",
      undefined,
    ]);
    await sleep(30);
    expect(client.text).toBe(""); // no body bytes followed
    // The connection is still in step: the next response parses from its first byte.
    client.send(get("/"));
    expect((await client.response()).body.toString()).toBe("hello world");

    for (const status of [204, 304]) {
      client.send(get(`/${status}`));
      const res = await client.response();
      expect(res.status).toBe(status);
      expect(res.headers["transfer-encoding"]).toBeUndefined();
      expect(res.headers["content-length"]).toBeUndefined();
      client.send(get("/"));
      // Had a body or a chunk followed, this response would not start where it should.
      const next = await client.response();
      expect([next.status, next.body.toString()]).toEqual([200, "hello world"]);
    }
    expect(client.text).toBe("");
  });

  it("hands an Upgrade request to onUpgrade with its socket and the bytes after it, and refuses CONNECT", async () => {
    let requests = 0;
    const { server, port } = await serve((_req, res) => {
      requests++;
      res.end();
    });
    const upgraded: Array<{ url: string; head: string }> = [];
    server.onUpgrade = (req, socket, head) => {
      upgraded.push({ url: req.url, head: head.toString() });
      socket.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
      socket.on("data", (d: Buffer) => socket.write(d.toString().toUpperCase()));
      socket.on("error", () => undefined);
    };
    const client = new Raw(port);
    // First a plain request on the same connection: the parser hands over mid-connection.
    client.send(get("/plain"));
    expect((await client.response()).status).toBe(200);
    client.send("GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nearly bytes");
    const switched = await client.response();
    expect(switched.status).toBe(101);
    expect(upgraded).toEqual([{ url: "/ws", head: "early bytes" }]);
    client.send("raw from here");
    expect(await client.until(() => (client.text === "RAW FROM HERE" ? client.text : undefined))).toBe("RAW FROM HERE");

    // The gateway is no forward proxy.
    const tunnel = new Raw(port);
    tunnel.send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    const refused = await tunnel.response();
    expect([refused.status, refused.headers.connection]).toEqual([405, "close"]);
    await tunnel.closedByServer();
    expect(upgraded).toHaveLength(1);
    expect(requests).toBe(1);
  });

  it("sends an answer given at once before the Upgrade whose request came behind it in the same read", async () => {
    // An answer's last piece is written at the end of the event loop's turn: the socket handed
    // to onUpgrade must have carried it first.
    const { server, port } = await serve((_req, res) => res.end("plain answer"));
    server.onUpgrade = (_req, socket) => socket.write("HTTP/1.1 101 Switching Protocols\r\n\r\n");
    const client = new Raw(port);
    client.send(`${get("/plain")}GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
    const first = await client.response();
    expect([first.status, first.body.toString()]).toEqual([200, "plain answer"]);
    expect((await client.response()).status).toBe(101);
  });

  it("answers 408 to headers that stop coming", async () => {
    // A slow client must not hold a connection forever (slowloris).
    const { port } = await serve((_req, res) => res.end("ok"), { headersTimeoutMs: 200 });
    const client = new Raw(port);
    client.send("GET / HTTP/1.1\r\nHost: t\r\nx-partial: ");
    const res = await client.response({ timeoutMs: 1800 });
    expect([res.status, res.headers.connection]).toEqual([408, "close"]);
    await client.closedByServer();
  });

  it("answers 408 to the head of a kept-alive connection's next request that stops coming", async () => {
    const { port } = await serve((_req, res) => res.end("ok"), { headersTimeoutMs: 200 });
    const client = new Raw(port);
    client.send(get("/first"));
    expect((await client.response()).status).toBe(200);
    client.send("GET /second HTTP/1.1\r\nHost: t\r\nx-partial: ");
    const res = await client.response({ timeoutMs: 1800 });
    expect([res.status, res.headers.connection]).toEqual([408, "close"]);
    await client.closedByServer();
  });

  it("answers 408 to a head that began in the read of a request answered at once, then stopped", async () => {
    // The head's first bytes came behind a whole request, in the same read: its clock starts
    // there although the request ahead was answered before the parser reached them.
    const { port } = await serve((_req, res) => res.end("ok"), { headersTimeoutMs: 200 });
    const client = new Raw(port);
    client.send(`${get("/first")}GET /second HTTP/1.1\r\nHost: t\r\nx-partial: `);
    expect((await client.response()).status).toBe(200);
    const res = await client.response({ timeoutMs: 1800 });
    expect([res.status, res.headers.connection]).toEqual([408, "close"]);
    await client.closedByServer();
  });

  it("times the head of a request that arrives behind an answer under way: no more requests, then 408", async () => {
    // The answer ahead (an event stream, here) goes on; the late head gets no more time, and
    // nothing after it is answered: once the stream ends, 408 and the connection closes.
    const streams: Response[] = [];
    const { port } = await serve(
      (_req, res) => {
        streams.push(res);
        res.writeHead(200, { "content-type": "text/event-stream" }).write("data: 1\n\n");
      },
      { headersTimeoutMs: 200 },
    );
    const client = new Raw(port);
    client.send(get("/stream"));
    await client.until(() => (client.text.includes("data: 1") ? true : undefined));
    client.send("GET /next HTTP/1.1\r\nHost: t\r\nx-partial: ");
    await sleep(1500); // past the headers timeout, the stream still open
    client.send("1\r\n\r\n"); // the head completes late: not answered
    await sleep(100);
    expect(streams).toHaveLength(1);
    streams[0]?.end("data: 2\n\n");
    const stream = await client.response();
    expect(stream.body.toString()).toBe("data: 1\n\ndata: 2\n\n");
    const late = await client.response();
    expect([late.status, late.headers.connection]).toEqual([408, "close"]);
    await client.closedByServer();
    expect(streams).toHaveLength(1);
  });

  it("answers 408 to a body that stops coming, and tells the handler its client is gone", async () => {
    // One byte of a 100-byte body, then nothing (nginx's client_body_timeout).
    let closed = false;
    const { port } = await serve(
      (req, res) => {
        res.once("close", () => {
          closed = true;
        });
        req.body?.on("data", () => undefined);
      },
      { bodyTimeoutMs: 300, bodyMinRate: 0 },
    );
    // The rate is not checked: the quiet spell alone ends it.
    const client = new Raw(port);
    client.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nx");
    const res = await client.response({ timeoutMs: 4000 });
    expect([res.status, res.headers.connection]).toEqual([408, "close"]);
    expect(res.body.toString()).toContain("no body bytes");
    await client.closedByServer();
    expect(closed).toBe(true);
  });

  it("answers 408 to a body trickled slower than the minimum rate, though bytes never stop for long", async () => {
    const { port } = await serve((req) => req.body?.on("data", () => undefined), {
      bodyTimeoutMs: 600,
      bodyMinRate: 100,
    });
    const client = new Raw(port);
    client.send("POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    const trickle = setInterval(() => client.socket.writable && client.send("1\r\nx\r\n"), 200);
    try {
      const res = await client.response({ timeoutMs: 4000 });
      expect([res.status, res.headers.connection]).toEqual([408, "close"]);
      expect(res.body.toString()).toContain("slower than 100 bytes/s");
    } finally {
      clearInterval(trickle);
    }
  });

  it("cuts a connection whose body stops coming after its answer started", async () => {
    const { port } = await serve(
      (req, res) => {
        req.body?.on("data", () => undefined);
        res.writeHead(200, { "content-type": "text/plain" }).write("streaming while the body comes");
      },
      { bodyTimeoutMs: 300 },
    );
    const client = new Raw(port);
    client.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nx");
    await client.until(() => (client.text.includes("streaming") ? true : undefined));
    await client.closedByServer(4000);
  });

  it("does not count the time a body waits unread (a request held while its app wakes)", async () => {
    // The handler reads the body only after a while; the client sent all of it at once.
    const { port } = await serve(
      (req, res) => {
        const parts: Buffer[] = [];
        setTimeout(() => {
          req.body?.on("data", (d: Buffer) => parts.push(d));
          req.body?.once("end", () => res.end(`got ${Buffer.concat(parts).length}`));
        }, 1500);
      },
      { bodyTimeoutMs: 300, bodyMinRate: 1000 },
    );
    const client = new Raw(port);
    const size = 4 << 20; // more than one read: the server stops reading while nobody reads the body
    client.send(`POST /held HTTP/1.1\r\nHost: t\r\nContent-Length: ${size}\r\n\r\n`);
    client.send(Buffer.alloc(size, "b"));
    const res = await client.response({ timeoutMs: 4000 });
    expect([res.status, res.body.toString()]).toEqual([200, `got ${size}`]);
  });

  it("slowBody(): a quiet spell over the timeout, or a whole body under the rate after its grace", () => {
    const limits = { bodyTimeoutMs: 60_000, bodyMinRate: 500 };
    expect(slowBody({ waitedMs: 10_000, quietMs: 10_000, bytes: 0 }, limits)).toBeUndefined();
    expect(slowBody({ waitedMs: 61_000, quietMs: 61_000, bytes: 0 }, limits)).toMatch(/no body bytes for 60 s/);
    // A byte every 2 s: never quiet for long, but 30 bytes in a minute.
    expect(slowBody({ waitedMs: 61_000, quietMs: 2000, bytes: 30 }, limits)).toMatch(/slower than 500 bytes\/s/);
    // 1 MB at 1000 bytes/s is within the rate.
    expect(slowBody({ waitedMs: 1000_000, quietMs: 100, bytes: 1_000_000 }, limits)).toBeUndefined();
    expect(slowBody({ waitedMs: 600_000, quietMs: 2000, bytes: 30 }, { ...limits, bodyMinRate: 0 })).toBeUndefined();
  });

  it("closes connections over maxConnections as they come, and reports each", async () => {
    let dropped = 0;
    const { server, port } = await serve((_req, res) => res.end("ok"), { maxConnections: 2 });
    server.onDrop = () => dropped++;
    const first = new Raw(port);
    const second = new Raw(port);
    first.send(get("/1"));
    second.send(get("/2"));
    expect((await first.response()).status).toBe(200);
    expect((await second.response()).status).toBe(200);
    const third = new Raw(port);
    third.send(get("/3"));
    await third.closedByServer();
    expect(third.text).toBe("");
    expect(dropped).toBe(1);
    first.socket.destroy();
    await sleep(50);
    const fourth = new Raw(port);
    fourth.send(get("/4"));
    expect((await fourth.response()).status).toBe(200);
  });

  it("throttled(): the first event at once, then the count of each interval's events", async () => {
    const reports: number[] = [];
    const notice = throttled(100, (n) => reports.push(n));
    for (let i = 0; i < 5; i++) notice();
    expect(reports).toEqual([1]);
    await sleep(150);
    expect(reports).toEqual([1, 4]);
    await sleep(150);
    notice();
    expect(reports).toEqual([1, 4, 1]);
  });

  it("closes a connection idle past the keep-alive timeout", async () => {
    const { port } = await serve((_req, res) => res.end("ok"), { keepAliveTimeoutMs: 200 });
    const client = new Raw(port);
    client.send(get("/"));
    expect((await client.response()).status).toBe(200);
    await client.closedByServer(1800);
  });

  it("emits 'close' on the response when the client leaves mid-response", async () => {
    // The proxy stops reading from the app when nobody is left to read.
    const closed = deferred<boolean>();
    const { url } = await serve((_req, res) => {
      res.on("close", () => closed.resolve(true));
      res.write("first");
      const timer = setInterval(() => res.write("more"), 20);
      res.on("close", () => clearInterval(timer));
    });
    const res = await new Promise<IncomingMessage>((resolve, reject) =>
      httpRequest(url, resolve).on("error", reject).end(),
    );
    await once(res, "data");
    res.destroy();
    expect(await Promise.race([closed.promise, sleep(1000).then(() => false)])).toBe(true);
  });

  it("emits 'close' on the response when the client leaves while its body is arriving", async () => {
    const closed = deferred<boolean>();
    const { port } = await serve((req, res) => {
      res.on("close", () => closed.resolve(true));
      req.body?.on("data", () => undefined);
    });
    const client = new Raw(port);
    client.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\npart");
    await sleep(50);
    client.socket.destroy();
    expect(await Promise.race([closed.promise, sleep(1000).then(() => false)])).toBe(true);
  });

  it("answers before the body is through with connection: close, and lingers so the client reads it all", async () => {
    // A 413 or 401 to an upload: closing at once, with the upload still coming, would make the
    // client's kernel reset the connection and drop the response before the client read it.
    const answer = Buffer.alloc(256 * 1024, "r");
    const { port } = await serve((_req, res) => res.writeHead(413, { "content-type": "text/plain" }).end(answer));
    const client = new Raw(port);
    const size = 8 * 1024 * 1024;
    client.send(`POST / HTTP/1.1\r\nHost: t\r\nContent-Length: ${size}\r\n\r\n`);
    client.send(Buffer.alloc(size, "u"));
    const res = await client.response({ timeoutMs: 1800 });
    expect([res.status, res.headers.connection, res.body.length]).toEqual([413, "close", answer.length]);
    expect(res.body.equals(answer)).toBe(true);
    await client.closedByServer();
    expect(client.error).toBeUndefined();
  });

  it("answers a client that half-closes right after its request when the answer is at hand", async () => {
    // `printf ... | nc`: the request, then FIN. Answered as it is read, it still reaches the client.
    const { port } = await serve((req, res) => res.end(`answer ${req.url}`));
    const client = new Raw(port, { allowHalfOpen: true });
    client.socket.end(get("/a") + get("/b"));
    await client.closedByServer();
    const first = await client.response();
    expect(first.body.toString()).toBe("answer /a");
    const second = await client.response();
    expect(second.body.toString()).toBe("answer /b");
  });

  it("takes a FIN while an answer is owed as the client leaving (as nginx and node:http do)", async () => {
    // A proxied long poll or event stream whose client went away must not hold the app (and
    // its activity) open until the app writes again: the response learns of it at once.
    let closed = false;
    const { port } = await serve((_req, res) => {
      res.once("close", () => {
        closed = true;
      });
    });
    const client = new Raw(port, { allowHalfOpen: true });
    client.socket.end(get("/poll"));
    await client.closedByServer();
    expect(closed).toBe(true);
  });

  it("close(): idle connections close at once, a busy one finishes its response, then it resolves", async () => {
    const release = deferred();
    const { server, port } = await serve(async (req, res) => {
      if (req.url === "/slow") await release.promise;
      res.end(`done ${req.url}`);
    });
    const idle = new Raw(port);
    idle.send(get("/quick"));
    await idle.response();
    const fresh = new Raw(port); // connected, never sent a byte
    await once(fresh.socket, "connect");
    const busy = new Raw(port);
    busy.send(get("/slow"));
    await sleep(30);

    let resolved = false;
    const closing = server.close().then(() => {
      resolved = true;
    });
    await idle.closedByServer(300);
    await fresh.closedByServer(300);
    expect(busy.ended || busy.closed).toBe(false);
    expect(resolved).toBe(false);

    release.resolve();
    const res = await busy.response();
    expect([res.body.toString(), res.headers.connection]).toEqual(["done /slow", "close"]);
    await busy.closedByServer();
    await Promise.race([closing, sleep(1500)]);
    expect(resolved).toBe(true);
  });

  it("sends a head without body bytes on its own at the end of the tick (an event stream that waits)", async () => {
    // EventSource opens on the headers: an app that sends them and then waits for news must
    // not leave its clients without them. Headers and body written in one tick still go as one.
    const { url, port } = await serve((req, res) => {
      res.writeHead(200, ["content-type", "text/event-stream"]);
      if (req.url === "/now") res.end("data: at once\n\n");
    });
    const waiting = await fetch(`${url}/wait`);
    expect([waiting.status, waiting.headers.get("transfer-encoding")]).toEqual([200, "chunked"]);
    await waiting.body?.cancel();
    const client = new Raw(port);
    client.send(get("/now"));
    const res = await client.response();
    expect([res.headers["content-length"], res.body.toString()]).toEqual(["15", "data: at once\n\n"]);
  });

  it("cuts a client that takes no bytes for the send timeout while a response waits", async () => {
    // A stalled reader must not hold the response (and through the gateway, its app) open.
    let closed = false;
    const { port } = await serve(
      (_req, res) => {
        res.once("close", () => {
          closed = true;
        });
        const chunk = Buffer.alloc(1 << 20, "d");
        const more = () => {
          while (!closed && res.write(chunk));
        };
        res.on("drain", more);
        more();
      },
      { sendTimeoutMs: 200 },
    );
    const client = new Raw(port);
    client.socket.pause(); // never reads
    client.send(get("/download"));
    for (let waited = 0; !closed && waited < 2500; waited += 50) await sleep(50);
    expect(closed).toBe(true);
  });

  it("close(graceMs): what is still open after the grace (a stream, a WebSocket) is cut, and it resolves", async () => {
    // A shutdown must end within Kubernetes' grace period however long an app streams.
    const { server, port } = await serve((_req, res) => {
      res.writeHead(200, ["content-type", "text/event-stream"]);
      res.write("data: first\n\n"); // and never ends
    });
    server.onUpgrade = (_req, socket) => socket.write("HTTP/1.1 101 Switching Protocols\r\n\r\n");
    const stream = new Raw(port);
    stream.send(get("/events"));
    await stream.until(() => (stream.text.includes("first") ? true : undefined));
    const tunnel = new Raw(port);
    tunnel.send("GET /ws HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n");
    await tunnel.until(() => (tunnel.text.startsWith("HTTP/1.1 101") ? true : undefined));

    const started = Date.now();
    await server.close(200);
    expect(Date.now() - started).toBeLessThan(1500);
    await stream.closedByServer(300);
    await tunnel.closedByServer(300);
  });

  it("refuses header values with CR or LF, and invalid names, in writeHead", async () => {
    // Response splitting: a value from upstream or an app must never start a header of its own.
    const errors: string[] = [];
    const { url } = await serve((_req, res) => {
      for (const headers of [
        { "x-a": "one\r\nx-injected: 1" },
        ["x-b", "two\nx-injected: 2"],
        ["x-c", "three\r"],
        ["bad name", "v"],
        ["x-d:", "v"],
      ])
        try {
          res.writeHead(200, headers as Record<string, string>);
        } catch (e) {
          errors.push((e as Error).message);
        }
      expect(res.headersSent).toBe(false);
      res.writeHead(200, ["x-ok", "tab\tand latin1 \xe9"]).end("ok");
    });
    const res = await fetch(url);
    expect(await res.text()).toBe("ok");
    expect(errors).toHaveLength(5);
    expect(res.headers.get("x-injected")).toBeNull();
  });

  it("reads 40+ header fields, which llhttp hands over in parts, with the whole url", async () => {
    let seen: Request | undefined;
    const { port } = await serve((req, res) => {
      seen = req;
      res.end("ok");
    });
    const url = `/path?${"q=1&".repeat(500)}end`;
    const fields: string[] = [];
    for (let i = 0; i < 45; i++) fields.push(`X-Field-${i}`, `value ${i}`);
    const head = `GET ${url} HTTP/1.1\r\nHost: t\r\n${fields.map((f, i) => (i % 2 ? `${f}\r\n` : `${f}: `)).join("")}\r\n`;
    const client = new Raw(port);
    // In several writes, so the url and the fields also span reads.
    for (let at = 0; at < head.length; at += 700) {
      client.send(head.slice(at, at + 700));
      await sleep(5);
    }
    expect((await client.response()).status).toBe(200);
    expect(seen?.url).toBe(url);
    expect(seen?.rawHeaders).toEqual(["Host", "t", ...fields]);
    expect(seen?.headers["x-field-44"]).toBe("value 44");
    expect(seen?.headers.host).toBe("t");

    // And again on the same connection: nothing of the first request's parts carried over.
    client.send(get("/second", "a: 1\r\n__proto__: p\r\nconstructor: c\r\n"));
    expect((await client.response()).status).toBe(200);
    expect(seen?.url).toBe("/second");
    expect(seen?.rawHeaders).toEqual(["Host", "test", "a", "1", "__proto__", "p", "constructor", "c"]);
    expect([seen?.headers[PROTO], seen?.headers.constructor]).toEqual(["p", "c"]);
  });

  it("headersOf(): joins repeats as node:http does, keeps the first of single fields, and has no prototype", () => {
    const headers = headersOf([
      "Accept",
      "a/b",
      "accept",
      "c/d",
      "Cookie",
      "a=1",
      "cookie",
      "b=2",
      "Host",
      "first",
      "HOST",
      "second",
      "Content-Length",
      "5",
      "content-length",
      "6",
      "__proto__",
      "polluted",
      "constructor",
      "also a field",
      "X-Empty",
      "",
    ]);
    expect(headers.accept).toBe("a/b, c/d");
    expect(headers.cookie).toBe("a=1; b=2");
    expect(headers.host).toBe("first");
    expect(headers["content-length"]).toBe("5");
    expect(headers[PROTO]).toBe("polluted");
    expect(headers.constructor).toBe("also a field");
    expect(headers["x-empty"]).toBe("");
    expect(Object.getPrototypeOf(headers)).toBeNull();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(headers.toString).toBeUndefined();
  });

  it("passes QUERY and every other method llhttp knows with its name", async () => {
    const seen: string[] = [];
    const { port } = await serve((req, res) => {
      seen.push(req.method);
      res.end(req.method);
    });
    const methods = NODE_METHODS.filter((m) => m !== "CONNECT");
    expect(methods).toContain("QUERY");
    const client = new Raw(port);
    for (const method of methods) {
      client.send(`${method} /x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n`);
      const res = await client.response({ head: method === "HEAD" });
      expect([method, res.status]).toEqual([method, 200]);
    }
    expect(seen).toEqual(methods);
  });

  it("answers 500 when the handler throws before responding", async () => {
    const { url } = await serve(() => {
      throw new Error("bug");
    });
    const res = await fetch(url);
    expect(res.status).toBe(500);
    expect(await res.text()).toMatch(/failed/);
  });
});
