-- CreateTable
CREATE TABLE "UsageAppHour" (
    "org" TEXT NOT NULL,
    "app" TEXT NOT NULL,
    "hour" DATETIME NOT NULL,
    "requests" REAL NOT NULL DEFAULT 0,
    "errors5xx" REAL NOT NULL DEFAULT 0,
    "wakes" REAL NOT NULL DEFAULT 0,
    "runningSeconds" REAL NOT NULL DEFAULT 0,
    "stoppedIdleSeconds" REAL NOT NULL DEFAULT 0,
    "stoppedIdleCpuCoreSeconds" REAL NOT NULL DEFAULT 0,
    "stoppedIdleGibSeconds" REAL NOT NULL DEFAULT 0,

    PRIMARY KEY ("org", "app", "hour")
);

-- CreateIndex
CREATE INDEX "UsageAppHour_hour_idx" ON "UsageAppHour"("hour");

-- Moves the apps' hourly rows into UsageAppHour, one row per app and hour (ADR 0022). The
-- organization's own rows (app = "") and any metric not named here stay in UsageHour.
INSERT INTO "UsageAppHour" ("org", "app", "hour", "requests", "errors5xx", "wakes", "runningSeconds", "stoppedIdleSeconds", "stoppedIdleCpuCoreSeconds", "stoppedIdleGibSeconds")
SELECT "org", "app", "hour",
    SUM(CASE WHEN "metric" = 'requests' THEN "value" ELSE 0.0 END),
    SUM(CASE WHEN "metric" = 'errors_5xx' THEN "value" ELSE 0.0 END),
    SUM(CASE WHEN "metric" = 'wakes' THEN "value" ELSE 0.0 END),
    SUM(CASE WHEN "metric" = 'running_seconds' THEN "value" ELSE 0.0 END),
    SUM(CASE WHEN "metric" = 'stopped_idle_seconds' THEN "value" ELSE 0.0 END),
    SUM(CASE WHEN "metric" = 'stopped_idle_cpu_core_seconds' THEN "value" ELSE 0.0 END),
    SUM(CASE WHEN "metric" = 'stopped_idle_gib_seconds' THEN "value" ELSE 0.0 END)
FROM "UsageHour"
WHERE "app" <> '' AND "metric" IN ('requests', 'errors_5xx', 'wakes', 'running_seconds', 'stopped_idle_seconds', 'stopped_idle_cpu_core_seconds', 'stopped_idle_gib_seconds')
GROUP BY "org", "app", "hour";

DELETE FROM "UsageHour"
WHERE "app" <> '' AND "metric" IN ('requests', 'errors_5xx', 'wakes', 'running_seconds', 'stopped_idle_seconds', 'stopped_idle_cpu_core_seconds', 'stopped_idle_gib_seconds');
