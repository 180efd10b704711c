import { describe, expect, it } from "vitest";
import type { Database } from "../db/index.ts";
import { generateKey, hashKey, type Peppers } from "./keyformat.ts";
import { KeyStore } from "./keystore.ts";

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
});
