// The export worker's own connection to the database (export-worker.ts, ADR 0019): better-sqlite3
// on SQLite, one `pg` client on PostgreSQL. Through it the worker reads the tables that grow
// without bound (the audit log, usage) a keyset page at a time as CSV text, and writes the job's
// progress, heartbeat and archive chunks, every write conditional on the attempt still being
// this replica's (state running, its own startedAt), as the API's thread did through Prisma.
//
// Loaded in a worker thread: light imports only, erasable types only (Node runs it as it is).
// Prisma's client in the worker cost about 2 s and 77 MB of RSS to start, @atrium/crds (through
// billing's csv.ts) 0.35 s and 20 to 40 MB: the SQL below is plain, what both providers run
// alike but for the placeholders, and the statements come written from reader.ts.
import { createRequire } from "node:module";
import { csvLine, plainLine } from "./audit-line.ts";

/**
 * A CSV file the worker reads from the database itself: the statements for each provider, made
 * on the API's thread (reader.ts), the scope's value, the page size, the header line (CRLF).
 */
export type TablePlan = {
  name: string;
  header: string;
  value: string;
  limit: number;
  /** $1 value, $2 limit; `next`: $1 value, then the key (audit: at, at, id; usage: app, app, metric, metric, day), then limit. */
  pg: { count: string; first: string; next: string };
} & ({ kind: "audit"; sqlite: AuditStatements } | { kind: "usage"; sqlite: KeysetStatements });

/**
 * The audit log on SQLite, in `at` order (the index's), entries of one instant in id order.
 * Columns of a page: the line's first nine cells joined (see plainLine), detail, rowid, then `at`
 * (or `id` for one instant's pages). Parameters: the scope's value first, the limit last.
 */
export type AuditStatements = {
  count: string;
  first: string;
  /** (value, at, limit): the entries from an instant on. */
  from: string;
  /** (value, at, limit): the entries after an instant. */
  after: string;
  /** (value, at, limit) and (value, at, id, limit): one instant's entries in id order, when they fill a page. */
  instant: string;
  instantNext: string;
  /** (a JSON array of rowids) → those rowids in id order: one instant's entries within a page. */
  byId: string;
  /** (rowid) → the whole audit line written by SQLite, for rows plainLine does not take. */
  line: string;
};

/** A table read in keyset pages of its primary key (usage). */
export type KeysetStatements = {
  count: string;
  /** (value, limit) and (value, ...the last row's `key`, limit); columns: the line but its value, the value, rowid. */
  first: string;
  next: string;
  /** (rowid) → the keyset parameters of `next` that follow the row. */
  key: string;
};

/** A page of a table's CSV: its lines (each ended by CRLF) and how many. */
export type TablePage = { text: string; records: number };

/** The attempt the worker writes for: the job's id and the startedAt it last wrote (claim or heartbeat). */
export type Attempt = { id: string; startedAt: number };

export type Progress = { step: string; done: number; total: number };

export type Store = {
  count(plan: TablePlan): Promise<number>;
  pages(plan: TablePlan): AsyncGenerator<TablePage>;
  /** Progress, and a new startedAt when `beat` is given; false when the job is no longer this attempt's. */
  report(attempt: Attempt, progress: Progress, beat?: number): Promise<boolean>;
  /** A chunk of the archive with the same check, in one transaction; false when no longer this attempt's. */
  chunk(attempt: Attempt, progress: Progress, seq: number, bytes: Uint8Array): Promise<boolean>;
  /** Deletes the job's chunks (a previous attempt's, before this one writes from the start). */
  clear(jobId: string): Promise<void>;
  close(): Promise<void>;
};

export type StoreTarget =
  | { provider: "sqlite"; path: string; timeoutMs: number }
  | { provider: "postgresql"; url: string };

export async function openStore(target: StoreTarget): Promise<Store> {
  return target.provider === "sqlite" ? sqliteStore(target.path, target.timeoutMs) : pgStore(target.url);
}

// ---- SQLite (better-sqlite3, synchronous: on the worker's thread that is what it is for) ----

type Statement = {
  raw(on: boolean): Statement;
  pluck(on: boolean): Statement;
  all(...params: unknown[]): unknown[];
  get(...params: unknown[]): unknown;
  run(...params: unknown[]): { changes: number };
};
type Connection = {
  prepare(sql: string): Statement;
  pragma(sql: string): unknown;
  transaction<T>(fn: () => T): { immediate(): T };
  close(): void;
};
/** A page row of usage: the line but its value, the value, rowid. */
type PageRow = [string, number, number];
/** A page row of the audit log: the first nine cells joined, detail, rowid, then `at` (or `id`). */
type AuditPageRow = [string | null, string | null, number, unknown];

/** Prisma's SQLite adapter keeps a DateTime as ISO text with "+00:00" for Z: the same text compares equal. */
const sqliteStamp = (ms: number) => new Date(ms).toISOString().replace("Z", "+00:00");

const REPORT = `UPDATE "ExportJob" SET "step" = ?, "done" = ?, "total" = ?, "startedAt" = ? WHERE "id" = ? AND "state" = 'running' AND "startedAt" = ?`;
const OWNED = `UPDATE "ExportJob" SET "step" = ?, "done" = ? WHERE "id" = ? AND "state" = 'running' AND "startedAt" = ?`;
const CHUNK = `INSERT INTO "ExportChunk" ("jobId", "seq", "bytes") VALUES (?, ?, ?)`;

function sqliteStore(path: string, timeoutMs: number): Store {
  const BetterSqlite3 = createRequire(import.meta.url)("better-sqlite3") as new (
    path: string,
    options: { timeout: number; fileMustExist: boolean },
  ) => Connection;
  const db = new BetterSqlite3(path, { timeout: timeoutMs, fileMustExist: true });
  // As the API's own connection (db/index.ts): WAL + NORMAL, so a chunk's commit does not wait
  // for an fsync while holding the write lock the API's thread may be waiting for.
  db.pragma("synchronous = NORMAL");
  let statements: { report: Statement; owned: Statement; insert: Statement } | undefined;
  // Prepared on first use: a file without the job tables (a test's) fails where it is used.
  const writes = () => {
    statements ??= { report: db.prepare(REPORT), owned: db.prepare(OWNED), insert: db.prepare(CHUNK) };
    return statements;
  };
  return {
    async count(plan) {
      return Number(db.prepare(plan.sqlite.count).pluck(true).get(plan.value));
    },
    async *pages(plan) {
      if (plan.kind === "audit") {
        yield* auditPages(db, plan.sqlite, plan.value, plan.limit);
        return;
      }
      const s = plan.sqlite;
      const first = db.prepare(s.first).raw(true);
      const next = db.prepare(s.next).raw(true);
      const key = db.prepare(s.key).raw(true);
      let after: unknown[] | undefined;
      for (;;) {
        const rows = (
          after ? next.all(plan.value, ...after, plan.limit) : first.all(plan.value, plan.limit)
        ) as PageRow[];
        let text = "";
        for (const [head, value] of rows) text += `${head},${value}\r\n`;
        if (rows.length) yield { text, records: rows.length };
        const last = rows[rows.length - 1];
        if (!last || rows.length < plan.limit) return;
        after = key.get(last[2]) as unknown[];
      }
    },
    async report(attempt, p, beat) {
      const at = sqliteStamp(attempt.startedAt);
      const moved = beat === undefined ? at : sqliteStamp(beat);
      return writes().report.run(p.step, p.done, p.total, moved, attempt.id, at).changes === 1;
    },
    async chunk(attempt, p, seq, bytes) {
      const w = writes();
      // IMMEDIATE: the write lock first, so the check and the insert see the same job row.
      return db
        .transaction(() => {
          if (w.owned.run(p.step, p.done, attempt.id, sqliteStamp(attempt.startedAt)).changes !== 1) return false;
          w.insert.run(attempt.id, seq, bytes);
          return true;
        })
        .immediate();
    },
    async clear(jobId) {
      db.prepare(`DELETE FROM "ExportChunk" WHERE "jobId" = ?`).run(jobId);
    },
    async close() {
      db.close();
    },
  };
}

/**
 * The audit log's pages on SQLite (ADR 0019): in `at` order as the (org, at) or (actor, at) index
 * holds it, with no sort; the entries of an instant put in id order here. A full page ends before
 * its last instant, whose entries may go on past it: the next page starts at that instant and so
 * holds it whole. An instant with a page or more of entries on its own is read in id order a page
 * at a time (SQLite sorts those), then reading goes on after it.
 */
function* auditPages(db: Connection, s: AuditStatements, value: string, limit: number): Generator<TablePage> {
  const first = db.prepare(s.first).raw(true);
  const from = db.prepare(s.from).raw(true);
  const after = db.prepare(s.after).raw(true);
  const instant = db.prepare(s.instant).raw(true);
  const instantNext = db.prepare(s.instantNext).raw(true);
  const byId = db.prepare(s.byId).pluck(true);
  const line = db.prepare(s.line).pluck(true);
  const page = (rows: AuditPageRow[]): TablePage => {
    let text = "";
    for (const [prefix, detail, rowid] of rows)
      text += `${plainLine(prefix, detail) ?? (line.get(rowid) as string)}\r\n`;
    return { text, records: rows.length };
  };
  /** The rows (in `at` order) with each run of one instant's entries put in id order. */
  const inIdOrder = (rows: AuditPageRow[]): AuditPageRow[] => {
    for (let i = 0; i < rows.length; ) {
      let j = i + 1;
      while (j < rows.length && (rows[j] as AuditPageRow)[3] === (rows[i] as AuditPageRow)[3]) j++;
      if (j - i > 1) {
        const run = new Map(rows.slice(i, j).map((r) => [Number(r[2]), r]));
        const ordered = byId.all(JSON.stringify([...run.keys()])) as number[];
        rows.splice(i, j - i, ...ordered.map((rowid) => run.get(Number(rowid)) as AuditPageRow));
      }
      i = j;
    }
    return rows;
  };
  let rows = first.all(value, limit) as AuditPageRow[];
  for (;;) {
    if (rows.length < limit) {
      if (rows.length) yield page(inIdOrder(rows));
      return;
    }
    const last = (rows[rows.length - 1] as AuditPageRow)[3];
    let end = rows.length - 1;
    while (end > 0 && (rows[end - 1] as AuditPageRow)[3] === last) end--;
    if (end > 0) {
      yield page(inIdOrder(rows.slice(0, end)));
      rows = from.all(value, last, limit) as AuditPageRow[];
      continue;
    }
    // A page of one instant: its entries by id, a page at a time, then the instants after it.
    let entries = instant.all(value, last, limit) as AuditPageRow[];
    for (;;) {
      if (entries.length) yield page(entries);
      if (entries.length < limit) break;
      entries = instantNext.all(value, last, (entries[entries.length - 1] as AuditPageRow)[3], limit) as AuditPageRow[];
    }
    rows = after.all(value, last, limit) as AuditPageRow[];
  }
}

// ---- PostgreSQL (one pg client) ----

type PgClient = {
  connect(): Promise<void>;
  query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
  end(): Promise<void>;
};
type PgModule = {
  Client: new (options: {
    connectionString: string;
    types: { getTypeParser(oid: number, format?: string): (text: string) => unknown };
  }) => PgClient;
  types: { getTypeParser(oid: number, format?: string): (text: string) => unknown };
};

/** `timestamp without time zone`: Prisma keeps UTC in it; pg would read it as local time. */
const TIMESTAMP_OID = 1114;
const utcTimestamp = (text: string) => new Date(`${text.replace(" ", "T")}Z`);

/**
 * A DateTime parameter as ISO text: PostgreSQL reads it into a `timestamp` column ignoring the
 * zone, as Prisma writes UTC there (a JavaScript Date through pg would be local time).
 */
const pgStamp = (ms: number) => new Date(ms).toISOString();

async function pgStore(url: string): Promise<Store> {
  const pg = ((await import("pg")) as unknown as { default: PgModule }).default;
  const client = new pg.Client({
    connectionString: url,
    types: {
      getTypeParser: (oid, format) => (oid === TIMESTAMP_OID ? utcTimestamp : pg.types.getTypeParser(oid, format)),
    },
  });
  await client.connect();
  const owned = async (attempt: Attempt, p: Progress) =>
    (await client.query(`${OWNED_PG}`, [p.step, p.done, attempt.id, pgStamp(attempt.startedAt)])).rowCount === 1;
  return {
    async count(plan) {
      const { rows } = await client.query(plan.pg.count, [plan.value]);
      return Number(Object.values(rows[0] ?? {})[0] ?? 0);
    },
    async *pages(plan) {
      let after: unknown[] | undefined;
      for (;;) {
        const { rows } = after
          ? await client.query(plan.pg.next, [plan.value, ...after, plan.limit])
          : await client.query(plan.pg.first, [plan.value, plan.limit]);
        let text = "";
        for (const r of rows) text += `${plan.kind === "usage" ? usageLine(r) : auditRowLine(r)}\r\n`;
        if (rows.length) yield { text, records: rows.length };
        const last = rows[rows.length - 1];
        if (!last || rows.length < plan.limit) return;
        after = plan.kind === "usage" ? usageKey(last) : auditKey(last);
      }
    },
    async report(attempt, p, beat) {
      const at = pgStamp(attempt.startedAt);
      const { rowCount } = await client.query(REPORT_PG, [
        p.step,
        p.done,
        p.total,
        beat === undefined ? at : pgStamp(beat),
        attempt.id,
        at,
      ]);
      return rowCount === 1;
    },
    async chunk(attempt, p, seq, bytes) {
      // The UPDATE takes the job row's lock: a take-over's requeue waits for this insert, or wins first.
      await client.query("BEGIN");
      try {
        if (!(await owned(attempt, p))) {
          await client.query("ROLLBACK");
          return false;
        }
        await client.query(CHUNK_PG, [attempt.id, seq, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)]);
        await client.query("COMMIT");
        return true;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {});
        throw error;
      }
    },
    async clear(jobId) {
      await client.query(`DELETE FROM "ExportChunk" WHERE "jobId" = $1`, [jobId]);
    },
    close: () => client.end(),
  };
}

const REPORT_PG = `UPDATE "ExportJob" SET "step" = $1, "done" = $2, "total" = $3, "startedAt" = $4 WHERE "id" = $5 AND "state" = 'running' AND "startedAt" = $6`;
const OWNED_PG = `UPDATE "ExportJob" SET "step" = $1, "done" = $2 WHERE "id" = $3 AND "state" = 'running' AND "startedAt" = $4`;
const CHUNK_PG = `INSERT INTO "ExportChunk" ("jobId", "seq", "bytes") VALUES ($1, $2, $3)`;

const text = (v: unknown) => (v === null || v === undefined ? null : String(v));

/** An audit row of PostgreSQL (columns as AUDIT_HEADER, camelCase) as its CSV line. */
const auditRowLine = (r: Record<string, unknown>) =>
  csvLine([
    (r.at as Date).toISOString(),
    text(r.org),
    text(r.actor),
    text(r.actorType),
    text(r.action),
    text(r.target),
    text(r.result),
    r.status === null ? null : Number(r.status),
    text(r.ip),
    text(r.detail),
  ]);
const auditKey = (r: Record<string, unknown>) => {
  const at = (r.at as Date).toISOString();
  return [at, at, r.id];
};

/** A usage row (day, app, metric, value) as its CSV line: the value as JavaScript writes a number. */
const usageLine = (r: Record<string, unknown>) =>
  csvLine([(r.day as Date).toISOString().slice(0, 10), text(r.app), text(r.metric), Number(r.value)]);
const usageKey = (r: Record<string, unknown>) => [r.app, r.app, r.metric, r.metric, (r.day as Date).toISOString()];
