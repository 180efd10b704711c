// The gateway's client for app pods: keep-alive connections per endpoint, each response parsed
// by llhttp (node:http's own parser, see llhttp.ts) and written straight to the client's
// response.
//
// Why not node:http's client: per request it builds a ClientRequest, a response stream and Agent
// bookkeeping, which in gateway-warm cost more than the rest of the gateway together (see
// docs/adr/0005). The parser, the part that must be exact, is the same code node:http trusts;
// this module adds the pool and the piping.
import { connect, type Socket } from "node:net";
import { withoutHopByHop } from "./headers.ts";
import { HTTPParser, handleOf, type ParseError, type Parser } from "./llhttp.ts";

export type Endpoint = {
  host: string;
  port: number;
  /** `host:port`, when made once with the endpoint (else per request, as the pool's key). */
  address?: string;
};

/** An endpoint's `host:port`: the pool's key, and the Host of a request that brought none. */
export const addressOf = (endpoint: Endpoint) => endpoint.address ?? `${endpoint.host}:${endpoint.port}`;

/** The app could not be reached or sent no usable response; status is what the client gets. */
export class UpstreamError extends Error {
  readonly status: number;
  constructor(message: string, status = 502) {
    super(message);
    this.status = status;
  }
}

/** A request body as it arrives from the client (server.ts' RequestBody, or node:http's request). */
export type BodySource = {
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
  once(event: "end", listener: () => void): unknown;
  pause(): unknown;
  resume(): unknown;
};

/** Where the app's response goes (server.ts' Response, or node:http's ServerResponse). */
export type ResponseSink = {
  writeHead(status: number, rawHeaders: string[]): unknown;
  write(chunk: Buffer): boolean;
  /** With the body's last chunk when it is known to be the last (one write for both). */
  end(chunk?: Buffer): unknown;
  destroy(): unknown;
  once(event: "close" | "drain", listener: () => void): unknown;
  /**
   * server.ts' Response: a head held for the body's first bytes, sent alone by flushHead()
   * when a read from the app brought none (no tick per response to do it).
   */
  writeHeadHeld?(status: number, rawHeaders: string[]): unknown;
  flushHead?(): void;
  /** server.ts' Response: one callback slot for its end, set per exchange instead of a listener. */
  onClose?: ((res: never) => void) | undefined;
};

export type UpstreamRequest = {
  /** Request line and headers, as made by requestHead(). */
  head: string;
  method: string;
  /** The client's request body when it has one, streamed to the app as it arrives. */
  body?: BodySource | undefined;
  /** The body goes as chunks (its length is unknown). */
  chunked?: boolean;
  maxBodyBytes: number;
  /** Called once the app's response headers went to the client. */
  onResponse?: ((status: number) => void) | undefined;
};

export type PoolOptions = {
  /** Idle connections kept per endpoint. */
  maxIdle: number;
  /**
   * Idle connections are closed after this long: less than an app's own keep-alive timeout
   * (node:http's default is 5 s), so a request seldom meets a connection the app is closing.
   */
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  /**
   * The app must send response bytes at least this often while it owes them (nginx's
   * proxy_read_timeout): from the request written to the head, and between reads of the body.
   * Silent longer: 504 (nothing sent yet) or the response cut, and the connection closed.
   * Time the gateway holds the app back for a slow client does not count, nor does time the
   * request's body is still arriving from the client (the server's body timeout covers that).
   */
  responseTimeoutMs: number;
  maxHeaderBytes: number;
};

export const defaultPoolOptions: PoolOptions = {
  maxIdle: 64,
  idleTimeoutMs: 4000,
  connectTimeoutMs: 10_000,
  responseTimeoutMs: 60_000,
  maxHeaderBytes: 64 * 1024,
};

/** A Content-Length value the gateway counts a body by (llhttp refuses other forms in strict mode). */
const PLAIN_LENGTH = /^\d{1,15}$/;

// Requests that may go again on a fresh connection when the app closed a kept-alive one before
// any byte of an answer (RFC 9110 §9.2.2): safe methods without a body. Only then: a request
// the gateway itself gave up on (its client left, a timeout, a refused body) may have reached
// the app and is never sent again.
const RETRYABLE = new Set(["GET", "HEAD", "OPTIONS"]);

/** Why an exchange failed: the app ended the connection, or the gateway did (see RETRYABLE). */
type Ender = "app" | "gateway";

type Exchange = {
  request: UpstreamRequest;
  res: ResponseSink;
  /** The whole request is written (a body included). */
  sent: boolean;
  /** Response headers went to the client. */
  responded: boolean;
  /** Bytes of the app's answer arrived (a 1xx included). */
  answered: boolean;
  /** A 1xx response is being read; the final one follows. */
  informational: boolean;
  done(error?: UpstreamError, retryable?: boolean): void;
};

class Connection {
  readonly key: string;
  readonly socket: Socket;
  idleSince = 0;
  /**
   * How long this connection may sit idle: the pool's limit, or less when the app announced a
   * shorter keep-alive timeout (a quarter under it, so a request never races the app's close).
   */
  idleLimitMs: number;
  /** Responses completed on this connection: a reused connection may have been closed by the app. */
  served = 0;
  /** Reads from the app and writes it took ('drain'), counted for the response timeout's sweep. */
  progress = 0;
  /** What the response timeout's sweep last saw: the exchange, its progress, and since when. */
  private watched: { exchange: Exchange; progress: number; since: number } | undefined;
  /** Reading from the app is paused until the client takes what was written (backpressure). */
  private heldForClient = false;
  private readonly pool: UpstreamPool;
  private exchange: Exchange | undefined;
  private headerParts: string[] = [];
  private keepAlive = false;
  /** The app's last Keep-Alive value, already applied to idleLimitMs. */
  private keepAliveSeen: string | undefined;
  private dead = false;
  private readonly parser: Parser;
  /**
   * Body bytes the response being read still owes, when it gave one plain Content-Length: its
   * end is counted in onBody, and llhttp's message-complete callback (a call into JS per
   * response) is not set. -1: llhttp tells the end (chunks, the connection's end, no body).
   */
  private owed = -1;

  constructor(pool: UpstreamPool, key: string, endpoint: Endpoint, options: PoolOptions) {
    this.pool = pool;
    this.key = key;
    this.idleLimitMs = options.idleTimeoutMs;
    this.socket = connect({ host: endpoint.host, port: endpoint.port, noDelay: true });
    pool.open.add(this);
    this.socket.setTimeout(options.connectTimeoutMs, () =>
      this.fail(new UpstreamError(`The app did not accept a connection in ${options.connectTimeoutMs} ms`)),
    );
    this.socket.once("connect", () => this.socket.setTimeout(0));
    const parser = new HTTPParser();
    this.parser = parser;
    parser.initialize(HTTPParser.RESPONSE, {}, options.maxHeaderBytes, HTTPParser.kLenientNone);
    // Long header lists arrive in parts before the headers are complete (and trailers after the body).
    parser[HTTPParser.kOnHeaders] = (raw: string[]) => this.headerParts.push(...raw);
    parser[HTTPParser.kOnHeadersComplete] = (
      _major: number,
      _minor: number,
      raw: string[] | undefined,
      _method: unknown,
      _url: unknown,
      status: number,
      _message: string,
      _upgrade: boolean,
      keepAlive: boolean,
    ) => this.onHeaders(raw ?? this.headerParts, status, keepAlive);
    parser[HTTPParser.kOnBody] = (chunk: Buffer) => this.onBody(chunk);
    parser[HTTPParser.kOnMessageComplete] = this.messageComplete;
    // Each read from the app ends here, after its bytes were parsed. Bytes read while an exchange
    // is on the connection are its answer's (a 1xx included): no kOnMessageBegin callback, which
    // would cost a call into JS per response for the same fact.
    parser[HTTPParser.kOnExecute] = (result: number | ParseError) => {
      this.progress++;
      const exchange = this.exchange;
      if (exchange) exchange.answered = true;
      if (result instanceof Error) this.fail(new UpstreamError(`The app sent an invalid response (${result.code})`));
      // The read brought the head but not the end: what of the body came went out with it,
      // else the head goes alone now (an event stream, a slow download's start).
      else if (exchange?.responded) exchange.res.flushHead?.();
    };
    // The parser reads from the socket's handle itself, as node:http's server does with its
    // connections: a read costs no Buffer-to-stream 'data' event. Reads then bypass the stream,
    // so pausing it (backpressure) must stop them at the handle.
    const handle = handleOf(this.socket);
    parser.consume(handle);
    this.socket.on("pause", () => this.dead || handle.readStop());
    this.socket.on("resume", () => this.dead || handle.readStart());
    // An answer without a length ends with the connection.
    this.socket.on("end", () => {
      const result = parser.finish();
      if (result instanceof Error) this.fail(new UpstreamError("The app's response was cut short"), "app");
      this.fail(new UpstreamError("The app closed the connection before answering"), "app");
    });
    this.socket.on("error", (error) => this.fail(new UpstreamError(`The app did not answer: ${error.message}`), "app"));
    this.socket.on("close", () => {
      this.fail(new UpstreamError("The app closed the connection before answering"), "app");
      // Only now, outside the parser's own callbacks and with the handle closed.
      parser.unconsume();
      parser.close();
    });
    this.socket.on("drain", () => {
      this.progress++;
      this.exchange?.request.body?.resume();
    });
  }

  private readonly messageComplete = () => this.onComplete();

  /** The client left before the app's answer was through: the rest of it cannot be skipped. */
  private readonly clientClosed = (res: ResponseSink) => {
    if (this.exchange?.res === res) this.fail(new UpstreamError("The client went away"));
  };

  /** Writes one request; its exchange ends through done(). */
  send(exchange: Exchange): void {
    this.exchange = exchange;
    const { request, res } = exchange;
    if ("onClose" in res) res.onClose = this.clientClosed;
    else res.once("close", () => this.clientClosed(res));
    // latin1: the head's strings hold the bytes llhttp read (field values may carry obs-text),
    // one char each; as UTF-8 a byte such as 0xe9 would reach the app as two.
    const body = request.body;
    if (!body) {
      exchange.sent = true;
      this.pool.writeSoon(this, request.head);
      return;
    }
    this.socket.write(request.head, "latin1");
    let size = 0;
    body.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > request.maxBodyBytes) {
        body.pause();
        return this.fail(new UpstreamError(`Bodies are limited to ${request.maxBodyBytes} bytes`, 413));
      }
      if (!chunk.length || this.exchange !== exchange) return;
      let flushed: boolean;
      if (request.chunked) {
        this.socket.cork();
        this.socket.write(`${chunk.length.toString(16)}\r\n`);
        this.socket.write(chunk);
        flushed = this.socket.write("\r\n");
        this.socket.uncork();
      } else flushed = this.socket.write(chunk);
      if (!flushed) body.pause();
    });
    body.once("end", () => {
      if (this.exchange !== exchange) return;
      if (request.chunked) this.socket.write("0\r\n\r\n");
      exchange.sent = true;
    });
  }

  private onHeaders(raw: string[], status: number, keepAlive: boolean): number {
    if (this.headerParts.length) this.headerParts = [];
    const exchange = this.exchange;
    if (!exchange) {
      this.fail(new UpstreamError("The app sent a response nobody asked for"));
      return 1;
    }
    if (status === 101) {
      this.fail(new UpstreamError("The app switched protocols without being asked"));
      return 1;
    }
    this.owed = -1;
    this.parser[HTTPParser.kOnMessageComplete] = this.messageComplete;
    if (status < 200) {
      exchange.informational = true; // 100 Continue, 103 Early Hints: the final answer follows
      return 0;
    }
    this.keepAlive = keepAlive;
    let length = -1;
    let lengths = 0;
    let coded = false;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i] as string;
      if (name.length === 10 && name.toLowerCase() === "keep-alive") {
        // An app sends the same value with every response: read once per connection.
        const value = raw[i + 1] as string;
        if (value === this.keepAliveSeen) continue;
        this.keepAliveSeen = value;
        const seconds = Number(value.match(/timeout=(\d+)/i)?.[1]);
        if (seconds >= 0) this.idleLimitMs = Math.min(this.idleLimitMs, seconds * 750);
      } else if (name.length === 14 && name.toLowerCase() === "content-length") {
        lengths++;
        length = PLAIN_LENGTH.test(raw[i + 1] as string) ? Number(raw[i + 1]) : -1;
      } else if (name.length === 17 && name.toLowerCase() === "transfer-encoding") coded = true;
    }
    // One plain length of a byte or more, on a response that has a body: its end is counted.
    if (
      lengths === 1 &&
      !coded &&
      length > 0 &&
      status !== 204 &&
      status !== 304 &&
      exchange.request.method !== "HEAD"
    ) {
      this.owed = length;
      this.parser[HTTPParser.kOnMessageComplete] = undefined;
    }
    try {
      const res = exchange.res;
      if (res.writeHeadHeld) res.writeHeadHeld(status, withoutHopByHop(raw));
      else res.writeHead(status, withoutHopByHop(raw));
    } catch (error) {
      this.fail(new UpstreamError(`The app sent headers that cannot be forwarded: ${(error as Error).message}`));
      return 1;
    }
    exchange.responded = true;
    exchange.request.onResponse?.(status);
    return exchange.request.method === "HEAD" ? 1 : 0; // 1: the response has no body
  }

  private onBody(chunk: Buffer): void {
    const exchange = this.exchange;
    if (!exchange) return;
    // The last of a counted body: the response ends with it.
    if (this.owed > 0 && chunk.length >= this.owed) {
      this.owed = 0;
      this.onComplete(chunk);
      return;
    }
    if (this.owed > 0) this.owed -= chunk.length;
    if (exchange.res.write(chunk)) return;
    // The client reads slower than the app writes: stop reading from the app until it caught up.
    this.socket.pause();
    this.heldForClient = true;
    exchange.res.once("drain", () => {
      if (this.exchange !== exchange) return;
      this.heldForClient = false;
      this.socket.resume();
    });
  }

  private onComplete(last?: Buffer): void {
    if (this.headerParts.length) this.headerParts = [];
    const exchange = this.exchange;
    if (!exchange) return;
    if (exchange.informational) {
      exchange.informational = false;
      return;
    }
    this.exchange = undefined;
    this.served++;
    if (last) exchange.res.end(last);
    else exchange.res.end();
    // The last write may have paused the app's side for a client that will never drain (one
    // that went away): the next exchange on this connection must read again.
    this.heldForClient = false;
    this.socket.resume();
    // An app may answer before reading the whole body (a 413, say): then the connection is
    // mid-request and cannot carry another.
    if (this.keepAlive && exchange.sent) this.pool.release(this);
    else this.close();
    exchange.done();
  }

  /**
   * For the pool's sweep: ends the exchange with 504 when the app owes bytes and sent none for
   * the response timeout. The app owes them once the request is written, or while a write of it
   * waits for the app to read; not while the client holds the answer back.
   */
  checkResponseTime(now: number, timeoutMs: number): void {
    const exchange = this.exchange;
    // Still connecting: the connect timeout's to judge.
    const owes =
      exchange !== undefined &&
      !this.socket.connecting &&
      (this.socket.writableNeedDrain || (exchange.sent && !this.heldForClient));
    if (!owes) {
      this.watched = undefined;
      return;
    }
    const seen = this.watched;
    if (!seen || seen.exchange !== exchange || seen.progress !== this.progress)
      this.watched = { exchange, progress: this.progress, since: now };
    else if (now - seen.since >= timeoutMs)
      this.fail(new UpstreamError(`The app did not answer within ${timeoutMs / 1000} s`, 504));
  }

  /**
   * Ends the connection; an exchange still on it ends with the error, to be retried on a fresh
   * connection only when the app ended this one before any answer (see RETRYABLE).
   */
  fail(error: UpstreamError, by: Ender = "gateway"): void {
    if (this.dead) return;
    this.close();
    const exchange = this.exchange;
    this.exchange = undefined;
    if (!exchange) return;
    if (exchange.responded) {
      // Headers are out: the client can only see the response cut short, as the app cut it.
      exchange.res.destroy();
      exchange.done();
    } else
      exchange.done(
        error,
        by === "app" && this.served > 0 && !exchange.answered && RETRYABLE.has(exchange.request.method),
      );
  }

  /** A head writeSoon held: written unless the connection ended meanwhile. */
  writeHeld(head: string): void {
    if (!this.dead) this.socket.write(head, "latin1");
  }

  close(): void {
    if (this.dead) return;
    this.dead = true;
    this.pool.open.delete(this);
    this.pool.forget(this);
    this.socket.destroy();
  }
}

/** Keep-alive connections to app endpoints. */
export class UpstreamPool {
  private readonly idle = new Map<string, Connection[]>();
  /** Every connection not yet closed, idle or busy (the response timeout's sweep). */
  readonly open = new Set<Connection>();
  private readonly options: PoolOptions;
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: Partial<PoolOptions> = {}) {
    this.options = { ...defaultPoolOptions, ...options };
    const { idleTimeoutMs, responseTimeoutMs } = this.options;
    this.sweeper = setInterval(() => this.sweep(), Math.max(10, Math.min(1000, idleTimeoutMs, responseTimeoutMs / 4)));
    this.sweeper.unref();
  }

  /**
   * Sends the request to the endpoint and the app's response to res. done() comes once the
   * response is through (or cut short after its headers), or with an UpstreamError when nothing
   * was sent to the client yet, so the caller can answer with an error page.
   */
  forward(endpoint: Endpoint, request: UpstreamRequest, res: ResponseSink, done: (error?: UpstreamError) => void) {
    const key = addressOf(endpoint);
    const attempt = (fresh: boolean) => {
      const connection = (!fresh && this.take(key)) || new Connection(this, key, endpoint, this.options);
      connection.send({
        request,
        res,
        sent: false,
        responded: false,
        answered: false,
        informational: false,
        done: (error, retryable) => {
          if (error && retryable && !request.body) attempt(true);
          else done(error);
        },
      });
    };
    attempt(false);
  }

  private held: Array<Connection | string> = [];
  private spare: Array<Connection | string> = [];

  /**
   * Writes a request head once this turn of the event loop has read what it will: the heads of
   * all requests read in one turn go to the apps together, so that an app woken by the first
   * finds the others there too (fewer wake-ups and context switches on a shared machine).
   */
  writeSoon(connection: Connection, head: string): void {
    if (this.held.length === 0) setImmediate(this.writeHeld);
    this.held.push(connection, head);
  }

  private readonly writeHeld = () => {
    const held = this.held;
    this.held = this.spare;
    for (let i = 0; i < held.length; i += 2) (held[i] as Connection).writeHeld(held[i + 1] as string);
    held.length = 0;
    this.spare = held;
  };

  /** Idle connections per endpoint (for tests and metrics). */
  idleCount(endpoint: Endpoint): number {
    return this.idle.get(addressOf(endpoint))?.length ?? 0;
  }

  release(connection: Connection): void {
    let list = this.idle.get(connection.key);
    if (!list) {
      list = [];
      this.idle.set(connection.key, list);
    }
    if (list.length >= this.options.maxIdle) connection.close();
    else {
      connection.idleSince = Date.now();
      list.push(connection);
    }
  }

  forget(connection: Connection): void {
    const list = this.idle.get(connection.key);
    const i = list?.indexOf(connection) ?? -1;
    if (i >= 0) list?.splice(i, 1);
    if (list?.length === 0) this.idle.delete(connection.key);
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const list of [...this.idle.values()]) for (const c of [...list]) c.close();
  }

  /** The most recently used idle connection still in its idle limit: the least likely to be closing. */
  private take(key: string): Connection | undefined {
    const list = this.idle.get(key);
    const now = Date.now();
    let connection = list?.pop();
    while (connection && now - connection.idleSince >= connection.idleLimitMs) {
      connection.close(); // the sweep had not come round to it yet
      connection = list?.pop();
    }
    if (list?.length === 0) this.idle.delete(key);
    return connection;
  }

  private sweep(): void {
    const now = Date.now();
    for (const list of [...this.idle.values()])
      for (const c of list.filter((c) => now - c.idleSince >= c.idleLimitMs)) c.close();
    for (const c of [...this.open]) c.checkResponseTime(now, this.options.responseTimeoutMs);
  }
}
