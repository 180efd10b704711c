// api-keys: API key verification (parse, checksum, cached row, HMAC-SHA256, constant-time
// compare) on the API's real key store over a real SQLite database. Cached: 100 hot keys
// verified in a loop (each row is re-read from the database at most every 500 ms, as in
// production); uncached: each verification after the cache entry was dropped (one indexed
// read). Side by side in one run, interleaved.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKey, hashKey, parsePeppers } from "../../api/src/auth/keyformat.ts";
import { KeyStore } from "../../api/src/auth/keystore.ts";
import { openDatabase } from "../../api/src/db/index.ts";
import { writeResult } from "../results.ts";
import { percentile } from "../stats.ts";

const KEYS = 100;
const ROUNDS = 20;
const PER_ROUND = 10_000;
const log = (m: string) => console.log(`[api-keys] ${m}`);

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), "atrium-bench-keys-"));
  const db = await openDatabase(`file:${join(dir, "keys.db")}`);
  const peppers = parsePeppers("1:bench-pepper-0123456789abcdef");
  const secrets: string[] = [];
  for (let i = 0; i < KEYS; i++) {
    const key = generateKey(i % 2 ? "AI_AGENT" : "STANDARD");
    secrets.push(key.secret);
    await db.prisma.apiKey.create({
      data: {
        id: key.id,
        org: "bench",
        name: `key ${i}`,
        type: i % 2 ? "AI_AGENT" : "STANDARD",
        prefix: key.display,
        hashVersion: 1,
        hash: hashKey(peppers, 1, key.secret),
        scopes: JSON.stringify(["members:view"]),
        createdBy: "bench@x.example",
        memberName: "bench",
        createdAt: new Date(),
      },
    });
  }
  const store = new KeyStore(db, peppers);
  const cached: number[] = [];
  const uncached: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < PER_ROUND; i++) {
      const secret = secrets[i % KEYS] as string;
      const t0 = process.hrtime.bigint();
      const result = await store.verify(secret);
      cached.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (typeof result === "string") throw new Error(`verification failed: ${result}`);
    }
    for (let i = 0; i < KEYS; i++) {
      const secret = secrets[i] as string;
      store.forget(secret.slice(7, 19));
      const t0 = process.hrtime.bigint();
      const result = await store.verify(secret);
      uncached.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (typeof result === "string") throw new Error(`verification failed: ${result}`);
    }
  }
  log(`${cached.length} cached and ${uncached.length} uncached verifications`);
  await db.close();
  writeResult({
    scenario: "api-keys",
    method:
      `KeyStore.verify on a SQLite file with ${KEYS} keys: ${ROUNDS} rounds of ${PER_ROUND} verifications of hot keys ` +
      `(row cache, 500 ms maximum age, so revocations reach every replica within a second) alternating with ${KEYS} ` +
      "verifications after dropping the cached row (one indexed database read). Each call timed alone; nearest-rank " +
      "percentiles. Includes format and checksum parsing, HMAC-SHA256 with the pepper and a constant-time compare.",
    metrics: {
      verify_p99_ms: Number(percentile(cached, 99).toFixed(4)),
      verify_p50_ms: Number(percentile(cached, 50).toFixed(4)),
      uncached_p99_ms: Number(percentile(uncached, 99).toFixed(3)),
      uncached_p50_ms: Number(percentile(uncached, 50).toFixed(3)),
    },
    goals: { verify_p99_ms: "<= 0.2" },
  });
}
