// API key format: atr_sk_<id>_<secret><check> (Standard) or atr_ai_… (AI agent).
//   id      12 base32 characters (60 bits), public: the database looks keys up by it
//   secret  32 base32 characters (160 bits) from the CSPRNG
//   check   6 base32 characters of CRC-32 over everything before it
// The fixed prefixes and the checksum let secret scanners find leaked keys with few false
// positives, without a database. Only an HMAC of the whole key is stored (hashKey).
import { createHmac, randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import type { KeyType } from "./principal.ts";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
export const KEY_PREFIX: Record<KeyType, string> = { STANDARD: "atr_sk_", AI_AGENT: "atr_ai_" };
const PATTERN = /^atr_(sk|ai)_([a-z2-7]{12})_([a-z2-7]{32})([a-z2-7]{6})$/;

function base32(bytes: Uint8Array, length: number): string {
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < length) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

const checksum = (body: string) => {
  const crc = crc32(body);
  const bytes = new Uint8Array([crc >>> 24, (crc >>> 16) & 255, (crc >>> 8) & 255, crc & 255]);
  return base32(bytes, 6);
};

export type NewKey = { id: string; secret: string; display: string };

export function generateKey(type: KeyType): NewKey {
  const id = base32(randomBytes(8), 12);
  const body = `${KEY_PREFIX[type]}${id}_${base32(randomBytes(20), 32)}`;
  const secret = body + checksum(body);
  return { id, secret, display: `${KEY_PREFIX[type]}${id}` };
}

export type ParsedKey = { type: KeyType; id: string };

/** The key's type and id, or undefined when it is not a well-formed Atrium key. */
export function parseKey(secret: string): ParsedKey | undefined {
  const m = PATTERN.exec(secret);
  if (!m) return undefined;
  const body = secret.slice(0, -6);
  if (checksum(body) !== m[4]) return undefined;
  return { type: m[1] === "ai" ? "AI_AGENT" : "STANDARD", id: m[2] as string };
}

/**
 * Peppers are versioned so the server secret can rotate: new keys use the newest, stored
 * hashes name the version they were made with.
 */
export type Peppers = { current: number; byVersion: ReadonlyMap<number, Buffer> };

export function hashKey(peppers: Peppers, version: number, secret: string): string {
  const pepper = peppers.byVersion.get(version);
  if (!pepper) throw new Error(`no pepper for key hash version ${version}`);
  return createHmac("sha256", pepper).update(secret).digest("hex");
}

/** Peppers from text: "1:<secret>,2:<secret>" (the highest version is current). */
export function parsePeppers(text: string): Peppers {
  const byVersion = new Map<number, Buffer>();
  for (const part of text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [v, secret] = part.split(/:(.*)/s);
    const version = Number(v);
    if (!Number.isInteger(version) || version < 1 || !secret || secret.length < 16)
      throw new Error("ATRIUM_KEY_PEPPERS must look like 1:<at least 16 characters>[,2:…]");
    byVersion.set(version, Buffer.from(secret));
  }
  if (!byVersion.size) throw new Error("ATRIUM_KEY_PEPPERS holds no pepper");
  return { current: Math.max(...byVersion.keys()), byVersion };
}
