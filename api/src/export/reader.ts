// Reading the audit log for an export, a page at a time: the table that grows to millions of
// rows. Keyset pages on (at, id): the range on `at` uses the (org, at) and (actor, at) indexes,
// the id settles entries of the same instant. On PostgreSQL plain SQL through Prisma's $queryRaw
// (it binds the parameters and types the columns; findMany's per-row work made it about 5 times
// slower); on SQLite a connection of the export's own, on a worker thread, whose SELECT writes
// the CSV lines (ADR 0019).
import { Worker } from "node:worker_threads";
import { csvRow } from "../billing/csv.ts";
import type { Database } from "../db/index.ts";
import { SQLITE_BUSY_TIMEOUT_MS } from "../db/migrate.ts";
import type { AuditWorkerData, AuditWorkerMessage } from "./audit-worker.ts";

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

/**
 * The scope's audit entries as CSV pages (lines ended by CRLF), a page at a time.
 *
 * On SQLite through a read-only connection of the export's own (better-sqlite3, which Prisma's
 * adapter uses too; WAL lets it read beside the API's connection without blocking it) on a
 * worker thread (audit-worker.ts), whose SELECT writes each line itself (AUDIT_LINE_SQL): a
 * million rows read as eleven JavaScript strings each cost 4 times `sqlite3 .dump` in string
 * creation and garbage alone, and better-sqlite3's reads are synchronous, so on the API's
 * thread they held every request back. The line is byte for byte what csvRow writes
 * (reader.test.ts holds the two together).
 */
export async function* auditCsvPages(
  db: Database,
  sqlitePath: string | undefined,
  scope: AuditScope,
  limit: number,
): AsyncGenerator<CsvPage> {
  if (!sqlitePath || db.provider !== "sqlite") {
    let after: AuditRow | undefined;
    for (;;) {
      const rows = await auditPage(db, scope, after, limit);
      if (rows.length) yield { text: `${rows.map((r) => csvRow(auditCells(r))).join("\r\n")}\r\n`, count: rows.length };
      if (rows.length < limit) return;
      after = rows.at(-1);
    }
  }
  const column = "org" in scope ? "org" : "actor";
  const select = `SELECT ${AUDIT_LINE_SQL}, "at", "id" FROM "AuditEvent" WHERE "${column}" = ?`;
  const data: AuditWorkerData = {
    path: sqlitePath,
    timeoutMs: SQLITE_BUSY_TIMEOUT_MS,
    first: `${select} ORDER BY "at", "id" LIMIT ?`,
    next: `${select} AND "at" >= ? AND ("at" > ? OR "id" > ?) ORDER BY "at", "id" LIMIT ?`,
    value: "org" in scope ? scope.org : scope.actor,
    limit,
  };
  yield* fromWorker(new Worker(AUDIT_WORKER, { workerData: data, resourceLimits: READER_HEAP }));
}

/**
 * The reader's heap is a couple of pages and SQLite's rows: a small old generation makes it
 * collect early rather than grow the API's RSS (the export's memory budget is the process's).
 */
const READER_HEAP = { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 16 };

const AUDIT_WORKER = new URL("./audit-worker.ts", import.meta.url);

/**
 * Pages the worker may read before the archive takes one: the next page is read while the
 * archive writes the one it took (its credit is sent as it takes it).
 */
const READ_AHEAD = 1;

/**
 * The worker's pages in order; its error (or its exit before the end) is this generator's. The
 * worker is terminated when the consumer stops early (a failed or cancelled export).
 */
async function* fromWorker(worker: Worker): AsyncGenerator<CsvPage> {
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
      if (m && "end" in m) return;
      if (m && "error" in m) throw new Error(`The audit log could not be read: ${m.error}`);
      if (m) {
        worker.postMessage(1);
        yield { text: m.lines, count: m.count };
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
