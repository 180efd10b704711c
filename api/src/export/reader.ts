// Reading the audit log for an export, a page at a time: the table that grows to millions of
// rows. Keyset pages on (at, id): the range on `at` uses the (org, at) and (actor, at) indexes,
// the id settles entries of the same instant. On PostgreSQL plain SQL through Prisma's $queryRaw
// (it binds the parameters and types the columns; findMany's per-row work made it about 5 times
// slower); on SQLite a connection of the export's own, on a worker thread that writes, hashes and
// deflates the whole file (audit-worker.ts, ADR 0019).
import { Worker } from "node:worker_threads";
import { csvRow } from "../billing/csv.ts";
import type { Database } from "../db/index.ts";
import { SQLITE_BUSY_TIMEOUT_MS } from "../db/migrate.ts";
import type { AuditWorkerData, AuditWorkerMessage, AuditWorkerSummary } from "./audit-worker.ts";

export type AuditRow = {
  id: string;
  at: Date;
  org: string | null;
  actor: string;
  actorType: string;
  action: string;
  target: string | null;
  result: string;
  status: number | null;
  ip: string | null;
  detail: string | null;
};

export type AuditScope = { org: string } | { actor: string };

/** Up to `limit` entries of the scope after `after` (by at, then id), oldest first. */
export function auditPage(
  db: Database,
  scope: AuditScope,
  after: AuditRow | undefined,
  limit: number,
): Promise<AuditRow[]> {
  const p = db.prisma;
  if ("org" in scope)
    return after
      ? p.$queryRaw<
          AuditRow[]
        >`SELECT "id", "at", "org", "actor", "actorType", "action", "target", "result", "status", "ip", "detail" FROM "AuditEvent" WHERE "org" = ${scope.org} AND "at" >= ${after.at} AND ("at" > ${after.at} OR "id" > ${after.id}) ORDER BY "at", "id" LIMIT ${limit}`
      : p.$queryRaw<
          AuditRow[]
        >`SELECT "id", "at", "org", "actor", "actorType", "action", "target", "result", "status", "ip", "detail" FROM "AuditEvent" WHERE "org" = ${scope.org} ORDER BY "at", "id" LIMIT ${limit}`;
  return after
    ? p.$queryRaw<
        AuditRow[]
      >`SELECT "id", "at", "org", "actor", "actorType", "action", "target", "result", "status", "ip", "detail" FROM "AuditEvent" WHERE "actor" = ${scope.actor} AND "at" >= ${after.at} AND ("at" > ${after.at} OR "id" > ${after.id}) ORDER BY "at", "id" LIMIT ${limit}`
    : p.$queryRaw<
        AuditRow[]
      >`SELECT "id", "at", "org", "actor", "actorType", "action", "target", "result", "status", "ip", "detail" FROM "AuditEvent" WHERE "actor" = ${scope.actor} ORDER BY "at", "id" LIMIT ${limit}`;
}

/** A CSV row of the audit log: at, org, actor, actor_type, action, target, result, status, ip, detail. */
export type AuditCells = [
  string,
  string | null,
  string,
  string,
  string,
  string | null,
  string,
  number | null,
  string | null,
  string | null,
];

export const AUDIT_HEADER = [
  "at",
  "org",
  "actor",
  "actor_type",
  "action",
  "target",
  "result",
  "status",
  "ip",
  "detail",
];

/** A page of the audit CSV: its lines, each ended by CRLF, and how many. */
export type CsvPage = { text: string | Uint8Array; count: number };

/** The scope's audit entries as CSV pages (lines ended by CRLF) through Prisma, a page at a time. */
export async function* auditCsvPages(db: Database, scope: AuditScope, limit: number): AsyncGenerator<CsvPage> {
  let after: AuditRow | undefined;
  for (;;) {
    const rows = await auditPage(db, scope, after, limit);
    if (rows.length) yield { text: `${rows.map((r) => csvRow(auditCells(r))).join("\r\n")}\r\n`, count: rows.length };
    if (rows.length < limit) return;
    after = rows.at(-1);
  }
}

/**
 * The line's first nine cells, at to ip, as SQLite concatenates them without escaping: one string
 * a row (eleven cost better-sqlite3 as much as the read), taken as is by the worker when nothing
 * in it needs escaping (audit-worker.ts's plainLine), NULL when a NOT NULL column is (the worker
 * then asks for AUDIT_LINE_SQL).
 */
const PLAIN_PREFIX_SQL = [
  `"at"`,
  `ifnull("org", '')`,
  `"actor"`,
  `"actorType"`,
  `"action"`,
  `ifnull("target", '')`,
  `"result"`,
  `ifnull("status", '')`,
  `ifnull("ip", '')`,
].join(" || ',' || ");

/**
 * The scope's whole audit-log.csv (header and lines), deflated, from SQLite: the pieces of raw
 * deflate, then (the generator's return value) the file's size, CRC-32 and SHA-256.
 *
 * Read through a read-only connection of the export's own (better-sqlite3, which Prisma's
 * adapter uses too; WAL lets it read beside the API's connection without blocking it) on a
 * worker thread (audit-worker.ts) that also writes the lines, hashes and deflates them: a
 * million entries are about 120 MB of CSV, and reading, hashing and compressing them on the
 * API's thread held requests back for seconds. Lines are byte for byte what csvRow writes
 * (reader.test.ts holds the two together).
 */
export function auditCsvDeflated(
  sqlitePath: string,
  scope: AuditScope,
  options: { level: number; limit: number },
  count: (records: number) => void,
): AsyncGenerator<Uint8Array, AuditWorkerSummary> {
  const column = "org" in scope ? "org" : "actor";
  const page = `SELECT ${PLAIN_PREFIX_SQL}, "detail", rowid FROM "AuditEvent" WHERE "${column}" = ?`;
  return deflatedFromWorker(
    {
      path: sqlitePath,
      timeoutMs: SQLITE_BUSY_TIMEOUT_MS,
      first: `${page} ORDER BY "at", "id" LIMIT ?`,
      next: `${page} AND "at" >= ? AND ("at" > ? OR "id" > ?) ORDER BY "at", "id" LIMIT ?`,
      lines: "audit",
      line: `SELECT ${AUDIT_LINE_SQL} FROM "AuditEvent" WHERE rowid = ?`,
      key: `SELECT "at", "at", "id" FROM "AuditEvent" WHERE rowid = ?`,
      value: "org" in scope ? scope.org : scope.actor,
      limit: options.limit,
      header: `${csvRow(AUDIT_HEADER)}\r\n`,
      level: options.level,
    },
    count,
  );
}

export const USAGE_HEADER = ["day", "app", "metric", "value"];

/**
 * usage.csv's line but its value (USAGE_HEADER's first three columns) as one SQLite expression:
 * the UTC day of Prisma's "…T00:00:00.000+00:00", app and metric escaped as csvCell does. The
 * value (a REAL) is written by the worker as JavaScript writes a number: SQLite's text of a REAL
 * has 15 significant digits and ".0" on whole numbers.
 */
export const USAGE_HEAD_SQL = [`substr("day", 1, 10)`, csvCellSql("app"), csvCellSql("metric")].join(" || ',' || ");

/**
 * The organization's whole usage.csv, deflated, from SQLite, made like the audit log's (by the
 * same worker, in the table's primary key order: app, metric, day), SQLite writing each line but
 * its value: tens of thousands of short rows that cost the API's thread more through Prisma (a
 * JavaScript object and a Date each) than the rest of the archive but the audit log.
 */
export function usageCsvDeflated(
  sqlitePath: string,
  org: string,
  options: { level: number; limit: number },
  count: (records: number) => void,
): AsyncGenerator<Uint8Array, AuditWorkerSummary> {
  const page = `SELECT ${USAGE_HEAD_SQL}, "value", rowid FROM "UsageDay" WHERE "org" = ?`;
  return deflatedFromWorker(
    {
      path: sqlitePath,
      timeoutMs: SQLITE_BUSY_TIMEOUT_MS,
      first: `${page} ORDER BY "app", "metric", "day" LIMIT ?`,
      next: `${page} AND ("app" > ? OR ("app" = ? AND ("metric" > ? OR ("metric" = ? AND "day" > ?)))) ORDER BY "app", "metric", "day" LIMIT ?`,
      lines: "usage",
      key: `SELECT "app", "app", "metric", "metric", "day" FROM "UsageDay" WHERE rowid = ?`,
      value: org,
      limit: options.limit,
      header: `${csvRow(USAGE_HEADER)}\r\n`,
      level: options.level,
    },
    count,
  );
}

/** The worker starts when the file's turn comes (the first `next()`), not when the archive is planned. */
async function* deflatedFromWorker(
  data: AuditWorkerData,
  count: (records: number) => void,
): AsyncGenerator<Uint8Array, AuditWorkerSummary> {
  return yield* fromWorker(new Worker(AUDIT_WORKER, { workerData: data, resourceLimits: READER_HEAP }), count);
}

/**
 * The reader's heap is a page of rows and its text: a small old generation makes it collect
 * early rather than grow the API's RSS (the export's memory budget is the process's).
 */
const READER_HEAP = { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 16 };

const AUDIT_WORKER = new URL("./audit-worker.ts", import.meta.url);

/**
 * Messages the worker may send before the archive takes one: the next page is read while the
 * archive writes the one it took (its credit is sent as it takes it).
 */
const READ_AHEAD = 1;

/**
 * The worker's deflated pieces in order, then its summary; its error (or its exit before the
 * end) is this generator's. The worker is terminated when the consumer stops early (a failed or
 * cancelled export).
 */
async function* fromWorker(
  worker: Worker,
  count: (records: number) => void,
): AsyncGenerator<Uint8Array, AuditWorkerSummary> {
  const queue: AuditWorkerMessage[] = [];
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  worker.on("message", (m: AuditWorkerMessage) => {
    queue.push(m);
    notify();
  });
  worker.on("error", (error: unknown) => {
    // A worker's error crosses threads by structured clone: a class of its own arrives as a bare object.
    failure ??= error instanceof Error ? error : new Error(`the audit log reader failed: ${JSON.stringify(error)}`);
    notify();
  });
  worker.on("exit", (code) => {
    failure ??= new Error(`the audit log reader stopped (exit code ${code}) before the end`);
    notify();
  });
  worker.postMessage(READ_AHEAD);
  try {
    for (;;) {
      const m = queue.shift();
      if (m && "end" in m) return { size: m.size, crc: m.crc, sha256: m.sha256 };
      if (m && "error" in m) throw new Error(`The audit log could not be read: ${m.error}`);
      if (m) {
        worker.postMessage(1);
        count(m.records);
        if (m.deflated.length) yield m.deflated;
        continue;
      }
      if (failure) throw failure;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    worker.removeAllListeners("exit");
    await worker.terminate();
  }
}

/**
 * SQLite's expression for one CSV cell of a text column, as csvCell writes it: NULL empty; a
 * leading = + - @ tab or CR gets an apostrophe (formula injection); quoted, with quotes doubled,
 * when it holds a quote, comma or line break.
 */
export function csvCellSql(column: string): string {
  const c = `"${column}"`;
  const text = `(CASE WHEN substr(${c}, 1, 1) IN ('=', '+', '-', '@', char(9), char(13)) THEN '''' || ${c} ELSE ${c} END)`;
  const special = `instr(${c}, '"') > 0 OR instr(${c}, ',') > 0 OR instr(${c}, char(10)) > 0 OR instr(${c}, char(13)) > 0`;
  return `(CASE WHEN ${c} IS NULL THEN '' WHEN ${special} THEN '"' || replace(${text}, '"', '""') || '"' ELSE ${text} END)`;
}

/** Prisma keeps SQLite DateTimes as text "2025-01-01T00:00:00.000+00:00": written as ISO with Z. */
const AT_SQL = `(CASE WHEN "at" LIKE '%+00:00' THEN substr("at", 1, length("at") - 6) || 'Z' ELSE "at" END)`;

/** The audit CSV line (AUDIT_HEADER's columns) as one SQLite expression. */
export const AUDIT_LINE_SQL = [
  AT_SQL,
  csvCellSql("org"),
  csvCellSql("actor"),
  csvCellSql("actorType"),
  csvCellSql("action"),
  csvCellSql("target"),
  csvCellSql("result"),
  `COALESCE(CAST("status" AS TEXT), '')`,
  csvCellSql("ip"),
  csvCellSql("detail"),
].join(" || ',' || ");

export const auditCells = (e: AuditRow): AuditCells => [
  e.at.toISOString(),
  e.org,
  e.actor,
  e.actorType,
  e.action,
  e.target,
  e.result,
  e.status,
  e.ip,
  e.detail,
];
