// llhttp, the HTTP/1 parser node:http's own client and server are built on (HTTPParser from
// node:_http_common). Internal to Node, so its shape is pinned here once, and the tests of
// upstream.ts and server.ts exercise every callback the gateway relies on: a Node upgrade that
// changes them fails there. The gateway runs only on the Node version in .nvmrc
// (node-version.ts), and tries the binding at start (bindingProblems below): docs/adr/0007.
import { createRequire } from "node:module";
import { connect, createServer, type Socket } from "node:net";
import { errorMessage } from "@atrium/kube";

export type Parser = {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  finish(): number | Error | undefined;
  /** Reads straight from a socket's handle, without a JS 'data' event per read. */
  consume(handle: object): void;
  unconsume(): void;
  /** The read being parsed (valid inside callbacks during a consumed read). */
  getCurrentBuffer(): Buffer;
  close(): void;
  [callback: number]: unknown;
};

export type ParserClass = {
  new (): Parser;
  REQUEST: number;
  RESPONSE: number;
  kLenientNone: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
};

/** What a parse error carries: llhttp's code (HPE_HEADER_OVERFLOW, HPE_INVALID_METHOD, …). */
export type ParseError = Error & { code?: string };

/** A socket's libuv handle: reading from it starts and stops here once a parser consumes it. */
export type StreamHandle = { readStart(): number; readStop(): number };

const common = createRequire(import.meta.url)("node:_http_common") as { HTTPParser: ParserClass; methods: string[] };
export const HTTPParser = common.HTTPParser;

export const handleOf = (socket: object) => (socket as { _handle: StreamHandle })._handle;

/**
 * Request methods by llhttp's number for them. Node exports only the list of names, which is not
 * indexed by that number past the first 34 (QUERY is 46), so each name is parsed once to learn it.
 */
export function methodsByCode(Parser: ParserClass, names: readonly string[]): string[] {
  const byCode: string[] = [];
  for (const name of names) {
    const parser = new Parser();
    parser.initialize(Parser.REQUEST, {}, 1024, Parser.kLenientNone);
    parser[Parser.kOnHeadersComplete] = (_major: number, _minor: number, _raw: unknown, code: number) => {
      byCode[code] = name;
      return 0;
    };
    parser.execute(Buffer.from(`${name} / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n`));
    parser.close();
  }
  return byCode;
}

export const METHODS: readonly string[] = methodsByCode(HTTPParser, common.methods);

/** What one message went through: the callbacks server.ts and upstream.ts install, as they use them. */
type Seen = {
  /** The callbacks in the order they came: begin, parts, head, body, complete. */
  events: string[];
  parts: string[];
  url: string;
  head?: { major: number; minor: number; raw?: string[]; method: number; url?: string; status: number };
  upgrade?: boolean;
  keepAlive?: boolean;
  body: string;
  result?: number | ParseError;
};

function parse(
  Parser: ParserClass,
  type: number,
  bytes: string,
  maxHeaderSize = 16 * 1024,
  unset: readonly ("begin" | "complete")[] = [],
): Seen {
  const seen: Seen = { events: [], parts: [], url: "", body: "" };
  const parser = new Parser();
  try {
    parser.initialize(type, {}, maxHeaderSize, Parser.kLenientNone);
    if (!unset.includes("begin"))
      parser[Parser.kOnMessageBegin] = () => {
        seen.events.push("begin");
      };
    parser[Parser.kOnHeaders] = (raw: string[], url: string) => {
      if (seen.events.at(-1) !== "parts") seen.events.push("parts");
      seen.parts.push(...raw);
      seen.url += url;
    };
    parser[Parser.kOnHeadersComplete] = (
      major: number,
      minor: number,
      raw: string[] | undefined,
      method: number,
      url: string | undefined,
      status: number,
      _message: unknown,
      upgrade: boolean,
      keepAlive: boolean,
    ) => {
      seen.events.push("head");
      seen.head = { major, minor, raw, method, url, status };
      seen.upgrade = upgrade;
      seen.keepAlive = keepAlive;
      return 0;
    };
    parser[Parser.kOnBody] = (chunk: Buffer) => {
      if (seen.events.at(-1) !== "body") seen.events.push("body");
      seen.body += chunk.toString("latin1");
    };
    if (!unset.includes("complete"))
      parser[Parser.kOnMessageComplete] = () => {
        seen.events.push("complete");
      };
    seen.result = parser.execute(Buffer.from(bytes, "latin1"));
  } finally {
    parser.close();
  }
  return seen;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * What the gateway relies on in the parser binding, tried on tiny messages through the callbacks
 * server.ts and upstream.ts install: the method table, heads (in one part and, past 32 headers,
 * in several), bodies, message ends, keep-alive, and the error codes mapped to statuses. Returns
 * what did not hold, empty when all did. A Node release that moves a callback or an argument
 * fails here, at start, rather than as garbled requests.
 */
export function bindingProblems(Parser: ParserClass = HTTPParser): string[] {
  const problems: string[] = [];
  const check = (ok: boolean, what: string) => ok || problems.push(what);
  try {
    const methods = methodsByCode(Parser, common.methods);
    const known = new Set(methods.filter(Boolean));
    const missing = common.methods.filter((m) => !known.has(m));
    check(missing.length === 0, `no method number for ${missing.slice(0, 5).join(", ")}`);

    const request = `POST /p?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi`;
    const req = parse(Parser, Parser.REQUEST, request);
    check(req.result === request.length, `a request parsed to ${String(req.result)}, not ${request.length} bytes`);
    const order = (s: Seen, want: string[], what: string) =>
      check(
        same(s.events, want),
        `${what} went through ${s.events.join(", ") || "no callback"}, not ${want.join(", ")}`,
      );
    order(req, ["begin", "head", "body", "complete"], "a request");
    check(methods[req.head?.method ?? -1] === "POST", `POST read as method ${String(req.head?.method)}`);
    check(req.head?.major === 1 && req.head.minor === 1, "HTTP/1.1 read as another version");
    check(req.head?.url === "/p?q=1", `the request target read as ${String(req.head?.url)}`);
    check(same(req.head?.raw, ["Host", "x", "Content-Length", "2"]), "a request's headers were not read");
    check(req.keepAlive === true && req.upgrade === false, "a keep-alive request read as closing or an upgrade");
    check(req.body === "hi", "a request body was not read");

    // Past 32 headers node hands them over in parts (kOnHeaders, with the url), none at the end.
    const many = Array.from({ length: 40 }, (_, i) => `x-${i}: ${i}\r\n`).join("");
    const long = parse(Parser, Parser.REQUEST, `GET /long HTTP/1.1\r\nHost: x\r\n${many}\r\n`);
    order(long, ["begin", "parts", "head", "complete"], "a long header list");
    check(long.head !== undefined && long.head.raw === undefined, "a long header list came in one part");
    check(long.parts.length === 82 && long.url === "/long", "a long header list did not come in parts");

    const response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\nok";
    const res = parse(Parser, Parser.RESPONSE, response);
    check(res.result === response.length, `a response parsed to ${String(res.result)}, not ${response.length} bytes`);
    order(res, ["begin", "head", "body", "complete"], "a response");
    check(res.head?.status === 200, `status 200 read as ${String(res.head?.status)}`);
    check(same(res.head?.raw, ["Content-Length", "2", "X-A", "b"]), "a response's headers were not read");
    check(res.keepAlive === true, "a keep-alive response read as closing");
    check(res.body === "ok", "a response body was not read");

    // The gateway leaves kOnMessageBegin and kOnMessageComplete unset while it needs neither
    // (server.ts, upstream.ts: a call into JS less per request): the parser must skip them.
    const two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    const unset = parse(Parser, Parser.REQUEST, two, 16 * 1024, ["begin", "complete"]);
    check(
      unset.result === two.length && same(unset.events, ["head", "head"]),
      `with begin and complete unset, two requests went through ${unset.events.join(", ") || "no callback"} (${String(unset.result)} bytes parsed)`,
    );

    const overflow = parse(Parser, Parser.REQUEST, `GET / HTTP/1.1\r\nx: ${"a".repeat(2048)}\r\n`, 1024);
    const code = overflow.result instanceof Error ? overflow.result.code : undefined;
    check(
      code === "HPE_HEADER_OVERFLOW",
      `too long a head gave ${code ?? String(overflow.result)}, not HPE_HEADER_OVERFLOW`,
    );
  } catch (e) {
    problems.push(`the parser threw: ${errorMessage(e)}`);
  }
  return problems;
}

/**
 * The read path server.ts and upstream.ts take: the parser consuming a socket's handle, a read
 * reported through kOnExecute with the bytes parsed, the read itself from getCurrentBuffer (an
 * upgrade's head ends there), and the handle's readStart/readStop. Tried over loopback.
 */
export async function consumedReadProblems(Parser: ParserClass = HTTPParser, timeoutMs = 2000): Promise<string[]> {
  const problems: string[] = [];
  const server = createServer();
  const sockets: Socket[] = [];
  try {
    await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
    const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
    const client = connect((server.address() as { port: number }).port, "127.0.0.1");
    sockets.push(client);
    const socket = await accepted;
    sockets.push(socket);
    const handle = handleOf(socket);
    if (typeof handle?.readStart !== "function" || typeof handle.readStop !== "function")
      return ["a socket has no handle with readStart/readStop"];
    const parser = new Parser();
    parser.initialize(Parser.REQUEST, {}, 16 * 1024, Parser.kLenientNone);
    let upgrade = false;
    parser[Parser.kOnHeadersComplete] = (...args: unknown[]) => {
      upgrade = args[7] === true;
      return 0;
    };
    const head = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";
    const executed = new Promise<string>((resolve) => {
      parser[Parser.kOnExecute] = (result: number | ParseError) => {
        if (result instanceof Error) return resolve(`a consumed read failed (${result.code ?? result.message})`);
        if (!upgrade) return; // the head came in parts: wait for its end
        const read = parser.getCurrentBuffer().subarray(0, result).toString("latin1");
        resolve(read.endsWith("\r\n\r\n") ? "" : "the bytes parsed did not end at the upgrade's head");
      };
    });
    parser.consume(handle);
    client.write(head);
    const timeout = new Promise<string>((resolve) =>
      setTimeout(() => resolve(`no consumed read reached the parser in ${timeoutMs} ms`), timeoutMs).unref(),
    );
    const problem = await Promise.race([executed, timeout]);
    if (problem) problems.push(problem);
    parser.unconsume();
    // Not inside the parser's own callback: node writes to it after kOnExecute returns.
    setImmediate(() => parser.close());
  } catch (e) {
    problems.push(`the consumed read threw: ${errorMessage(e)}`);
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
  }
  return problems;
}

/** Thrown at start when the parser binding is not the one the gateway was written against. */
export class ParserBindingError extends Error {
  constructor(problems: readonly string[]) {
    super(
      `node:_http_common's HTTP parser is not the one the gateway was written against (Node ${process.version}): ` +
        `${problems.join("; ")}. Run the gateway on the Node version in .nvmrc (see docs/adr/0007).`,
    );
    this.name = "ParserBindingError";
  }
}

/** The start-up self-test: throws ParserBindingError naming every problem found. */
export async function checkParserBinding(Parser: ParserClass = HTTPParser): Promise<void> {
  const problems = [...bindingProblems(Parser), ...(await consumedReadProblems(Parser))];
  if (problems.length > 0) throw new ParserBindingError(problems);
}
