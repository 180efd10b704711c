// Applies the committed migrations (api/prisma/<provider>/migrations/*/migration.sql) to a
// database, recording each in `_atrium_migrations`.
//
// Why not `prisma migrate deploy`: it starts the Prisma CLI as a child process and, offline,
// its WebAssembly schema engine, which costs about a second per database, and the API (and
// its tests, which open many databases) migrates at every start. The migrations are plain SQL
// that Prisma wrote (`prisma migrate diff --script`), so applying them ourselves is a few
// milliseconds. Prisma's `_prisma_migrations` table is not used, so do not mix in
// `prisma migrate deploy` on the same database.
//
// Each migration runs in a transaction of its own with its bookkeeping row. Concurrent starts
// are safe: SQLite serializes them with BEGIN IMMEDIATE (and re-checks inside the
// transaction), PostgreSQL with a session advisory lock held while migrating. Migrations are
// immutable once committed: an applied migration whose file changed fails the start.
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { type DatabaseTarget, type Provider, parseDatabaseUrl } from "./url.ts";

export type Migration = { name: string; sql: string; checksum: string };
export type MigrationResult = { applied: string[] };

export const MIGRATIONS_TABLE = "_atrium_migrations";
/** Any fixed 64-bit number; advisory locks are per database. ("atrium" in ASCII.) */
const PG_LOCK_KEY = "107152763614573";
/** How long a SQLite connection waits for another writer (busy_timeout), in milliseconds. */
export const SQLITE_BUSY_TIMEOUT_MS = 10_000;

const PRISMA_DIR = fileURLToPath(new URL("../../prisma/", import.meta.url));

/** The committed migrations for a provider, in order (folder names sort: 0001_init, 0002_…). */
export function loadMigrations(provider: Provider, root: string = PRISMA_DIR): Migration[] {
  const dir = join(root, provider, "migrations");
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    });
}

/**
 * Brings the database at `url` up to date with the committed migrations (or `migrations`, for
 * tests), returning the names of those it applied.
 */
export async function migrateDatabase(
  url: string | DatabaseTarget,
  options: { migrations?: Migration[] } = {},
): Promise<MigrationResult> {
  const target = typeof url === "string" ? parseDatabaseUrl(url) : url;
  const migrations = options.migrations ?? loadMigrations(target.provider);
  return target.provider === "sqlite"
    ? migrateSqlite(target.path, migrations)
    : migratePostgres(target.url, migrations);
}

function changedError(name: string): Error {
  return new Error(
    `migration ${name} was changed after it was applied to this database; committed migrations are immutable: add a new one instead`,
  );
}

/** Of `migrations`, those not yet applied according to `applied` (name → checksum). */
function pending(migrations: Migration[], applied: Map<string, string>): Migration[] {
  return migrations.filter((m) => {
    const checksum = applied.get(m.name);
    if (checksum !== undefined && checksum !== m.checksum) throw changedError(m.name);
    return checksum === undefined;
  });
}

// ---- SQLite (better-sqlite3, synchronous) ----

type SqliteStatement = { all(...params: unknown[]): unknown[]; run(...params: unknown[]): unknown };
export type SqliteConnection = {
  exec(sql: string): void;
  prepare(sql: string): SqliteStatement;
  pragma(sql: string, options?: { simple?: boolean }): unknown;
  close(): void;
};
type SqliteConstructor = new (path: string, options?: { timeout?: number }) => SqliteConnection;
// better-sqlite3 ships no types (and @types/better-sqlite3 is not a dependency): type the few calls used here.
const BetterSqlite3 = createRequire(import.meta.url)("better-sqlite3") as SqliteConstructor;

/** Opens a SQLite file (creating its folder) with WAL journaling and a busy timeout. */
export function openSqlite(path: string): SqliteConnection {
  mkdirSync(dirname(path), { recursive: true });
  const db = new BetterSqlite3(path, { timeout: SQLITE_BUSY_TIMEOUT_MS });
  try {
    db.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
    // WAL is a property of the file: set once here, it holds for Prisma's connection too.
    db.pragma("journal_mode = WAL");
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

function migrateSqlite(path: string, migrations: Migration[]): MigrationResult {
  const db = openSqlite(path);
  const applied: string[] = [];
  try {
    // Off for the migration connection so that table rebuilds (how Prisma alters SQLite
    // tables) do not cascade; integrity is checked with foreign_key_check before each commit.
    db.pragma("foreign_keys = OFF");
    db.exec(
      `CREATE TABLE IF NOT EXISTS "${MIGRATIONS_TABLE}" ("name" TEXT NOT NULL PRIMARY KEY, "checksum" TEXT NOT NULL, "appliedAt" TEXT NOT NULL)`,
    );
    const readApplied = () =>
      new Map(
        (
          db.prepare(`SELECT "name", "checksum" FROM "${MIGRATIONS_TABLE}"`).all() as {
            name: string;
            checksum: string;
          }[]
        ).map((r) => [r.name, r.checksum]),
      );
    // Fast path: nothing to do, no write lock taken.
    if (pending(migrations, readApplied()).length === 0) return { applied };
    for (const migration of migrations) {
      db.exec("BEGIN IMMEDIATE"); // the write lock: a concurrent start waits here (busy_timeout)
      try {
        if (pending([migration], readApplied()).length === 1) {
          db.exec(migration.sql);
          const violations = db.prepare("PRAGMA foreign_key_check").all();
          if (violations.length > 0)
            throw new Error(
              `migration ${migration.name} breaks foreign keys: ${JSON.stringify(violations.slice(0, 5))}`,
            );
          db.prepare(`INSERT INTO "${MIGRATIONS_TABLE}" ("name", "checksum", "appliedAt") VALUES (?, ?, ?)`).run(
            migration.name,
            migration.checksum,
            new Date().toISOString(),
          );
          applied.push(migration.name);
        }
        db.exec("COMMIT");
      } catch (error) {
        db.exec("ROLLBACK");
        throw new Error(`SQLite migration ${migration.name} failed: ${(error as Error).message}`, { cause: error });
      }
    }
    return { applied };
  } finally {
    db.close();
  }
}

// ---- PostgreSQL (pg, one connection) ----

async function migratePostgres(url: string, migrations: Migration[]): Promise<MigrationResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const applied: string[] = [];
  const readApplied = async () => {
    const exists = await client.query<{ t: string | null }>("SELECT to_regclass($1) AS t", [`"${MIGRATIONS_TABLE}"`]);
    if (!exists.rows[0]?.t) return new Map<string, string>();
    const rows = await client.query<{ name: string; checksum: string }>(
      `SELECT "name", "checksum" FROM "${MIGRATIONS_TABLE}"`,
    );
    return new Map(rows.rows.map((r) => [r.name, r.checksum]));
  };
  try {
    // Fast path: nothing to do, no lock taken.
    if (pending(migrations, await readApplied()).length === 0) return { applied };
    // Held until unlocked or the connection ends: concurrent starts migrate one at a time.
    await client.query(`SELECT pg_advisory_lock(${PG_LOCK_KEY})`);
    try {
      await client.query(
        `CREATE TABLE IF NOT EXISTS "${MIGRATIONS_TABLE}" ("name" TEXT PRIMARY KEY, "checksum" TEXT NOT NULL, "appliedAt" TIMESTAMPTZ NOT NULL DEFAULT now())`,
      );
      for (const migration of pending(migrations, await readApplied())) {
        await client.query("BEGIN");
        try {
          await client.query(migration.sql); // simple query protocol: many statements at once
          await client.query(`INSERT INTO "${MIGRATIONS_TABLE}" ("name", "checksum") VALUES ($1, $2)`, [
            migration.name,
            migration.checksum,
          ]);
          await client.query("COMMIT");
          applied.push(migration.name);
        } catch (error) {
          await client.query("ROLLBACK").catch(() => {});
          throw new Error(`PostgreSQL migration ${migration.name} failed: ${(error as Error).message}`, {
            cause: error,
          });
        }
      }
    } finally {
      await client.query(`SELECT pg_advisory_unlock(${PG_LOCK_KEY})`).catch(() => {});
    }
    return { applied };
  } finally {
    await client.end().catch(() => {});
  }
}
