// The gateway's HTTP/1.1 server: each connection parsed by llhttp (the parser node:http's own
// server uses, strict, reading straight from the socket's handle) and answered by a small
// response writer.
//
// Why not node:http's server: per request it builds an IncomingMessage and a ServerResponse,
// two full streams, which cost the gateway more CPU than the rest of the proxying together
// (docs/adr/0006). Parsing, the part that must be exact with untrusted clients, stays llhttp's;
// this module owns the framing around it: keep-alive and HTTP/1.0, pipelined requests (answered
// in order), request bodies with backpressure, Expect: 100-continue, limits and timeouts,
// upgrades, and response framing (length, chunks, or the connection's end).
import { EventEmitter } from "node:events";
import { STATUS_CODES } from "node:http";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { HTTPParser, handleOf, METHODS, type ParseError, type Parser, type StreamHandle } from "./llhttp.ts";

export type ServerOptions = {
  /** Request line and headers together, at most (431 above). */
  maxHeaderBytes: number;
  /**
   * From a request's first byte to the end of its headers, at most (408 after; slow clients),
   * for every request on a connection: one that arrives behind a request being answered gets
   * its 408 (and the connection ends) once that answer is through.
   */
  headersTimeoutMs: number;
  /**
   * A request body the server reads must bring bytes at least this often (nginx's
   * client_body_timeout), and, over the whole body, come at bodyMinRate on average after this
   * grace (Apache's mod_reqtimeout MinRate): a body trickled a byte at a time never waits long
   * between reads, but its rate gives it away. 408 (or the connection cut if the answer already
   * started). Time the server is not reading the body (held while its app wakes, or while the
   * app is slower than the client) does not count.
   */
  bodyTimeoutMs: number;
  /** Bytes per second a body must average, see bodyTimeoutMs; 0: no rate, only the timeout. */
  bodyMinRate: number;
  /**
   * An idle connection is closed after this long. Above the idle timeouts of the load balancers
   * usually in front (60 s), so they, not the gateway, close idle connections: no request meets
   * a connection the gateway is just closing.
   */
  keepAliveTimeoutMs: number;
  /**
   * A client that takes no bytes for this long while a response waits to be sent is cut (as
   * nginx's send_timeout): a stalled reader must not hold its app awake and its upstream open.
   */
  sendTimeoutMs: number;
  /**
   * Client connections open at once, upgraded ones included (nginx's worker_connections): a
   * connection beyond them is closed as it is accepted, and counted (onDrop).
   */
  maxConnections: number;
};

export const defaultServerOptions: ServerOptions = {
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 30_000,
  keepAliveTimeoutMs: 65_000,
  sendTimeoutMs: 60_000,
  bodyTimeoutMs: 60_000,
  bodyMinRate: 500,
  maxConnections: 10_000,
};

/** Header fields by lower-case name; repeated fields joined as node:http joins them. */
export type Headers = Record<string, string | undefined>;

export type RequestHandler = (req: Request, res: Response) => void;
/** An Upgrade request; the socket is the handler's, head holds bytes that followed the request. */
export type UpgradeHandler = (req: Request, socket: Socket, head: Buffer) => void;

export class Request {
  readonly method: string;
  readonly url: string;
  /** "1.1" or "1.0" (llhttp also lets 0.9 and 2.0 request lines through, as node:http does). */
  readonly httpVersion: string;
  readonly rawHeaders: string[];
  readonly headers: Headers;
  readonly socket: Socket;
  /** The body, when the request has one (chunks, or a length above 0). */
  readonly body: RequestBody | undefined;
  /** The body comes in chunks (Transfer-Encoding; its length is unknown). */
  readonly chunked: boolean;
  /** The whole request arrived (its body included). */
  complete: boolean;
  /** The client allows the connection to stay open after this exchange. */
  readonly keepAlive: boolean;

  /** The Expect field, which only HTTP/1.1 clients can mean (RFC 9110 §10.1.1). */
  get expects(): string | undefined {
    return this.httpVersion === "1.1" ? this.headers.expect : undefined;
  }

  constructor(
    method: string,
    url: string,
    httpVersion: string,
    rawHeaders: string[],
    socket: Socket,
    keepAlive: boolean,
    connection: Connection,
  ) {
    this.method = method;
    this.url = url;
    this.httpVersion = httpVersion;
    this.rawHeaders = rawHeaders;
    this.headers = headersOf(rawHeaders);
    this.socket = socket;
    const length = this.headers["content-length"];
    this.chunked = this.headers["transfer-encoding"] !== undefined;
    // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing; the
    // connection closes after it, whatever it asked.
    this.keepAlive = keepAlive && !(this.chunked && httpVersion === "1.0");
    const hasBody = this.chunked || (length !== undefined && length !== "0");
    // RFC 9110 §10.1.1: an HTTP/1.0 client's Expect is ignored (it cannot take a 100).
    this.body = hasBody ? new RequestBody(connection, this.expects !== undefined) : undefined;
    this.complete = !hasBody; // without a body, the headers were the whole request
  }
}

// Fields a request carries once: node:http keeps the first and drops repeats; the others repeat
// as lists, joined with ", " (Cookie with "; ").
const SINGLE = new Set([
  "host",
  "content-length",
  "content-type",
  "user-agent",
  "authorization",
  "proxy-authorization",
  "referer",
  "from",
  "if-modified-since",
  "if-unmodified-since",
  "max-forwards",
]);

/** Header fields by lower-case name, from the raw list. */
export function headersOf(raw: readonly string[]): Headers {
  const headers: Headers = Object.create(null);
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    const seen = headers[name];
    if (seen === undefined) headers[name] = value;
    else if (!SINGLE.has(name)) headers[name] = `${seen}${name === "cookie" ? "; " : ", "}${value}`;
  }
  return headers;
}

/**
 * A request body as it arrives: 'data' events while flowing, 'end' once it is through. Paused
 * (as it starts), it keeps what the current read brought and stops reading from the client, so
 * a body nobody reads yet (a request held while its app wakes) holds at most one read in memory.
 */
export class RequestBody extends EventEmitter {
  private readonly connection: Connection;
  private buffered: Buffer[] = [];
  private flowing = false;
  private ended = false;
  private endEmitted = false;
  /** A flush of what was held is due (next tick). */
  private flushing = false;
  /** The client waits for "100 Continue" before it sends the body. */
  private expectsContinue: boolean;

  constructor(connection: Connection, expectsContinue: boolean) {
    super();
    this.connection = connection;
    this.expectsContinue = expectsContinue;
  }

  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own signature
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    super.on(event, listener);
    if (event === "data") this.resume();
    return this;
  }

  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own signature
  override addListener(event: string | symbol, listener: (...args: any[]) => void): this {
    return this.on(event, listener);
  }

  /** Holds chunks back (and the client with them) until resume(). */
  pause(): this {
    if (!this.flowing) return this;
    this.flowing = false;
    this.connection.bodyClockTick();
    return this;
  }

  /** Somebody reads the body: the client owes the rest of it (the body timeout runs). */
  get wanted(): boolean {
    return this.flowing;
  }

  /**
   * Flows from the next tick on, as node's streams do: a caller that listens for 'data' and
   * then for 'end' gets both even when the whole body is here already.
   */
  resume(): this {
    if (this.flowing) return this;
    this.flowing = true;
    this.connection.bodyClockTick();
    if (this.expectsContinue) {
      // Asked for only now that somebody reads the body: a request refused before (401, 404)
      // never makes the client send it.
      this.expectsContinue = false;
      this.connection.sendContinue();
    }
    if (!this.flushing) {
      this.flushing = true;
      process.nextTick(() => this.flush());
    }
    return this;
  }

  private flush(): void {
    this.flushing = false;
    while (this.flowing && this.buffered.length) this.emit("data", this.buffered.shift());
    if (!this.flowing) return;
    this.emitEndIfDone();
    this.connection.updateReading();
  }

  /** Whether reading from the client must stop for this body (it is paused with data held). */
  get holding(): boolean {
    return !this.flowing && this.buffered.length > 0;
  }

  /** From the parser. */
  push(chunk: Buffer): void {
    if (this.flowing && !this.flushing && !this.buffered.length) this.emit("data", chunk);
    else {
      this.buffered.push(chunk);
      this.connection.updateReading();
    }
  }

  /** From the parser: the body is through. */
  finish(): void {
    this.ended = true;
    if (this.flowing && !this.flushing) this.emitEndIfDone();
  }

  private emitEndIfDone(): void {
    if (!this.ended || this.endEmitted || this.buffered.length) return;
    this.endEmitted = true;
    this.emit("end");
  }
}

// Date for responses that bring none, made at most once a second.
let dateString = "";
let dateAt = 0;
function httpDate(): string {
  const now = Date.now();
  if (now - dateAt >= 1000) {
    dateAt = now - (now % 1000);
    dateString = new Date(dateAt).toUTCString();
  }
  return dateString;
}

// RFC 9110 §5.1, §5.5: what node:http's server also checks before it writes a header.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * One response. writeHead() takes the status and a raw header list (or an object); the head
 * goes out with the first body bytes, framed by Content-Length when the headers or end() give
 * one, else in chunks (HTTP/1.1) or up to the connection's end (HTTP/1.0). 'drain' when a
 * write that returned false is through; 'close' once, when the response ends or the client left.
 */
export class Response extends EventEmitter {
  headersSent = false;
  finished = false;
  private readonly connection: Connection;
  private readonly request: Request;
  private status = 200;
  private headers: readonly string[] = [];
  private bodyless: boolean;
  private chunked = false;
  /** The connection closes after this response. */
  closes = false;
  /** The status the server itself answered in this response's place (408 to a body too slow). */
  answeredBy: number | undefined;
  /**
   * Told once when the response ends or the client leaves, before 'close' is emitted: one slot
   * the upstream client sets per exchange instead of adding (and removing) a listener.
   */
  onClose: ((res: Response) => void) | undefined = undefined;
  private headWritten = false;
  /** The caller sends a head that got no body bytes itself (flushHead), not the end of the tick. */
  private headFlushedByCaller = false;

  constructor(connection: Connection, request: Request) {
    super();
    this.connection = connection;
    this.request = request;
    this.bodyless = request.method === "HEAD";
  }

  writeHead(status: number, headers: readonly string[] | Record<string, string> = []): this {
    if (this.headersSent) throw new Error("The response's headers were already sent");
    const raw = Array.isArray(headers) ? headers : Object.entries(headers).flat();
    for (let i = 0; i < raw.length; i += 2)
      if (!TOKEN.test(raw[i] as string) || INVALID_VALUE.test(raw[i + 1] as string))
        throw new Error(`Invalid header field ${JSON.stringify(raw[i])}`);
    this.status = status;
    this.headers = raw;
    this.headersSent = true;
    if (status === 204 || status === 304 || status < 200) this.bodyless = true;
    if (!this.headFlushedByCaller) this.connection.headHeld();
    return this;
  }

  /**
   * writeHead for a caller that calls flushHead() itself once it knows no body bytes follow at
   * once (the upstream client, at the end of each read from the app): the head still goes out
   * with the first body bytes, without a tick scheduled per response to send it alone.
   */
  writeHeadHeld(status: number, headers: readonly string[]): this {
    this.headFlushedByCaller = true;
    return this.writeHead(status, headers);
  }

  write(chunk: Buffer | string): boolean {
    if (this.finished) return false;
    if (!this.headersSent) this.writeHead(200);
    const head = this.headWritten ? "" : this.head(undefined);
    if (this.bodyless || !chunk.length) {
      if (head) this.connection.write(head, "latin1");
      return this.connection.writable();
    }
    if (!this.chunked) return this.connection.send(head, chunk, "");
    const size = typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
    return this.connection.send(`${head}${size.toString(16)}\r\n`, chunk, "\r\n");
  }

  end(chunk?: Buffer | string): void {
    if (this.finished) return;
    if (!this.headersSent) this.writeHead(200);
    const length = chunk === undefined ? 0 : typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
    const head = this.headWritten ? "" : this.head(length);
    const last = this.chunked ? "0\r\n\r\n" : "";
    // Head, body and the last chunk in one write (one send, as node:http's corked socket does).
    if (this.bodyless || !length) {
      if (head || last) this.connection.write(head + last, "latin1");
    } else if (this.chunked)
      this.connection.sendSoon(`${head}${length.toString(16)}\r\n`, chunk as Buffer | string, `\r\n${last}`);
    else this.connection.sendSoon(head, chunk as Buffer | string, "");
    this.finished = true;
    this.connection.responded(this);
    this.onClose?.(this);
    this.emit("close");
  }

  /** Sends the head now if it is still held (the body's length unknown: chunks or the end). */
  flushHead(): void {
    if (this.headersSent && !this.headWritten && !this.finished) this.connection.write(this.head(undefined), "latin1");
  }

  /** Ends the connection (the client sees the response cut short). */
  destroy(): void {
    this.connection.destroy();
  }

  /** From the connection: the client went away before the response ended. */
  aborted(): void {
    if (this.finished) return;
    this.finished = true;
    this.onClose?.(this);
    this.emit("close");
  }

  /**
   * The status line and headers (latin1), framed; length is the whole body's when end() knows
   * it. Marks the head written: the caller writes it, with what follows it when it can.
   */
  private head(length: number | undefined): string {
    this.headWritten = true;
    const req = this.request;
    let head = `HTTP/1.1 ${this.status} ${STATUS_CODES[this.status] ?? "Unknown"}\r\n`;
    let hasLength = false;
    let hasDate = false;
    let closes = !req.keepAlive || !req.complete || this.connection.closing;
    const raw = this.headers;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i] as string;
      const value = raw[i + 1] as string;
      if (name.length === 14 && name.toLowerCase() === "content-length") hasLength = true;
      else if (name.length === 4 && name.toLowerCase() === "date") hasDate = true;
      else if (name.length === 10 && name.toLowerCase() === "connection") {
        closes ||= value.toLowerCase() === "close";
        continue; // written below, from what this connection does
      } else if (name.length === 17 && name.toLowerCase() === "transfer-encoding") continue;
      head += `${name}: ${value}\r\n`;
    }
    if (!hasDate) head += `date: ${httpDate()}\r\n`;
    if (!this.bodyless && !hasLength) {
      if (length !== undefined) head += `content-length: ${length}\r\n`;
      else if (req.httpVersion === "1.1") {
        this.chunked = true;
        head += "transfer-encoding: chunked\r\n";
      } else closes = true; // HTTP/1.0: the body ends with the connection
    }
    this.closes = closes;
    if (closes) head += "connection: close\r\n";
    else if (req.httpVersion === "1.0") head += "connection: keep-alive\r\n";
    return `${head}\r\n`;
  }
}

/**
 * Pipelined requests held per connection behind the one being answered. One read can bring
 * thousands of small requests; past this many the connection closes after the current answer
 * (the client sends the rest again on a new one), so a read cannot pin megabytes of them.
 */
const MAX_PIPELINED = 128;

/** Body chunks up to this size are copied next to their framing and sent in one Buffer. */
const COPY_BELOW = 16 * 1024;

/** Framing before (latin1), a body chunk (a string as UTF-8) of size bytes and framing after, in one Buffer. */
function framed(before: string, chunk: Buffer | string, size: number, after: string): Buffer {
  const out = Buffer.allocUnsafe(before.length + size + after.length);
  out.write(before, 0, "latin1");
  if (typeof chunk === "string") out.write(chunk, before.length, "utf8");
  else chunk.copy(out, before.length);
  if (after) out.write(after, before.length + size, "latin1");
  return out;
}

// What a client gets for a request llhttp refuses, before the connection closes (errors in a
// body come after the request was handed on: the connection is just closed then).
const PARSE_ERROR_STATUS: Record<string, number> = { HPE_HEADER_OVERFLOW: 431 };

/** How many times a field occurs in a raw header list. */
function count(raw: readonly string[], lowerName: string): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2)
    if ((raw[i] as string).length === lowerName.length && (raw[i] as string).toLowerCase() === lowerName) n++;
  return n;
}

/** How long a body was waited for and how much of it came, for the body timeouts. */
export type BodyProgress = {
  /** Time the server waited for the body's bytes (reading, and somebody reading the body). */
  waitedMs: number;
  /** Time since the last of its bytes (or since the server began to wait again). */
  quietMs: number;
  bytes: number;
};

/** Why a body is too slow for the limits, or undefined while it is not. */
export function slowBody(
  body: BodyProgress,
  limits: Pick<ServerOptions, "bodyTimeoutMs" | "bodyMinRate">,
): string | undefined {
  if (body.quietMs > limits.bodyTimeoutMs) return `no body bytes for ${limits.bodyTimeoutMs / 1000} s`;
  // The rate is measured over the whole body, after a grace as long as the timeout.
  if (limits.bodyMinRate > 0 && body.waitedMs > limits.bodyTimeoutMs + (body.bytes * 1000) / limits.bodyMinRate)
    return `the body came slower than ${limits.bodyMinRate} bytes/s`;
  return undefined;
}

/** A Transfer-Encoding list that names chunked alone (empty members ignored, RFC 9110 §5.6.1). */
const onlyChunked = (value: string) => {
  const codings = value.split(",").filter((c) => c.trim());
  return codings.length === 1 && (codings[0] as string).trim().toLowerCase() === "chunked";
};

class Connection {
  readonly socket: Socket;
  /** No more requests are answered: the connection ends after the current response. */
  closing = false;
  private readonly server: HttpServer;
  private readonly parser: Parser;
  private readonly handle: StreamHandle;
  /** The request being answered, and requests that arrived behind it (pipelined), in order. */
  private current: { req: Request; res: Response } | undefined;
  private readonly queue: Request[] = [];
  /** The request whose message the parser is in (its body still arriving). */
  private parsing: Request | undefined;
  private headerParts: string[] = [];
  private urlParts = "";
  private reading = true;
  private dead = false;
  /** Closing: what the client still sends is read and dropped. */
  private draining = false;
  private upgrading: Request | undefined;
  /** A held response head is to be sent at the end of this tick (headHeld). */
  private headFlushDue = false;
  /** When the request being parsed began (headers timeout), 0 between requests. */
  startedAt = 0;
  /** When the connection last had nothing to do (keep-alive timeout). */
  idleSince = Date.now();
  /** Since when written data waits for the client to take it (send timeout), 0 if it does not. */
  blockedSince = 0;
  /** A request's head ran out of time behind an answer under way: 408 once that is through. */
  private lateHead = false;
  /** A response's last piece, written at the end of this turn of the event loop (sendSoon). */
  private held: Buffer | undefined;
  /** The parser calls messageBegin (timingBegins). */
  private beginTimed = false;
  /** In the parser's callbacks of one read: a head came whole in it (onHeaders to onExecute). */
  private headInRead = false;
  // The body clock (body timeouts) of the request being parsed: its bytes, the time waited for
  // them before the current wait, since when the server waits (0: it does not), and when bytes
  // were last seen (by the sweep: no clock read per chunk).
  private bodyBytes = 0;
  private bodySeenBytes = 0;
  private bodyWaitedMs = 0;
  private bodySince = 0;
  private bodyProgressAt = 0;

  constructor(server: HttpServer, socket: Socket) {
    this.server = server;
    this.socket = socket;
    const parser = new HTTPParser();
    this.parser = parser;
    parser.initialize(HTTPParser.REQUEST, {}, server.options.maxHeaderBytes, HTTPParser.kLenientNone);
    // kOnMessageBegin (messageBegin) is set only while a request is answered: see onExecute.
    // Long header lists arrive in parts before the headers are complete.
    parser[HTTPParser.kOnHeaders] = (raw: string[], url: string) => {
      this.headerParts.push(...raw);
      this.urlParts += url;
    };
    parser[HTTPParser.kOnHeadersComplete] = (
      major: number,
      minor: number,
      raw: string[] | undefined,
      method: number,
      url: string | undefined,
      _status: unknown,
      _message: unknown,
      upgrade: boolean,
      keepAlive: boolean,
    ) => this.onHeaders(major, minor, raw, method, url, upgrade, keepAlive);
    parser[HTTPParser.kOnBody] = (chunk: Buffer) => {
      this.bodyBytes += chunk.length;
      if (!this.draining) this.parsing?.body?.push(chunk);
    };
    // kOnMessageComplete is set only while a request with a body is parsed (onHeaders): a
    // request without one is whole with its head, and a call into JS per request is saved.
    parser[HTTPParser.kOnExecute] = (result: number | ParseError) => this.onExecute(result);
    this.handle = handleOf(socket);
    parser.consume(this.handle);
    for (const [event, listener] of this.listeners) socket.on(event, listener);
  }

  /**
   * A request's first byte: its head's clock starts (headers timeout). Called by the parser
   * only while a request is answered, when the next one's head may begin in the same read as
   * a complete one; between requests a head that a read leaves incomplete is seen in
   * onExecute, and one a read brings whole needs no clock: no call into JS per request.
   */
  private readonly messageBegin = () => {
    this.startedAt = Date.now();
  };

  /** Whether the parser calls messageBegin (see there). */
  private timingBegins(on: boolean): void {
    if (on === this.beginTimed) return;
    this.beginTimed = on;
    this.parser[HTTPParser.kOnMessageBegin] = on ? this.messageBegin : undefined;
  }

  /** The end of a request that has a body (only then is this the parser's callback, see onHeaders). */
  private readonly onMessageComplete = () => {
    // Trailers came through kOnHeaders (with the url it still held): they belong to no
    // request, and must not become the start of the next one's headers and url.
    if (this.headerParts.length) this.headerParts = [];
    this.urlParts = "";
    this.parser[HTTPParser.kOnMessageComplete] = undefined;
    const req = this.parsing;
    this.parsing = undefined;
    if (!req) return;
    req.complete = true;
    if (!req.body) return;
    req.body.finish();
    this.bodyClockTick();
  };

  private readonly listeners: [string, () => void][] = [
    [
      "drain",
      () => {
        this.blockedSince = 0;
        this.current?.res.emit("drain");
      },
    ],
    // The client sent its last byte. With an answer owed, it left (nginx and node:http see it
    // so too): a long poll or event stream must not keep its app busy for nobody. Otherwise
    // what was written still goes out.
    [
      "end",
      () => {
        this.closing = true;
        if (this.current || this.parsing || this.startedAt) this.destroy();
        else this.lingerAndClose();
      },
    ],
    ["error", () => this.destroy()],
    [
      "close",
      () => {
        this.dead = true;
        this.server.connections.delete(this);
        this.current?.res.aborted();
        // Only now, outside the parser's own callbacks and with the handle closed.
        this.parser.unconsume();
        this.parser.close();
      },
    ],
  ];

  private onHeaders(
    major: number,
    minor: number,
    raw: string[] | undefined,
    method: number,
    url: string | undefined,
    upgrade: boolean,
    keepAlive: boolean,
  ): number {
    const rawHeaders = raw ?? this.headerParts;
    if (this.headerParts.length) this.headerParts = [];
    this.headInRead = true;
    const target = url ?? this.urlParts;
    this.urlParts = "";
    const req = new Request(
      METHODS[method] ?? String(method),
      target,
      major === 1 && minor === 1 ? "1.1" : `${major}.${minor}`,
      rawHeaders,
      this.socket,
      keepAlive && !this.closing,
      this,
    );
    this.startedAt = 0;
    if (req.body) {
      this.parsing = req;
      this.parser[HTTPParser.kOnMessageComplete] = this.onMessageComplete;
      this.bodyBytes = this.bodySeenBytes = this.bodyWaitedMs = this.bodySince = 0;
    } else this.parsing = undefined; // its head was all of it
    if (upgrade) {
      this.upgrading = req; // handed over once the parser stops (onExecute)
      return 0;
    }
    if (this.closing) return 0; // read, not answered: the connection is on its way out
    const hosts = count(rawHeaders, "host");
    // RFC 9112 §3.2: none (HTTP/1.1) or several is a 400. Several would also let the route
    // (the first) and what the app is told (the last) disagree.
    if (hosts > 1 || (hosts === 0 && major === 1 && minor === 1)) {
      this.refuse(400, "A request must name one Host");
      return 0;
    }
    const coding = req.headers["transfer-encoding"];
    if (coding !== undefined && !onlyChunked(coding)) {
      // RFC 9112 §6.1: a coding under the chunks (gzip, …) would reach the app without its
      // name, since Transfer-Encoding is not forwarded: refused, as the RFC advises.
      this.refuse(501, "Only the chunked transfer coding is understood");
      return 0;
    }
    if (req.expects !== undefined && req.expects.toLowerCase() !== "100-continue") {
      this.refuse(417, "Only Expect: 100-continue is understood");
      return 0;
    }
    if (!this.current) this.dispatch(req);
    else if (this.queue.length < MAX_PIPELINED) {
      this.queue.push(req);
      this.updateReading();
    } else this.closing = true; // more in line than any client needs: the rest go elsewhere
    return 0;
  }

  /** After each read the parser went through (or failed on). */
  private onExecute(result: number | ParseError): void {
    const headInRead = this.headInRead;
    this.headInRead = false;
    // Bytes that completed no head and are no body's: a head began (or goes on) in this read.
    // One that began after a complete head in the same read was timed by messageBegin, set
    // while that request is answered, and still set if it was answered within the read.
    if (!headInRead && !this.parsing && !this.startedAt && !this.current && !this.draining) this.startedAt = Date.now();
    if (!this.current) this.timingBegins(false);
    if (result instanceof Error) {
      const status = PARSE_ERROR_STATUS[result.code ?? ""] ?? 400;
      // Mid-exchange, or already closing: nothing sane can follow.
      if (this.current || this.draining) this.destroy();
      else this.refuse(status, `The request could not be read (${result.code ?? "invalid"})`);
      return;
    }
    const req = this.upgrading;
    if (!req) return;
    this.upgrading = undefined;
    if (this.current || this.closing || req.method === "CONNECT") {
      this.refuse(405, "Not a tunnel");
      return;
    }
    // The socket is the upgrade handler's from here on: bytes after the request go with it.
    this.flushHeld();
    const head = this.parser.getCurrentBuffer().subarray(result);
    this.dead = true;
    this.server.connections.delete(this);
    this.parser.unconsume();
    // Not close() here: this runs inside the parser's own read callback, and node writes to
    // the parser after it returns; freeing it now was a use-after-free (a gateway segfault in
    // CI). node:http defers it the same way (freeParser).
    const parser = this.parser;
    setImmediate(() => parser.close());
    for (const [event, listener] of this.listeners) this.socket.removeListener(event, listener);
    if (!this.reading) this.handle.readStart();
    this.server.tunnels.add(this.socket);
    this.socket.once("close", () => this.server.tunnels.delete(this.socket));
    this.server.onUpgrade(req, this.socket, head);
  }

  private dispatch(req: Request): void {
    const res = new Response(this, req);
    this.current = { req, res };
    this.timingBegins(true);
    try {
      this.server.onRequest(req, res);
    } catch {
      if (res.headersSent) res.destroy();
      else res.writeHead(500, { "content-type": "text/plain" }).end("The gateway failed on this request\n");
    }
  }

  /** Response ended: the next pipelined request, or idle (or closed). */
  responded(res: Response): void {
    if (this.current?.res !== res) return;
    const { req } = this.current;
    this.current = undefined;
    // Answered outside the parser's callbacks: the next head begins in a read of its own.
    if (!this.headInRead) this.timingBegins(false);
    if (this.lateHead) {
      this.refuse(408, "The request's headers took too long");
      return;
    }
    // Closes after an answer that said so, a request whose body did not all arrive (answered
    // with Connection: close), or when the connection is on its way out (shutdown, too many
    // requests in line, a refused request behind this one).
    if (res.closes || !req.complete || this.dead || this.closing) this.lingerAndClose();
    else if (this.queue.length) {
      // Next tick: a line of pipelined requests answered at once must not nest on the stack.
      process.nextTick(() => {
        const next = this.queue.shift();
        if (!next || this.dead) return;
        this.dispatch(next);
        this.updateReading();
      });
    } else {
      this.idleSince = Date.now();
      this.updateReading();
    }
  }

  /** Reads from the client unless a paused body holds data or requests wait in line. */
  updateReading(): void {
    if (this.dead || this.socket.destroyed) return; // its handle is closing: nothing to start or stop
    const read = this.closing || (this.queue.length === 0 && !this.parsing?.body?.holding);
    if (read === this.reading) return;
    this.reading = read;
    if (read) {
      this.handle.readStart();
      // A head that began in a read before the pause: its time runs from now, when it is read.
      if (this.startedAt) this.startedAt = Date.now();
    } else this.handle.readStop();
    this.bodyClockTick();
  }

  /** Starts or stops the body clock: it runs while a body somebody reads is read from the client. */
  bodyClockTick(): void {
    const waiting = this.reading && !this.draining && this.parsing?.body?.wanted === true;
    if (waiting === (this.bodySince !== 0)) return;
    const now = Date.now();
    if (waiting) {
      this.bodySince = now;
      this.bodyProgressAt = now;
    } else {
      this.bodyWaitedMs += now - this.bodySince;
      this.bodySince = 0;
    }
  }

  /** Why the body being read is too slow (for the sweep), or undefined. */
  private bodyTooSlow(now: number): string | undefined {
    if (!this.bodySince) return undefined;
    if (this.bodyBytes !== this.bodySeenBytes) {
      this.bodySeenBytes = this.bodyBytes;
      this.bodyProgressAt = now;
    }
    const progress = {
      waitedMs: this.bodyWaitedMs + now - this.bodySince,
      quietMs: now - this.bodyProgressAt,
      bytes: this.bodyBytes,
    };
    return slowBody(progress, this.server.options);
  }

  /**
   * The body stopped coming, or trickles: 408 and close when no answer started (its handler
   * sees the client leave: the app's connection closes, its activity ends), else the
   * connection is cut.
   */
  private bodyTimedOut(why: string): void {
    const current = this.current;
    this.bodySince = 0;
    if (!current || current.res.headersSent) {
      this.destroy();
      return;
    }
    this.current = undefined;
    this.refuse(408, `The request's body took too long: ${why}`);
    current.res.answeredBy = 408;
    current.res.aborted();
  }

  /** A request's head ran out of time: 408 now, or after the answer under way. */
  private headTimedOut(): void {
    if (!this.current) this.refuse(408, "The request's headers took too long");
    else {
      this.lateHead = true;
      this.closing = true;
    }
  }

  sendContinue(): void {
    // Only while the request is being answered and nothing of the answer went out yet.
    if (this.current && !this.current.res.headersSent && !this.draining)
      this.write("HTTP/1.1 100 Continue\r\n\r\n", "latin1");
  }

  writable(): boolean {
    return !this.dead && !this.socket.writableNeedDrain;
  }

  /** One write to the client; false when the client must take what waits first ('drain'). */
  write(data: Buffer | string, encoding?: BufferEncoding): boolean {
    if (this.dead) return false;
    if (this.held) this.flushHeld();
    const flushed = encoding ? this.socket.write(data, encoding) : this.socket.write(data);
    if (!flushed && !this.blockedSince) this.blockedSince = Date.now();
    return flushed;
  }

  /**
   * Framing before (latin1), a body chunk (a string goes as UTF-8) and framing after, in one
   * send: a small chunk is copied into one Buffer with its framing (one write through the
   * stream, as cheap as a write gets), a large one goes out with it in one writev.
   */
  send(before: string, chunk: Buffer | string, after: string): boolean {
    if (this.dead) return false;
    const size = typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
    if (size > COPY_BELOW) {
      if (this.held) this.flushHeld();
      this.socket.cork();
      if (before) this.socket.write(before, "latin1");
      let flushed = this.write(chunk);
      if (after) flushed = this.write(after, "latin1");
      this.socket.uncork();
      return flushed;
    }
    return this.write(framed(before, chunk, size, after));
  }

  /**
   * send() for a response's last piece: a small one is written once this turn of the event
   * loop has read what it will (the server writes all it holds then), so that a client with
   * several connections is woken once for the answers of one turn rather than per answer
   * (fewer wake-ups and context switches on a shared machine). Any other write to this
   * connection, its end or its close writes it first.
   */
  sendSoon(before: string, chunk: Buffer | string, after: string): void {
    if (this.dead) return;
    const size = typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
    if (size > COPY_BELOW || this.held) {
      this.send(before, chunk, after);
      return;
    }
    this.held = framed(before, chunk, size, after);
    this.server.flushSoon(this);
  }

  /** Writes what sendSoon held, if anything. */
  flushHeld(): void {
    const held = this.held;
    if (!held) return;
    this.held = undefined;
    this.write(held);
  }

  /**
   * A response's head is held for its first body bytes (one send for both): at the end of this
   * tick, one that got none (an event stream, a long download's start) sends it on its own.
   */
  headHeld(): void {
    if (this.headFlushDue || this.dead) return;
    this.headFlushDue = true;
    process.nextTick(this.flushHead);
  }

  private readonly flushHead = () => {
    this.headFlushDue = false;
    this.current?.res.flushHead();
  };

  /** Answers a request that goes no further, and closes. */
  private refuse(status: number, reason: string): void {
    this.closing = true;
    if (this.current) return; // its response ends first; the connection closes then
    const body = `${reason}\n`;
    this.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\ndate: ${httpDate()}\r\n\r\n${body}`,
      "latin1",
    );
    this.lingerAndClose();
  }

  /**
   * Ends the connection gracefully: what was written goes out, and what the client still sends
   * (the rest of a body not read) is read and dropped for a moment, so that the client's kernel
   * is not answered with a reset that could destroy the response before it is read.
   */
  private lingerAndClose(): void {
    if (this.dead || this.draining) return;
    this.draining = true;
    this.closing = true;
    this.queue.length = 0;
    this.flushHeld();
    this.socket.end();
    this.updateReading();
    this.bodyClockTick();
    setTimeout(() => this.destroy(), 2000).unref();
  }

  /** Closes at once (a client that stays idle, misbehaves, or whose response is cut). */
  destroy(): void {
    this.flushHeld(); // a whole answer, as good as written already
    this.socket.destroy();
  }

  /** For the timeout sweep: closes a connection idle or slow beyond the limits. */
  sweep(now: number): void {
    const { headersTimeoutMs, keepAliveTimeoutMs, sendTimeoutMs } = this.server.options;
    const slow = this.bodyTooSlow(now);
    if (this.blockedSince && now - this.blockedSince > sendTimeoutMs) this.destroy();
    else if (slow) this.bodyTimedOut(slow);
    else if (this.startedAt && now - this.startedAt > headersTimeoutMs) this.headTimedOut();
    else if (!this.current && !this.parsing && !this.startedAt && now - this.idleSince > keepAliveTimeoutMs)
      this.destroy();
  }

  /** Server shutdown: idle connections close now, busy ones after their response. */
  shutdown(): void {
    this.closing = true;
    if (!this.current) this.destroy();
  }
}

/**
 * Reports a burst of events at most once per interval: report(1) at the first, then every
 * intervalMs the number that came meanwhile, if any (a flood of refused connections logs a
 * line every few seconds, not a line per connection).
 */
export function throttled(intervalMs: number, report: (count: number) => void): () => void {
  let pending = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    if (!pending) return;
    report(pending);
    pending = 0;
    timer = setTimeout(flush, intervalMs).unref();
  };
  return () => {
    if (timer) return void pending++;
    report(1);
    timer = setTimeout(flush, intervalMs).unref();
  };
}

/** An HTTP/1.1 server on llhttp: call listen() and close() as on a net.Server. */
export class HttpServer {
  readonly options: ServerOptions;
  readonly onRequest: RequestHandler;
  onUpgrade: UpgradeHandler = (_req, socket) => socket.destroy();
  readonly connections = new Set<Connection>();
  /** Upgraded connections (WebSockets), the upgrade handler's but closed at shutdown. */
  readonly tunnels = new Set<Socket>();
  readonly net: NetServer;
  /** Called for each connection closed as it was accepted, maxConnections being open. */
  onDrop: () => void = () => undefined;
  private sweeper: NodeJS.Timeout | undefined;
  /** Connections holding a response's last piece until this turn of the event loop ends. */
  private holding: Connection[] = [];

  /** Writes what the connection holds (sendSoon) once this turn's reads are through. */
  flushSoon(connection: Connection): void {
    if (this.holding.length === 0) setImmediate(this.flushHolding);
    this.holding.push(connection);
  }

  private readonly flushHolding = () => {
    const holding = this.holding;
    this.holding = [];
    for (const connection of holding) connection.flushHeld();
  };

  constructor(options: Partial<ServerOptions>, onRequest: RequestHandler) {
    this.options = { ...defaultServerOptions, ...options };
    this.onRequest = onRequest;
    // Half-open: after a client's FIN, what was written to it still goes out (Connection).
    // TCP keep-alive: a client that vanished without a FIN (a closed laptop) is found out even
    // on an event stream that stays quiet, and stops counting as an app's activity.
    this.net = createNetServer(
      { allowHalfOpen: true, noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 },
      (socket) => {
        this.connections.add(new Connection(this, socket));
      },
    );
    // node closes a connection over the limit as it accepts it, before any JS object is made
    // for it: a flood costs the least it can.
    this.net.maxConnections = this.options.maxConnections;
    this.net.on("drop", () => this.onDrop());
  }

  listen(port: number, host: string, listening?: () => void): this {
    this.net.listen(port, host, listening);
    this.sweeper ??= setInterval(() => {
      const now = Date.now();
      for (const c of this.connections) c.sweep(now);
    }, 1000).unref();
    return this;
  }

  address() {
    return this.net.address();
  }

  /**
   * Stops accepting and resolves once every connection is closed: idle ones at once, busy ones
   * after their response, and whatever is still open after graceMs (long streams, WebSockets)
   * cut then, so that a shutdown ends within the time Kubernetes gives it.
   */
  close(graceMs = 10_000): Promise<void> {
    clearInterval(this.sweeper);
    const closed = new Promise<void>((resolve) => this.net.close(() => resolve()));
    for (const c of this.connections) c.shutdown();
    const cut = setTimeout(() => {
      for (const c of this.connections) c.destroy();
      for (const t of this.tunnels) t.destroy();
    }, graceMs);
    return closed.finally(() => clearTimeout(cut));
  }
}
