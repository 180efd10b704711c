import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { unzip } from "../../../test/integration/export/unzip.ts";
import { type Database, openDatabase } from "../db/index.ts";
import type { TextFile } from "./archive.ts";
import { CHUNK_BYTES } from "./domain.ts";
import { auditPlan } from "./reader.ts";
import { runOnWorker } from "./thread.ts";

type Sqlite = {
  prepare(sql: string): { run(...p: unknown[]): void; pluck(on: boolean): { get(...p: unknown[]): unknown } };
  exec(sql: string): void;
  close(): void;
};
const BetterSqlite3 = createRequire(import.meta.url)("better-sqlite3") as new (
  path: string,
  options?: { readonly?: boolean },
) => Sqlite;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
/** Sleeps without giving the event loop a turn: the API's thread busy with something else. */
const blockThread = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

describe("runOnWorker (an export's worker thread, on SQLite)", () => {
  const dir = mkdtempSync(join(tmpdir(), "atrium-export-thread-"));
  const open: Database[] = [];
  afterAll(async () => {
    for (const db of open) await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A migrated database with a running job and `entries` audit entries of org acme. */
  async function fixture(name: string, entries: number) {
    const path = join(dir, name);
    const db = await openDatabase(`file:${path}`);
    open.push(db);
    const startedAt = new Date();
    await db.prisma.exportJob.create({
      data: { id: "job1", kind: "org", org: "acme", requestedBy: "u1", state: "running", step: "starting", startedAt },
    });
    const raw = new BetterSqlite3(path);
    const insert = raw.prepare(
      `INSERT INTO "AuditEvent" ("id", "at", "org", "actor", "actorType", "action", "target", "result") VALUES (?, ?, 'acme', 'ann@acme.test', 'user', 'x', ?, 'success')`,
    );
    raw.exec("BEGIN");
    // Hashes as targets: little to compress, so the audit log alone fills several chunks.
    for (let i = 0; i < entries; i++)
      insert.run(
        `e${String(i).padStart(7, "0")}`,
        new Date(Date.UTC(2026, 0, 1) + i).toISOString().replace("Z", "+00:00"),
        `${sha(Buffer.from(String(i)))}${sha(Buffer.from(`${i}.`))}`,
      );
    raw.exec("COMMIT");
    raw.close();
    return { path, db, startedAt: startedAt.getTime() };
  }

  /** A file the API's thread makes, in three pieces of one record each. */
  const notes: TextFile = {
    name: "notes.json",
    async *content(count) {
      for (const piece of ["[1", ",2", ",3]\n"]) {
        count(1);
        yield piece;
      }
    },
  };

  const start = (f: Awaited<ReturnType<typeof fixture>>, signal = new AbortController().signal) => {
    const tracked: number[] = [];
    const result = runOnWorker({
      data: {
        target: { provider: "sqlite", path: f.path, timeoutMs: 5000 },
        attempt: { id: "job1", startedAt: f.startedAt },
        skewMs: 0,
        kind: "org",
        subject: "acme",
        generatedAt: f.startedAt,
        baseTotal: 3,
      },
      files: [auditPlan({ org: "acme" }, 2000), notes],
      signal,
      track: (startedAt) => tracked.push(startedAt),
    });
    return { result, tracked };
  };

  it("reads the table and stores the chunks on its own thread, while the API's thread is busy", async () => {
    const f = await fixture("busy.db", 40_000);
    const { result, tracked } = start(f);
    // This thread does not give its event loop a turn until the worker has stored two chunks
    // (it polls the table through a connection of its own): the worker needs nothing of it for
    // the audit log. With the chunks written on this thread, none would ever appear.
    const reader = new BetterSqlite3(f.path, { readonly: true });
    const chunks = reader.prepare(`SELECT count(*) FROM "ExportChunk" WHERE "jobId" = 'job1'`).pluck(true);
    const deadline = Date.now() + 60_000;
    let stored = 0;
    while (stored < 2 && Date.now() < deadline) {
      blockThread(20);
      stored = Number(chunks.get());
    }
    reader.close();
    expect(stored).toBeGreaterThanOrEqual(2);

    // Then the file only this thread makes is pulled, and the archive ends.
    const written = await result;
    expect(tracked.at(-1)).toBe(written.startedAt);
    const rows = await f.db.prisma.exportChunk.findMany({ where: { jobId: "job1" }, orderBy: { seq: "asc" } });
    expect(rows.length).toBe(written.chunks);
    expect(rows.slice(0, -1).every((r) => r.bytes.length === CHUNK_BYTES)).toBe(true);
    const archive = Buffer.concat(rows.map((r) => Buffer.from(r.bytes)));
    expect({ bytes: archive.length, sha256: sha(archive) }).toEqual({ bytes: written.bytes, sha256: written.sha256 });
    const files = new Map(unzip(archive).map((e) => [e.name, e.data]));
    expect([...files.keys()]).toEqual(["audit-log.csv", "notes.json", "manifest.json"]);
    expect(files.get("audit-log.csv")?.toString().split("\r\n")).toHaveLength(40_000 + 2);
    expect(files.get("notes.json")?.toString()).toBe("[1,2,3]\n");
    const manifest = JSON.parse(files.get("manifest.json")?.toString() ?? "{}");
    expect(manifest.counts).toEqual({ "audit-log": 40_000, notes: 3 });
    expect(written.records).toBe(40_003);
    const job = await f.db.prisma.exportJob.findUniqueOrThrow({ where: { id: "job1" } });
    // Its progress, written by the worker, conditional on its attempt.
    expect(job).toMatchObject({ state: "running", total: 40_003 });
    expect(job.startedAt?.getTime()).toBe(written.startedAt);
  }, 90_000);

  it("makes its own files' first pieces while the worker starts, not after the worker first asks", async () => {
    const f = await fixture("early.db", 100);
    let pulled = 0;
    const counted: TextFile = {
      name: "notes.json",
      async *content(count) {
        for (const piece of ["[1", ",2", ",3]\n"]) {
          pulled++;
          count(1);
          yield piece;
        }
      },
    };
    const result = runOnWorker({
      data: {
        target: { provider: "sqlite", path: f.path, timeoutMs: 5000 },
        attempt: { id: "job1", startedAt: f.startedAt },
        skewMs: 0,
        kind: "org",
        subject: "acme",
        generatedAt: f.startedAt,
        baseTotal: 3,
      },
      files: [counted, auditPlan({ org: "acme" }, 2000)],
      signal: new AbortController().signal,
      track: () => {},
    });
    // One turn of the event loop: far too soon for a new worker (an isolate, its modules) to
    // have started and sent anything; the pieces are made already, on the credit it starts with.
    await new Promise((resolve) => setImmediate(resolve));
    expect(pulled).toBe(3);
    expect((await result).records).toBe(103);
  }, 30_000);

  it("writes nothing into a job that is no longer its attempt's, and fails", async () => {
    const f = await fixture("taken.db", 100);
    // Another replica took the job over: its startedAt is not this attempt's.
    await f.db.prisma.exportJob.update({ where: { id: "job1" }, data: { startedAt: new Date(f.startedAt + 1) } });
    await expect(start(f).result).rejects.toThrow("the job is no longer running on this replica");
    expect(await f.db.prisma.exportChunk.count()).toBe(0);
  }, 30_000);

  it("stops when asked (the replica is stopping), with the reason, and closes its connection", async () => {
    const f = await fixture("stop.db", 40_000);
    const stop = new AbortController();
    const { result } = start(f, stop.signal);
    stop.abort(new Error("the API is stopping"));
    await expect(result).rejects.toThrow("the API is stopping");
    // The worker's connection is closed: with this test's own closed, the file can be locked exclusively.
    await f.db.close();
    const db = new BetterSqlite3(f.path);
    db.exec("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT");
    db.close();
  }, 30_000);
});
