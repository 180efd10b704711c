// JSON request bodies: Express's parser, with two checks on the raw bytes before it reads them.
// - UTF-8, strictly (RFC 8259 §8.1): the parser would turn a malformed sequence into U+FFFD,
//   and the API would store the mangled text (a member "u8\uFFFD@…" was created).
// - At most MAX_JSON_DEPTH levels of arrays and objects: JSON.parse takes any depth, but the
//   schema validation after it recurses, and 5,000 levels overflowed the stack (a 500).
import express, { type RequestHandler } from "express";
import { ApiError } from "./errors.ts";

/** Far above any body the API takes (two levels: an object holding a list of scopes). */
export const MAX_JSON_DEPTH = 32;

const utf8 = new TextDecoder("utf-8", { fatal: true });

const OPEN = new Set([0x5b, 0x7b]); // [ {
const CLOSE = new Set([0x5d, 0x7d]); // ] }
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Whether the JSON text nests deeper than `max`, found with one pass over the bytes (brackets
 * inside strings do not count). UTF-8 puts no byte below 0x80 inside a multi-byte character,
 * so the ASCII brackets and quotes are found in the raw bytes.
 */
export function nestsDeeperThan(bytes: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (OPEN.has(b)) {
      if (++depth > max) return true;
    } else if (CLOSE.has(b)) depth--;
  }
  return false;
}

const invalid = (message: string) => new ApiError(400, "invalid_json", message);

/** express.json() for the API: bodies up to `limit`, refused with a 400 unless UTF-8 and shallow. */
export const jsonBody = (limit: string): RequestHandler =>
  express.json({
    limit,
    // A thrown ApiError keeps its status: body-parser passes it on as the request's error.
    verify: (_req, _res, buf, encoding) => {
      if (encoding !== "utf-8")
        throw new ApiError(415, "unsupported_charset", `JSON bodies must be UTF-8, not ${encoding}`);
      try {
        utf8.decode(buf);
      } catch {
        throw invalid("The body is not valid UTF-8");
      }
      if (nestsDeeperThan(buf, MAX_JSON_DEPTH))
        throw invalid(`The body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`);
    },
  });
