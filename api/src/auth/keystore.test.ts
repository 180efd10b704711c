import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import type { Database } from "../db/index.ts";
import { generateKey, hashKey, type Peppers } from "./keyformat.ts";
import { KeyStore } from "./keystore.ts";

/** keyformat's checksum (6 base32 characters of CRC-32), to forge a well-formed key. */
function checksumOf(body: string): string {
  const crc = crc32(body);
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of [crc >>> 24, (crc >>> 16) & 255, (crc >>> 8) & 255, crc & 255]) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < 6) {
      out += "abcdefghijklmnopqrstuvwxyz234567"[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

const peppers: Peppers = { current: 1, byVersion: new Map([[1, Buffer.alloc(32, 7)]]) };

/** A database with one key row that counts its reads; each read resolves when released. */
function fakeDb(secret: string, id: string) {
  let reads = 0;
  const waiting: (() => void)[] = [];
  const row = {
    id,
    org: "acme",
    name: "ci",
    type: "STANDARD",
    hashVersion: 1,
    hash: hashKey(peppers, 1, secret),
    scopes: "[]",
    createdBy: "a@acme.example",
    memberName: "a",
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: new Date(),
  };
  const db = {
    prisma: {
      apiKey: {
        findUnique: () => {
          reads++;
          return new Promise((resolve) => waiting.push(() => resolve(row)));
        },
        update: () => Promise.resolve(row),
      },
    },
  } as unknown as Database;
  const release = () => {
    for (const go of waiting.splice(0)) go();
  };
  return { db, reads: () => reads, release };
}

describe("KeyStore", () => {
  it("shares one database read among requests that find the key's entry expired together", async () => {
    const key = generateKey("STANDARD");
    const fake = fakeDb(key.secret, key.id);
    let now = 0;
    const store = new KeyStore(fake.db, peppers, { maxAgeMs: 500, now: () => now });
    const first = Promise.all(Array.from({ length: 50 }, () => store.verify(key.secret)));
    fake.release();
    for (const v of await first) expect(v).toMatchObject({ id: key.id, org: "acme" });
    expect(fake.reads()).toBe(1);
    now = 600; // expired: the next burst reads once more, together
    const second = Promise.all(Array.from({ length: 50 }, () => store.verify(key.secret)));
    fake.release();
    await second;
    expect(fake.reads()).toBe(2);
  });

  it("does not share a read that started before forget() (a revocation)", async () => {
    const key = generateKey("STANDARD");
    const fake = fakeDb(key.secret, key.id);
    const store = new KeyStore(fake.db, peppers, { now: () => 0 });
    const before = store.verify(key.secret);
    store.forget(key.id);
    const after = store.verify(key.secret);
    fake.release();
    await Promise.all([before, after]);
    expect(fake.reads()).toBe(2);
  });

  it("computes the HMAC once per read row, and still refuses another secret of the same key id", async () => {
    const key = generateKey("STANDARD");
    let hmacs = 0;
    // hashKey asks for the pepper once per HMAC.
    const byVersion = new (class extends Map<number, Buffer> {
      override get(v: number) {
        hmacs++;
        return super.get(v);
      }
    })([[1, Buffer.alloc(32, 7)]]);
    const fake = fakeDb(key.secret, key.id);
    let now = 0;
    const store = new KeyStore(fake.db, { current: 1, byVersion }, { maxAgeMs: 500, now: () => now });
    const first = store.verify(key.secret);
    fake.release();
    expect(await first).toMatchObject({ id: key.id });
    for (let i = 0; i < 5; i++) expect(await store.verify(key.secret)).toMatchObject({ id: key.id });
    expect(hmacs).toBe(1);
    // Same id, another secret with a valid checksum: refused, the kept match notwithstanding.
    const other = generateKey("STANDARD").secret.replace(/_[a-z2-7]{12}_/, `_${key.id}_`);
    const body = other.slice(0, -6);
    const forged = body + checksumOf(body);
    expect(await store.verify(forged)).toBe("unknown");
    expect(await store.verify(key.secret)).toMatchObject({ id: key.id });
    now = 600; // a new read of the row: its HMAC once more
    const again = store.verify(key.secret);
    fake.release();
    expect(await again).toMatchObject({ id: key.id });
    expect(hmacs).toBe(2);
  });
});
