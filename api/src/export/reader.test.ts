import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { csvRow } from "../billing/csv.ts";
import { AUDIT_LINE_SQL, type AuditRow, auditCells } from "./reader.ts";

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
