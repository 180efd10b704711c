// The database layer against both providers, with one suite: a SQLite file and a real
// PostgreSQL server (test/cluster/postgres.ts). Migrations, every model, the constraints the
// API relies on, and concurrent starts.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diffSql } from "../../api/prisma/cli.ts";
import {
  type Database,
  isUniqueViolation,
  loadMigrations,
  migrateDatabase,
  openDatabase,
  type Provider,
  parseDatabaseUrl,
} from "../../api/src/db/index.ts";
import { openSqlite } from "../../api/src/db/migrate.ts";
import { createDatabase, type Postgres, startPostgres } from "../cluster/postgres.ts";

type Backend = {
  /** URL of a new, empty database. */
  fresh(label: string): Promise<string>;
  /** Runs SQL (several statements) on the database at url. */
  exec(url: string, sql: string): Promise<void>;
  /** A normalized description of the tables, columns, indexes and constraints (not ours). */
  describe(url: string): Promise<unknown>;
  /** For the Prisma CLI: PostgreSQL's schema engine connects even to diff. */
  cliUrl?: string;
  stop(): Promise<void>;
};

let counter = 0;
const unique = (label: string) => `${label}_${process.pid}_${++counter}`;

async function sqliteBackend(): Promise<Backend> {
  const dir = mkdtempSync(join(tmpdir(), "atrium-db-test-"));
  const pathOf = (url: string) => (parseDatabaseUrl(url) as { path: string }).path;
  const withDb = <T>(url: string, f: (db: ReturnType<typeof openSqlite>) => T): T => {
    const db = openSqlite(pathOf(url));
    try {
      return f(db);
    } finally {
      db.close();
    }
  };
  return {
    fresh: async (label) => `file:${join(dir, `${unique(label)}.db`)}`,
    exec: async (url, sql) => withDb(url, (db) => db.exec(sql)),
    describe: async (url) =>
      withDb(url, (db) => {
        const all = (sql: string) => db.prepare(sql).all() as any[];
        const tables = all(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_atrium_migrations' ORDER BY name",
        ).map((t) => t.name as string);
        return tables.map((table) => ({
          table,
          columns: all(`PRAGMA table_info("${table}")`).map((c) => [c.name, c.type, c.notnull, c.dflt_value, c.pk]),
          indexes: all(`PRAGMA index_list("${table}")`)
            .map((i) => [i.name, i.unique, i.origin, all(`PRAGMA index_info("${i.name}")`).map((c) => c.name)])
            .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
          foreignKeys: all(`PRAGMA foreign_key_list("${table}")`)
            .map((f) => [f.table, f.from, f.to, f.on_update, f.on_delete])
            .sort((a, b) => String(a[1]).localeCompare(String(b[1]))),
        }));
      }),
    stop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function postgresBackend(): Promise<Backend> {
  const server: Postgres = await startPostgres();
  const withClient = async <T>(url: string, f: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return await f(client);
    } finally {
      await client.end();
    }
  };
  return {
    fresh: (label) => createDatabase(server.url, unique(label).toLowerCase()),
    exec: (url, sql) => withClient(url, async (c) => void (await c.query(sql))),
    describe: (url) =>
      withClient(url, async (c) => {
        const rows = async (sql: string) => (await c.query(sql)).rows;
        return {
          columns:
            await rows(`SELECT table_name, column_name, data_type, is_nullable, column_default, datetime_precision
            FROM information_schema.columns WHERE table_schema = current_schema() AND table_name <> '_atrium_migrations'
            ORDER BY table_name, column_name`),
          indexes: await rows(`SELECT tablename, indexname, indexdef FROM pg_indexes
            WHERE schemaname = current_schema() AND tablename <> '_atrium_migrations' ORDER BY tablename, indexname`),
          constraints: await rows(`SELECT conrelid::regclass::text AS "table", conname, pg_get_constraintdef(oid) AS def
            FROM pg_constraint WHERE connamespace = current_schema()::regnamespace
            AND conrelid::regclass::text NOT LIKE '%_atrium_migrations%' ORDER BY 1, 2`),
        };
      }),
    cliUrl: server.url,
    stop: () => server.stop(),
  };
}

const providers: { provider: Provider; start: () => Promise<Backend> }[] = [
  { provider: "sqlite", start: sqliteBackend },
  { provider: "postgresql", start: postgresBackend },
];

describe.each(providers)("database on $provider", ({ provider, start }) => {
  let backend: Backend;
  let db: Database; // one shared database for the model tests
  beforeAll(async () => {
    backend = await start();
    db = await openDatabase(await backend.fresh("models"));
  });
  afterAll(async () => {
    await db?.close();
    await backend?.stop();
  });

  it("applies the migrations to an empty database; a second open applies nothing", async () => {
    const url = await backend.fresh("migrate");
    const first = await openDatabase(url);
    expect(first.provider).toBe(provider);
    expect(await first.prisma.user.count()).toBe(0);
    const applied = await first.prisma.$queryRawUnsafe<{ name: string }[]>(
      'SELECT "name" FROM "_atrium_migrations" ORDER BY "name"',
    );
    expect(applied.map((r) => r.name)).toEqual(loadMigrations(provider).map((m) => m.name));
    await first.close();
    await first.close(); // idempotent

    const second = await openDatabase(url);
    expect(await second.prisma.user.count()).toBe(0);
    await second.close();
    expect(await migrateDatabase(url)).toEqual({ applied: [] });
  });

  it("gets from the committed migrations exactly the schema in schema.prisma", async () => {
    const migrated = await backend.fresh("drift_migrated");
    await migrateDatabase(migrated);
    const direct = await backend.fresh("drift_direct");
    await backend.exec(direct, await diffSql(provider, "empty", { cliUrl: backend.cliUrl }));
    const [want, got] = [await backend.describe(direct), await backend.describe(migrated)];
    expect(
      got,
      `api/prisma/${provider}/migrations do not produce api/prisma/${provider}/schema.prisma: add a migration (node api/prisma/new-migration.ts <name>)`,
    ).toEqual(want);
  });

  it("creates and reads every model", async () => {
    const p = db.prisma;
    const user = await p.user.create({ data: { email: "ada@example.com", name: "Ada" } });
    expect(user).toMatchObject({ email: "ada@example.com", name: "Ada", emailVerified: false, lastLoginAt: null });
    expect(user.id).toMatch(/^c[a-z0-9]{20,}$/);
    expect(user.createdAt).toBeInstanceOf(Date);
    const login = new Date("2030-01-02T03:04:05.678Z");
    await p.user.update({ where: { id: user.id }, data: { emailVerified: true, lastLoginAt: login } });
    expect(await p.user.findUnique({ where: { email: "ada@example.com" } })).toMatchObject({
      emailVerified: true,
      lastLoginAt: login,
    });

    await p.identity.create({ data: { issuer: "https://idp.example", subject: "sub-1", userId: user.id } });
    const expiresAt = new Date(Date.now() + 3_600_000);
    await p.session.create({
      data: { id: "a".repeat(64), userId: user.id, csrfToken: "csrf", expiresAt, ip: "127.0.0.1", userAgent: "vitest" },
    });
    const withRelations = await p.user.findUniqueOrThrow({
      where: { id: user.id },
      include: { identities: true, sessions: true },
    });
    expect(withRelations.identities).toMatchObject([{ issuer: "https://idp.example", subject: "sub-1" }]);
    expect(withRelations.sessions).toMatchObject([
      { id: "a".repeat(64), csrfToken: "csrf", expiresAt, ip: "127.0.0.1" },
    ]);
    expect(
      await p.identity.findUnique({ where: { issuer_subject: { issuer: "https://idp.example", subject: "sub-1" } } }),
    ).toMatchObject({ userId: user.id });

    const t0 = new Date("2030-01-01T00:00:00.000Z");
    for (const [i, type] of ["STANDARD", "AI_AGENT"].entries())
      await p.apiKey.create({
        data: {
          id: `ABCDEFGHIJK${i}`,
          org: "acme",
          name: `key ${i}`,
          type,
          prefix: `atr_sk_ab12c${i}…`,
          hashVersion: 1,
          hash: `hash-${i}`,
          scopes: JSON.stringify(["apps:read"]),
          createdBy: "ada@example.com",
          memberName: "ada",
          createdAt: new Date(t0.getTime() + i * 1000),
        },
      });
    const keys = await p.apiKey.findMany({ where: { org: "acme" }, orderBy: { createdAt: "desc" } });
    expect(keys.map((k) => k.id)).toEqual(["ABCDEFGHIJK1", "ABCDEFGHIJK0"]);
    expect(keys[1]).toMatchObject({ hashVersion: 1, lastUsedAt: null, expiresAt: null, revokedAt: null });
    expect(JSON.parse(keys[1]?.scopes ?? "")).toEqual(["apps:read"]);
    await p.apiKey.update({ where: { id: "ABCDEFGHIJK0" }, data: { revokedAt: t0, revokedBy: "bob@example.com" } });
    expect(await p.apiKey.count({ where: { org: "acme", revokedAt: null } })).toBe(1);

    const invitation = await p.invitation.create({
      data: {
        org: "acme",
        memberName: "bob",
        email: "bob@example.com",
        tokenHash: "tok-1",
        createdBy: "ada@example.com",
        expiresAt,
      },
    });
    expect(await p.invitation.findUnique({ where: { tokenHash: "tok-1" } })).toMatchObject({
      id: invitation.id,
      acceptedAt: null,
      revokedAt: null,
    });

    const before = Date.now();
    const event = await p.auditEvent.create({
      data: {
        org: "acme",
        actor: "ada@example.com",
        actorType: "user",
        action: "apikey.create",
        target: "ABCDEFGHIJK0",
        result: "success",
        status: 201,
        detail: JSON.stringify({ name: "key 0" }),
      },
    });
    expect(event.at.getTime()).toBeGreaterThanOrEqual(before - 1000);
    await p.auditEvent.create({ data: { actor: "system", actorType: "system", action: "boot", result: "success" } });
    const events = await p.auditEvent.findMany({ where: { org: "acme" }, orderBy: { at: "desc" } });
    expect(events).toMatchObject([{ id: event.id, status: 201, ip: null }]);
    expect(await p.auditEvent.findMany({ where: { org: null } })).toMatchObject([{ action: "boot", target: null }]);

    await p.pendingLogin.create({
      data: { id: "state-1", codeVerifier: "verifier", nonce: "nonce", returnTo: "/orgs/acme", expiresAt },
    });
    expect(await p.pendingLogin.delete({ where: { id: "state-1" } })).toMatchObject({ returnTo: "/orgs/acme" });
    expect(await p.pendingLogin.count()).toBe(0);
  });

  it("enforces the unique constraints", async () => {
    const p = db.prisma;
    const user = await p.user.create({ data: { email: "uniq@example.com", name: "U" } });
    const rejected = async (write: Promise<unknown>) => {
      const error = await write.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, "the write should have failed").toBeDefined();
      expect(isUniqueViolation(error), String(error)).toBe(true);
    };
    await rejected(p.user.create({ data: { email: "uniq@example.com", name: "again" } }));
    await p.identity.create({ data: { issuer: "https://idp.example", subject: "dup", userId: user.id } });
    await rejected(p.identity.create({ data: { issuer: "https://idp.example", subject: "dup", userId: user.id } }));
    // The same subject at another issuer is another identity.
    await p.identity.create({ data: { issuer: "https://other.example", subject: "dup", userId: user.id } });
    const invitation = {
      org: "acme",
      memberName: "carol",
      email: "carol@example.com",
      tokenHash: "dup-token",
      createdBy: "uniq@example.com",
      expiresAt: new Date(Date.now() + 60_000),
    };
    await p.invitation.create({ data: invitation });
    await rejected(p.invitation.create({ data: { ...invitation, memberName: "dave" } }));
    await rejected(
      p.session
        .create({
          data: { id: "s".repeat(64), userId: user.id, csrfToken: "x", expiresAt: new Date() },
        })
        .then(() =>
          p.session.create({ data: { id: "s".repeat(64), userId: user.id, csrfToken: "y", expiresAt: new Date() } }),
        ),
    );
  });

  it("deletes a user's sessions and identities with the user", async () => {
    const p = db.prisma;
    const user = await p.user.create({ data: { email: "gone@example.com", name: "Gone" } });
    const other = await p.user.create({ data: { email: "stays@example.com", name: "Stays" } });
    for (const [i, u] of [user, user, other].entries()) {
      await p.identity.create({ data: { issuer: "https://idp.example", subject: `cascade-${i}`, userId: u.id } });
      await p.session.create({
        data: { id: `cascade-${i}`, userId: u.id, csrfToken: "c", expiresAt: new Date(Date.now() + 60_000) },
      });
    }
    await p.user.delete({ where: { id: user.id } });
    expect(await p.session.count({ where: { userId: user.id } })).toBe(0);
    expect(await p.identity.count({ where: { userId: user.id } })).toBe(0);
    expect(await p.session.count({ where: { userId: other.id } })).toBe(1);
    expect(await p.identity.count({ where: { userId: other.id } })).toBe(1);
    // And a session cannot point at a missing user.
    await expect(
      p.session.create({ data: { id: "orphan", userId: user.id, csrfToken: "c", expiresAt: new Date() } }),
    ).rejects.toThrow();
  });

  it("lets concurrent starts on one new database all succeed, migrating once", async () => {
    const url = await backend.fresh("concurrent");
    const dbs = await Promise.all(Array.from({ length: 4 }, () => openDatabase(url)));
    try {
      await dbs[0]?.prisma.user.create({ data: { email: "c@example.com", name: "C" } });
      for (const d of dbs) expect(await d.prisma.user.count()).toBe(1);
      const rows = await dbs[1]?.prisma.$queryRawUnsafe<{ n: unknown }[]>(
        'SELECT COUNT(*) AS "n" FROM "_atrium_migrations"',
      );
      expect(Number(rows?.[0]?.n)).toBe(loadMigrations(provider).length);
    } finally {
      await Promise.all(dbs.map((d) => d.close()));
    }
  });
});
