-- CreateTable
CREATE TABLE "UsageAppHour" (
    "org" TEXT NOT NULL,
    "app" TEXT NOT NULL,
    "hour" TIMESTAMP(3) NOT NULL,
    "requests" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "errors5xx" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "wakes" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "runningSeconds" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "stoppedIdleSeconds" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "stoppedIdleCpuCoreSeconds" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "stoppedIdleGibSeconds" DOUBLE PRECISION NOT NULL DEFAULT 0,

    CONSTRAINT "UsageAppHour_pkey" PRIMARY KEY ("org","app","hour")
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
