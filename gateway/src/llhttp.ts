// llhttp, the HTTP/1 parser node:http's own client and server are built on (HTTPParser from
// node:_http_common). Internal to Node, so its shape is pinned here once, and the tests of
// upstream.ts and server.ts exercise every callback the gateway relies on: a Node upgrade that
// changes them fails there (Node is provisioned at a pinned version).
import { createRequire } from "node:module";

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
export const METHODS: readonly string[] = (() => {
  const byCode: string[] = [];
  for (const name of common.methods) {
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.REQUEST, {}, 1024, HTTPParser.kLenientNone);
    parser[HTTPParser.kOnHeadersComplete] = (_major: number, _minor: number, _raw: unknown, code: number) => {
      byCode[code] = name;
      return 0;
    };
    parser.execute(Buffer.from(`${name} / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n`));
    parser.close();
  }
  return byCode;
})();
