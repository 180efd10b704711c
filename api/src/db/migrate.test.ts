// Migrating SQLite files (no server needed); PostgreSQL is covered by test/integration/db.test.ts.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "./index.ts";
import { loadMigrations, type Migration, migrateDatabase, openSqlite } from "./migrate.ts";

const dir = mkdtempSync(join(tmpdir(), "atrium-migrate-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshUrl = () => `file:${join(dir, `${++n}`, "atrium.db")}`;
const migration = (name: string, sql: string): Migration => ({ name, sql, checksum: `sum-${sql.length}-${sql}` });

describe("migrateDatabase on SQLite", () => {
  it("applies every committed migration to a new file (creating its folder), then nothing", async () => {
    const url = freshUrl();
    const names = loadMigrations("sqlite").map((m) => m.name);
    expect(await migrateDatabase(url)).toEqual({ applied: names });
    expect(await migrateDatabase(url)).toEqual({ applied: [] });
    const db = openSqlite(url.slice("file:".length));
    try {
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all();
      expect(tables.map((t) => (t as { name: string }).name)).toEqual(
        expect.arrayContaining(["User", "Session", "Identity", "ApiKey", "Invitation", "AuditEvent", "PendingLogin"]),
      );
    } finally {
      db.close();
    }
  });

  it("applies only the new ones, in order", async () => {
    const url = freshUrl();
    const one = migration("0001_a", 'CREATE TABLE "A" ("id" TEXT PRIMARY KEY);');
    const two = migration("0002_b", 'CREATE TABLE "B" ("id" TEXT PRIMARY KEY);');
    expect(await migrateDatabase(url, { migrations: [one] })).toEqual({ applied: ["0001_a"] });
    expect(await migrateDatabase(url, { migrations: [one, two] })).toEqual({ applied: ["0002_b"] });
  });

  it("rolls a failing migration back entirely", async () => {
    const url = freshUrl();
    const bad = migration("0001_bad", 'CREATE TABLE "A" ("id" TEXT PRIMARY KEY); CREATE TABLE "A" ("id" TEXT);');
    await expect(migrateDatabase(url, { migrations: [bad] })).rejects.toThrow(/0001_bad failed.*already exists/);
    const good = migration("0001_good", 'CREATE TABLE "A" ("id" TEXT PRIMARY KEY);');
    expect(await migrateDatabase(url, { migrations: [good] })).toEqual({ applied: ["0001_good"] });
  });

  it("refuses a migration changed after it was applied", async () => {
    const url = freshUrl();
    await migrateDatabase(url, { migrations: [migration("0001_a", 'CREATE TABLE "A" ("id" TEXT);')] });
    await expect(
      migrateDatabase(url, { migrations: [migration("0001_a", 'CREATE TABLE "A" ("id" TEXT, "x" TEXT);')] }),
    ).rejects.toThrow(/0001_a was changed after it was applied/);
  });

  it("lets concurrent opens of one new file both succeed", async () => {
    const url = freshUrl();
    const dbs = await Promise.all([openDatabase(url), openDatabase(url), openDatabase(url)]);
    try {
      expect(dbs.map((d) => d.provider)).toEqual(["sqlite", "sqlite", "sqlite"]);
      await dbs[0]?.prisma.user.create({ data: { email: "a@example.com", name: "A" } });
      expect(await dbs[2]?.prisma.user.count()).toBe(1);
    } finally {
      await Promise.all(dbs.map((d) => d.close()));
    }
  });
});
