// The pseudonym an erased person has in the records that outlive them (erase.ts). Only Node
// imports: config.ts reads the key through it at start.
import { createHmac, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * ATRIUM_PSEUDONYM_KEY (at least 16 characters; the same on every replica, and never changed:
 * a new key gives the same person a new pseudonym). In development one is made in the data
 * directory; in production, without it, erasure answers 503 rather than use a key that changes.
 */
export function pseudonymKeyFrom(env: NodeJS.ProcessEnv, mode: string, dataDir: string): string | undefined {
  const key = env.ATRIUM_PSEUDONYM_KEY;
  if (key !== undefined) {
    if (key.length < 16) throw new Error("ATRIUM_PSEUDONYM_KEY: must be at least 16 characters");
    return key;
  }
  if (mode !== "development") return undefined;
  const file = join(dataDir, "pseudonym-key");
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${randomBytes(32).toString("base64url")}\n`, { mode: 0o600 });
  }
  return readFileSync(file, "utf8").trim();
}

/** "erased:" and 24 hex digits (96 bits) of HMAC-SHA256(key, email). */
export const pseudonymOf = (key: string, email: string) =>
  `erased:${createHmac("sha256", key).update(email).digest("hex").slice(0, 24)}`;
