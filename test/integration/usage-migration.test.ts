// Migration 0005 (ADR 0022) on both providers: a database at 0004 with the apps' hourly usage as
// one UsageHour row per metric keeps every figure, now one UsageAppHour row per app and hour;
// the organization's own rows (app "") and a metric it does not know stay where they were.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadMigrations, migrateDatabase, openDatabase, type Provider } from "../../api/src/db/index.ts";
import { createDatabase, type Postgres, startPostgres } from "../cluster/postgres.ts";

const H1 = new Date("2026-11-30T10:00:00.000Z");
const H2 = new Date("2026-11-30T11:00:00.000Z");

const narrow = [
  { org: "o", app: "a", metric: "requests", hour: H1, value: 5 },
  { org: "o", app: "a", metric: "errors_5xx", hour: H1, value: 1 },
  { org: "o", app: "a", metric: "running_seconds", hour: H1, value: 3600 },
  { org: "o", app: "a", metric: "wakes", hour: H2, value: 1 },
  { org: "o", app: "a", metric: "stopped_idle_seconds", hour: H2, value: 1800 },
  { org: "o", app: "a", metric: "stopped_idle_cpu_core_seconds", hour: H2, value: 450 },
  { org: "o", app: "a", metric: "stopped_idle_gib_seconds", hour: H2, value: 900.5 },
  { org: "p", app: "b", metric: "requests", hour: H1, value: 2 },
  // Stay in UsageHour: the organization's own metric, and one the migration does not know.
  { org: "o", app: "", metric: "api_calls:session:2xx", hour: H1, value: 7 },
  { org: "o", app: "a", metric: "someday_metric", hour: H1, value: 3 },
];

describe.each(["sqlite", "postgresql"] as Provider[])("migration 0005_usage_app_hours on %s", (provider) => {
  let postgres: Postgres | undefined;
  let dir: string | undefined;
  let url: string;
  beforeAll(async () => {
    if (provider === "postgresql") {
      postgres = await startPostgres();
      url = await createDatabase(postgres.url, `usage_migration_${process.pid}`);
    } else {
      dir = mkdtempSync(join(tmpdir(), "atrium-usage-migration-"));
      url = `file:${join(dir, "atrium.db")}`;
    }
  }, 120_000);
  afterAll(async () => {
    await postgres?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("moves the apps' hourly rows into one row per app and hour, keeping every value", async () => {
    const all = loadMigrations(provider);
    const before = all.filter((m) => m.name < "0005");
    expect(all.map((m) => m.name)).toContain("0005_usage_app_hours");
    await migrateDatabase(url, { migrations: before });
    // UsageHour is the same table at 0004, so today's client writes the old rows.
    const old = await openDatabase(url, { migrate: false });
    try {
      await old.prisma.usageHour.createMany({ data: narrow });
    } finally {
      await old.close();
    }

    expect(await migrateDatabase(url, { migrations: all })).toEqual({
      applied: all.slice(before.length).map((m) => m.name),
    });
    const db = await openDatabase(url);
    try {
      const wide = await db.prisma.usageAppHour.findMany({
        orderBy: [{ org: "asc" }, { app: "asc" }, { hour: "asc" }],
      });
      expect(wide).toEqual([
        {
          org: "o",
          app: "a",
          hour: H1,
          requests: 5,
          errors5xx: 1,
          wakes: 0,
          runningSeconds: 3600,
          stoppedIdleSeconds: 0,
          stoppedIdleCpuCoreSeconds: 0,
          stoppedIdleGibSeconds: 0,
        },
        {
          org: "o",
          app: "a",
          hour: H2,
          requests: 0,
          errors5xx: 0,
          wakes: 1,
          runningSeconds: 0,
          stoppedIdleSeconds: 1800,
          stoppedIdleCpuCoreSeconds: 450,
          stoppedIdleGibSeconds: 900.5,
        },
        {
          org: "p",
          app: "b",
          hour: H1,
          requests: 2,
          errors5xx: 0,
          wakes: 0,
          runningSeconds: 0,
          stoppedIdleSeconds: 0,
          stoppedIdleCpuCoreSeconds: 0,
          stoppedIdleGibSeconds: 0,
        },
      ]);
      const left = await db.prisma.usageHour.findMany({ orderBy: { metric: "asc" } });
      expect(left.map((r) => [r.org, r.app, r.metric, r.hour, r.value])).toEqual([
        ["o", "", "api_calls:session:2xx", H1, 7],
        ["o", "a", "someday_metric", H1, 3],
      ]);
    } finally {
      await db.close();
    }
  });
});
