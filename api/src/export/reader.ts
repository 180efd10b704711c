// The statements the export's worker thread reads the big tables with (tables.ts): the audit
// log, the table that grows to millions of rows, and daily usage. Keyset pages on (at, id): the
// range on `at` uses the (org, at) and (actor, at) indexes, the id settles entries of the same
// instant; usage in its primary key's order. Made here, on the API's thread, because the CSV
// escaping SQLite does for the worker is written against billing's csvRow (reader.test.ts holds
// the two together), and the worker must not load billing's modules (ADR 0019).
import { csvRow } from "../billing/csv.ts";
import type { TablePlan } from "./tables.ts";

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
 * The line's first nine cells, at to ip, as SQLite joins them without escaping: one string a row
 * (eleven cost better-sqlite3 as much as the read), taken as is by the worker when nothing in it
 * needs escaping (audit-line.ts's plainLine, in tables.ts); otherwise the worker asks for
 * AUDIT_LINE_SQL. One concat_ws call rather than seventeen `||`: SQLite builds the string once. It
 * leaves out a NULL argument, so a NOT NULL column that is NULL makes a line a cell short, which
 * plainLine refuses (exactly eight commas).
 */
const PLAIN_PREFIX_SQL = `concat_ws(',', ${[
  `"at"`,
  `ifnull("org", '')`,
  `"actor"`,
  `"actorType"`,
  `"action"`,
  `ifnull("target", '')`,
  `"result"`,
  `ifnull("status", '')`,
  `ifnull("ip", '')`,
].join(", ")})`;

const AUDIT_COLUMNS = `"id", "at", "org", "actor", "actorType", "action", "target", "result", "status", "ip", "detail"`;

/**
 * audit-log.csv of the scope (an organization's entries, or a person's as actor), for the
 * worker, in (at, id) order. On SQLite the SELECT joins the first nine cells without escaping
 * (one string a row: better-sqlite3 spent as long making eleven strings a row as SQLite spent
 * reading them) and the worker takes that line as it is when it is plain (plainLine), else
 * SQLite's AUDIT_LINE_SQL by rowid; on PostgreSQL the worker writes the line from the columns
 * (csvLine).
 *
 * SQLite pages go in the index's order, `at` alone: ordering by (at, id) made SQLite sort every
 * instant's entries by id in a temporary B-tree, a third of its time on a million entries though
 * nearly every instant has one entry. Entries of the same instant are put in id order by the
 * worker (tables.ts): a page ends before its last instant, which the next page reads whole.
 */
export function auditPlan(scope: AuditScope, limit: number): TablePlan {
  const column = "org" in scope ? "org" : "actor";
  const page = `SELECT ${PLAIN_PREFIX_SQL}, "detail", rowid, "at" FROM "AuditEvent" WHERE "${column}" = ?`;
  const instant = `SELECT ${PLAIN_PREFIX_SQL}, "detail", rowid, "id" FROM "AuditEvent" WHERE "${column}" = ? AND "at" = ?`;
  const pgPage = `SELECT ${AUDIT_COLUMNS} FROM "AuditEvent" WHERE "${column}" = $1`;
  return {
    name: "audit-log.csv",
    kind: "audit",
    header: `${csvRow(AUDIT_HEADER)}\r\n`,
    value: "org" in scope ? scope.org : scope.actor,
    limit,
    sqlite: {
      count: `SELECT count(*) FROM "AuditEvent" WHERE "${column}" = ?`,
      first: `${page} ORDER BY "at" LIMIT ?`,
      from: `${page} AND "at" >= ? ORDER BY "at" LIMIT ?`,
      after: `${page} AND "at" > ? ORDER BY "at" LIMIT ?`,
      instant: `${instant} ORDER BY "id" LIMIT ?`,
      instantNext: `${instant} AND "id" > ? ORDER BY "id" LIMIT ?`,
      byId: `SELECT rowid FROM "AuditEvent" WHERE rowid IN (SELECT value FROM json_each(?)) ORDER BY "id"`,
      line: `SELECT ${AUDIT_LINE_SQL} FROM "AuditEvent" WHERE rowid = ?`,
    },
    pg: {
      count: `SELECT count(*) FROM "AuditEvent" WHERE "${column}" = $1`,
      first: `${pgPage} ORDER BY "at", "id" LIMIT $2`,
      next: `${pgPage} AND "at" >= $2 AND ("at" > $3 OR "id" > $4) ORDER BY "at", "id" LIMIT $5`,
    },
  };
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
 * usage.csv of the organization, for the worker, in the table's primary key order (app, metric,
 * day): on SQLite, SQLite writes each line but its value, the worker the value as JavaScript
 * writes a number (tens of thousands of short rows cost the API's thread more through Prisma, a
 * JavaScript object and a Date each, than the rest of the archive but the audit log).
 */
export function usagePlan(org: string, limit: number): TablePlan {
  const page = `SELECT ${USAGE_HEAD_SQL}, "value", rowid FROM "UsageDay" WHERE "org" = ?`;
  const pgPage = `SELECT "app", "metric", "day", "value" FROM "UsageDay" WHERE "org" = $1`;
  return {
    name: "usage.csv",
    kind: "usage",
    header: `${csvRow(USAGE_HEADER)}\r\n`,
    value: org,
    limit,
    sqlite: {
      count: `SELECT count(*) FROM "UsageDay" WHERE "org" = ?`,
      first: `${page} ORDER BY "app", "metric", "day" LIMIT ?`,
      next: `${page} AND ("app" > ? OR ("app" = ? AND ("metric" > ? OR ("metric" = ? AND "day" > ?)))) ORDER BY "app", "metric", "day" LIMIT ?`,
      key: `SELECT "app", "app", "metric", "metric", "day" FROM "UsageDay" WHERE rowid = ?`,
    },
    pg: {
      count: `SELECT count(*) FROM "UsageDay" WHERE "org" = $1`,
      first: `${pgPage} ORDER BY "app", "metric", "day" LIMIT $2`,
      next: `${pgPage} AND ("app" > $2 OR ("app" = $3 AND ("metric" > $4 OR ("metric" = $5 AND "day" > $6)))) ORDER BY "app", "metric", "day" LIMIT $7`,
    },
  };
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
