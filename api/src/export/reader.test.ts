import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { csvRow } from "../billing/csv.ts";
import type { Database } from "../db/index.ts";
import { AUDIT_LINE_SQL, type AuditRow, auditCells, auditCsvPages, type CsvPage } from "./reader.ts";

type Db = {
  exec(sql: string): void;
  prepare(sql: string): { run(...p: unknown[]): void; raw(on: boolean): { all(): unknown[][] } };
  close(): void;
};
const BetterSqlite3 = createRequire(import.meta.url)("better-sqlite3") as new (path: string) => Db;

const TRICKY = [
  "plain",
  '=HYPERLINK("http://evil")',
  "+1",
  "-2",
  "@cmd",
  "\tindent",
  "\rreturn",
  'say "hi"',
  "a,b",
  "line\nbreak",
  "=a,b",
  "",
  "élan ✓",
];

describe("the audit log's CSV line written by SQLite", () => {
  it("is byte for byte what csvRow writes, formula injection escaped, for every kind of cell", () => {
    const db = new BetterSqlite3(":memory:");
    try {
      db.exec(
        `CREATE TABLE "AuditEvent" ("id" TEXT, "at" DATETIME, "org" TEXT, "actor" TEXT, "actorType" TEXT, "action" TEXT, "target" TEXT, "result" TEXT, "status" INTEGER, "ip" TEXT, "detail" TEXT)`,
      );
      const insert = db.prepare(`INSERT INTO "AuditEvent" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
      const rows: AuditRow[] = TRICKY.map((t, i) => ({
        id: `e${String(i).padStart(3, "0")}`,
        at: new Date(Date.UTC(2026, 0, 1, 0, 0, i, 7)),
        org: i % 3 ? "acme" : null,
        actor: t,
        actorType: "user",
        action: `x.${t}`,
        target: i % 2 ? t : null,
        result: "success",
        status: i % 4 ? 200 + i : null,
        ip: i % 5 ? "10.0.0.1" : null,
        detail: i % 2 ? JSON.stringify({ note: t }) : null,
      }));
      for (const r of rows)
        insert.run(
          r.id,
          // How Prisma stores a DateTime in SQLite.
          r.at.toISOString().replace("Z", "+00:00"),
          r.org,
          r.actor,
          r.actorType,
          r.action,
          r.target,
          r.result,
          r.status,
          r.ip,
          r.detail,
        );
      const lines = db
        .prepare(`SELECT ${AUDIT_LINE_SQL} FROM "AuditEvent" ORDER BY "id"`)
        .raw(true)
        .all()
        .map((r) => r[0]);
      expect(lines).toEqual(rows.map((r) => csvRow(auditCells(r))));
      expect(lines[1]).toBe(
        `2026-01-01T00:00:01.007Z,acme,"'=HYPERLINK(""http://evil"")",user,"x.=HYPERLINK(""http://evil"")","'=HYPERLINK(""http://evil"")",success,201,10.0.0.1,"{""note"":""=HYPERLINK(\\""http://evil\\"")""}"`,
      );
    } finally {
      db.close();
    }
  });
});

describe("auditCsvPages on SQLite (a worker thread with its own connection)", () => {
  const dir = mkdtempSync(join(tmpdir(), "atrium-audit-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const sqlite = { provider: "sqlite" } as Database;

  /** A file with `n` entries of org acme (and one of another org), in WAL mode as the API keeps it. */
  function fixture(name: string, n: number): string {
    const path = join(dir, name);
    const db = new BetterSqlite3(path);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec(
      `CREATE TABLE "AuditEvent" ("id" TEXT, "at" DATETIME, "org" TEXT, "actor" TEXT, "actorType" TEXT, "action" TEXT, "target" TEXT, "result" TEXT, "status" INTEGER, "ip" TEXT, "detail" TEXT)`,
    );
    const insert = db.prepare(
      `INSERT INTO "AuditEvent" VALUES (?, ?, ?, 'ann@acme.test', 'user', 'x', NULL, 'success', 200, NULL, NULL)`,
    );
    // Two entries a millisecond, so pages end inside a run of equal timestamps (the id settles them).
    for (let i = 0; i < n; i++)
      insert.run(
        `e${String(i).padStart(6, "0")}`,
        new Date(Date.UTC(2026, 0, 1) + (i >> 1)).toISOString().replace("Z", "+00:00"),
        "acme",
      );
    insert.run("other", "2026-01-01T00:00:00.000+00:00", "globex");
    db.close();
    return path;
  }

  it("reads every entry of the scope once, in order, a page at a time", async () => {
    const path = fixture("pages.db", 2501);
    const pages: CsvPage[] = [];
    for await (const page of auditCsvPages(sqlite, path, { org: "acme" }, 1000)) pages.push(page);
    expect(pages.map((p) => p.count)).toEqual([1000, 1000, 501]);
    const lines = pages.flatMap((p) => Buffer.from(p.text).toString("utf8").split("\r\n").slice(0, -1));
    expect(lines).toHaveLength(2501);
    expect(lines[0]).toBe("2026-01-01T00:00:00.000Z,acme,ann@acme.test,user,x,,success,200,,");
    expect(lines.at(-1)).toMatch(/^2026-01-01T00:00:01\.250Z,acme,/);
  });

  it("fails with the worker's error when a page cannot be read mid-way", async () => {
    const path = fixture("broken.db", 10_000);
    const read = async () => {
      let pages = 0;
      for await (const _ of auditCsvPages(sqlite, path, { org: "acme" }, 1000))
        if (++pages === 1) {
          // The table goes away under the reader (what a corrupt or replaced file looks like).
          const db = new BetterSqlite3(path);
          db.exec(`DROP TABLE "AuditEvent"`);
          db.close();
        }
      return pages;
    };
    await expect(read()).rejects.toThrow(/AuditEvent|schema/);
  });

  it("fails when the file is not there, rather than creating it", async () => {
    const pages = auditCsvPages(sqlite, join(dir, "missing.db"), { org: "acme" }, 1000);
    await expect(pages.next()).rejects.toThrow(/missing\.db|unable to open|does not exist/);
  });

  it("stops the worker when the archive stops reading (a cancelled export)", async () => {
    const path = fixture("early.db", 5000);
    const pages = auditCsvPages(sqlite, path, { org: "acme" }, 1000);
    expect((await pages.next()).value?.count).toBe(1000);
    await pages.return(undefined);
    // The connection is closed with the worker: the file can be written exclusively again.
    const db = new BetterSqlite3(path);
    db.exec("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT");
    db.close();
  });
});
