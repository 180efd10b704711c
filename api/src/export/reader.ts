// Reading the audit log for an export, a page at a time: the table that grows to millions of
// rows. Keyset pages on (at, id): the range on `at` uses the (org, at) and (actor, at) indexes,
// the id settles entries of the same instant. On PostgreSQL plain SQL through Prisma's $queryRaw
// (it binds the parameters and types the columns; findMany's per-row work made it about 5 times
// slower); on SQLite a connection of the export's own whose SELECT writes the CSV lines (ADR 0019).
import { createRequire } from "node:module";
import { csvRow } from "../billing/csv.ts";
import type { Database } from "../db/index.ts";
import { SQLITE_BUSY_TIMEOUT_MS } from "../db/migrate.ts";

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

/**
 * The scope's audit entries as CSV lines (without line ends), a page at a time.
 *
 * On SQLite through a read-only connection of the export's own (better-sqlite3, which Prisma's
 * adapter uses too; WAL lets it read beside the API's connection without blocking it) whose
 * SELECT writes each line itself (AUDIT_LINE_SQL): a million rows read as eleven JavaScript
 * strings each cost 4 times `sqlite3 .dump` in string creation and garbage alone; one string a
 * row (plus the page's last key) is what keeps the export of a big audit log near the dump.
 * The line is byte for byte what csvRow writes (reader.test.ts holds the two together).
 */
export async function* auditCsvLines(
  db: Database,
  sqlitePath: string | undefined,
  scope: AuditScope,
  limit: number,
): AsyncGenerator<string[]> {
  if (!sqlitePath || db.provider !== "sqlite") {
    let after: AuditRow | undefined;
    for (;;) {
      const rows = await auditPage(db, scope, after, limit);
      if (rows.length) yield rows.map((r) => csvRow(auditCells(r)));
      if (rows.length < limit) return;
      after = rows.at(-1);
    }
  }
  const connection = new BetterSqlite3(sqlitePath, { readonly: true, timeout: SQLITE_BUSY_TIMEOUT_MS });
  try {
    const column = "org" in scope ? "org" : "actor";
    const value = "org" in scope ? scope.org : scope.actor;
    const select = `SELECT ${AUDIT_LINE_SQL}, "at", "id" FROM "AuditEvent" WHERE "${column}" = ?`;
    const first = connection.prepare(`${select} ORDER BY "at", "id" LIMIT ?`).raw(true);
    const next = connection
      .prepare(`${select} AND "at" >= ? AND ("at" > ? OR "id" > ?) ORDER BY "at", "id" LIMIT ?`)
      .raw(true);
    let after: unknown[] | undefined;
    for (;;) {
      const rows = (after ? next.all(value, after[1], after[1], after[2], limit) : first.all(value, limit)) as [
        string,
        unknown,
        unknown,
      ][];
      if (rows.length) yield rows.map((r) => r[0]);
      if (rows.length < limit) return;
      after = rows.at(-1);
    }
  } finally {
    connection.close();
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

type Statement = { raw(on: boolean): Statement; all(...params: unknown[]): unknown[] };
type Connection = { prepare(sql: string): Statement; close(): void };
// better-sqlite3 ships no types (see db/migrate.ts): the few calls used here.
const BetterSqlite3 = createRequire(import.meta.url)("better-sqlite3") as new (
  path: string,
  options: { readonly: boolean; timeout: number },
) => Connection;
