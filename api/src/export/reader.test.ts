import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { csvRow } from "../billing/csv.ts";
import { plainLine } from "./audit-line.ts";
import {
  AUDIT_HEADER,
  AUDIT_LINE_SQL,
  type AuditRow,
  type AuditScope,
  auditCells,
  auditPlan,
  USAGE_HEADER,
  usagePlan,
} from "./reader.ts";
import { openStore, type TablePlan } from "./tables.ts";

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

describe("plainLine: the worker's fast path", () => {
  it("takes a plain entry as SQLite concatenated it, `at` with Z, detail escaped", () => {
    expect(
      plainLine("2026-01-01T00:00:00.007+00:00,acme,ann@acme.test,user,x.y,,success,200,10.0.0.1", '{"a":1}'),
    ).toBe('2026-01-01T00:00:00.007Z,acme,ann@acme.test,user,x.y,,success,200,10.0.0.1,"{""a"":1}"');
  });

  it("leaves to SQLite every entry with a cell to quote or escape, or an unusual instant", () => {
    const plain = ["2026-01-01T00:00:00.007+00:00", "acme", "ann", "user", "x", "", "success", "200", "10.0.0.1"];
    expect(plainLine(plain.join(","), null)).toBeDefined();
    for (const [i, cell] of [
      [2, "a,b"],
      [2, 'say "hi"'],
      [2, "line\nbreak"],
      [3, "\rreturn"],
      [4, "=cmd"],
      [5, "+1"],
      [6, "-2"],
      [7, "@x"],
      [8, "\tindent"],
      [0, "2026-01-01T00:00:00.007Z"],
      [0, "1767225600007"],
    ] as const) {
      const cells = [...plain];
      cells[i] = cell;
      expect({ cell, line: plainLine(cells.join(","), null) }).toEqual({ cell, line: undefined });
    }
    expect(plainLine(null, null)).toBeUndefined();
  });
});

describe("the export worker's table pages on SQLite (its own connection, tables.ts)", () => {
  const dir = mkdtempSync(join(tmpdir(), "atrium-audit-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const HEADER = `${csvRow(AUDIT_HEADER)}\r\n`;

  function table(path: string): Db {
    const db = new BetterSqlite3(path);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec(
      `CREATE TABLE "AuditEvent" ("id" TEXT, "at" DATETIME, "org" TEXT, "actor" TEXT, "actorType" TEXT, "action" TEXT, "target" TEXT, "result" TEXT, "status" INTEGER, "ip" TEXT, "detail" TEXT)`,
    );
    return db;
  }

  /** A file with `n` entries of org acme (and one of another org), in WAL mode as the API keeps it. */
  function fixture(name: string, n: number): string {
    const path = join(dir, name);
    const db = table(path);
    const insert = db.prepare(
      `INSERT INTO "AuditEvent" VALUES (?, ?, ?, 'ann@acme.test', 'user', 'x', ?, 'success', 200, NULL, NULL)`,
    );
    // Two entries a millisecond, so pages end inside a run of equal timestamps (the id settles them).
    for (let i = 0; i < n; i++)
      insert.run(
        `e${String(i).padStart(6, "0")}`,
        new Date(Date.UTC(2026, 0, 1) + (i >> 1)).toISOString().replace("Z", "+00:00"),
        "acme",
        // Little to compress, so zlib hands out bytes page after page.
        createHash("sha256").update(String(i)).digest("hex"),
      );
    insert.run("other", "2026-01-01T00:00:00.000+00:00", "globex", null);
    db.close();
    return path;
  }

  const sqlite = (path: string) => openStore({ provider: "sqlite", path, timeoutMs: 1000 });

  /** Reads the plan's table to its end: the CSV (header included), the records counted, the pages. */
  async function readPlan(path: string, plan: TablePlan) {
    const store = await sqlite(path);
    try {
      let text = plan.header;
      let records = 0;
      let pages = 0;
      for await (const page of store.pages(plan)) {
        text += page.text;
        records += page.records;
        pages++;
      }
      return { text, records, pages, count: await store.count(plan) };
    } finally {
      await store.close();
    }
  }
  const readAll = (path: string, scope: AuditScope, limit: number) => readPlan(path, auditPlan(scope, limit));

  it("writes the whole file, every line byte for byte what csvRow writes, and counts it", async () => {
    const path = join(dir, "tricky.db");
    const db = table(path);
    const insert = db.prepare(`INSERT INTO "AuditEvent" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    // Plain entries around tricky ones, over several pages: both of the worker's paths, in order.
    const rows: AuditRow[] = Array.from({ length: 3000 }, (_, i) => {
      const t = i % 100 === 7 ? (TRICKY[Math.floor(i / 100) % TRICKY.length] as string) : `user${i}@acme.test`;
      return {
        id: `e${String(i).padStart(5, "0")}`,
        at: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, i >> 1)),
        org: "acme",
        actor: t,
        actorType: "user",
        action: i % 3 ? "apps.install" : `x.${t}`,
        target: i % 2 ? t : null,
        result: "success",
        status: i % 4 ? 200 + (i % 7) : null,
        ip: i % 5 ? "10.0.0.1" : null,
        detail: i % 2 ? JSON.stringify({ note: t }) : null,
      };
    });
    for (const r of rows)
      insert.run(
        r.id,
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
    db.close();
    const { text, records, count } = await readAll(path, { org: "acme" }, 1000);
    const expected = HEADER + rows.map((r) => `${csvRow(auditCells(r))}\r\n`).join("");
    expect(text).toBe(expected);
    expect(records).toBe(3000);
    expect(count).toBe(3000);
  });

  it("puts the entries of one instant in id order whatever order they were written in, across pages and in an instant larger than a page", async () => {
    const path = join(dir, "instants.db");
    const db = table(path);
    const insert = db.prepare(
      `INSERT INTO "AuditEvent" VALUES (?, ?, 'acme', ?, 'user', 'x', NULL, 'success', 200, NULL, NULL)`,
    );
    // Instants of 1 to 4 entries, one of 9 (more than a page of 4), each written in reverse id
    // order, so the index's order (at, then rowid) is not the file's (at, then id).
    const sizes = [1, 3, 2, 4, 1, 9, 2, 1, 4, 3, 1, 2, 5, 1];
    const rows: { id: string; at: string; actor: string }[] = [];
    db.exec("BEGIN");
    for (const [t, size] of sizes.entries())
      for (let k = size - 1; k >= 0; k--) {
        const row = {
          id: `e${String(t).padStart(2, "0")}-${k}`,
          at: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, t)).toISOString(),
          actor: `p${t}.${k}@acme.test`,
        };
        insert.run(row.id, row.at.replace("Z", "+00:00"), row.actor);
        rows.push(row);
      }
    db.exec("COMMIT");
    db.close();
    const { text, records } = await readAll(path, { org: "acme" }, 4);
    rows.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.id < b.id ? -1 : 1));
    const expected = HEADER + rows.map((r) => `${r.at},acme,${r.actor},user,x,,success,200,,\r\n`).join("");
    expect(text).toBe(expected);
    expect(records).toBe(39);
  });

  it("writes usage.csv the same way: the table's key order, cells escaped, values as JavaScript writes numbers", async () => {
    const path = join(dir, "usage.db");
    const db = new BetterSqlite3(path);
    db.exec(`CREATE TABLE "UsageDay" ("org" TEXT, "app" TEXT, "metric" TEXT, "day" DATETIME, "value" REAL)`);
    const insert = db.prepare(`INSERT INTO "UsageDay" VALUES (?, ?, ?, ?, ?)`);
    const values = [0, 42, 0.1 + 0.2, 1e21, 3600.5, -1];
    const rows: [string, string, string, number][] = [];
    // One transaction: 241 commits (an fsync each) took seconds on a busy machine.
    db.exec("BEGIN");
    for (const [a, app] of ["web", "=evil", "a,b"].entries())
      for (const metric of ["requests", "running_seconds"])
        for (let d = 0; d < 40; d++) {
          const day = new Date(Date.UTC(2026, 0, 1) + d * 86_400_000).toISOString();
          const value = values[(a + d) % values.length] as number;
          insert.run("acme", app, metric, day.replace("Z", "+00:00"), value);
          rows.push([day.slice(0, 10), app, metric, value]);
        }
    insert.run("globex", "web", "requests", "2026-01-01T00:00:00.000+00:00", 7);
    db.exec("COMMIT");
    db.close();
    const { text, records } = await readPlan(path, usagePlan("acme", 50));
    // The primary key's order: app, metric, day.
    rows.sort((x, y) => (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : x[2] < y[2] ? -1 : x[2] > y[2] ? 1 : 0));
    const expected = `${csvRow(USAGE_HEADER)}\r\n${rows.map((r) => `${csvRow(r)}\r\n`).join("")}`;
    expect(text).toBe(expected);
    expect(text).toContain(`2026-01-01,"a,b",requests,0.30000000000000004\r\n`);
    expect(text).toContain(`,'=evil,`);
    expect(records).toBe(240);
  });

  it("reads every entry of the scope once, in order, a page at a time", async () => {
    const path = fixture("pages.db", 2501);
    const { text, records, pages } = await readAll(path, { org: "acme" }, 1000);
    const lines = text.split("\r\n").slice(1, -1);
    expect(records).toBe(2501);
    expect(pages).toBe(3);
    expect(lines).toHaveLength(2501);
    expect(lines[0]).toMatch(/^2026-01-01T00:00:00\.000Z,acme,ann@acme\.test,user,x,[0-9a-f]{64},success,200,,$/);
    expect(lines.at(-1)).toMatch(/^2026-01-01T00:00:01\.250Z,acme,/);
    expect(new Set(lines).size).toBe(2501);
  });

  it("fails when a page cannot be read mid-way", async () => {
    const path = fixture("broken.db", 10_000);
    const store = await sqlite(path);
    const read = async () => {
      let pages = 0;
      for await (const _ of store.pages(auditPlan({ org: "acme" }, 1000)))
        if (++pages === 1) {
          // The table goes away under the reader (what a corrupt or replaced file looks like).
          const db = new BetterSqlite3(path);
          db.exec(`DROP TABLE "AuditEvent"`);
          db.close();
        }
      return pages;
    };
    try {
      await expect(read()).rejects.toThrow(/AuditEvent|schema/);
    } finally {
      await store.close();
    }
  });

  it("fails when the file is not there, rather than creating it", async () => {
    await expect(sqlite(join(dir, "missing.db"))).rejects.toThrow(/missing\.db|unable to open|does not exist/);
  });
});
