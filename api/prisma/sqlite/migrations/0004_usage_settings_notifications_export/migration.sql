-- CreateTable
CREATE TABLE "AppTransition" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "key" TEXT NOT NULL,
    "org" TEXT NOT NULL,
    "app" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "cause" TEXT NOT NULL,
    "at" DATETIME NOT NULL,
    "cpuMillis" INTEGER NOT NULL DEFAULT 0,
    "memoryBytes" REAL NOT NULL DEFAULT 0
);

-- CreateTable
CREATE TABLE "UsageBatch" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "receivedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "UsageHour" (
    "org" TEXT NOT NULL,
    "app" TEXT NOT NULL,
    "metric" TEXT NOT NULL,
    "hour" DATETIME NOT NULL,
    "value" REAL NOT NULL,

    PRIMARY KEY ("org", "app", "metric", "hour")
);

-- CreateTable
CREATE TABLE "UsageDay" (
    "org" TEXT NOT NULL,
    "app" TEXT NOT NULL,
    "metric" TEXT NOT NULL,
    "day" DATETIME NOT NULL,
    "value" REAL NOT NULL,

    PRIMARY KEY ("org", "app", "metric", "day")
);

-- CreateTable
CREATE TABLE "ActiveMember" (
    "org" TEXT NOT NULL,
    "user" TEXT NOT NULL,
    "day" DATETIME NOT NULL,

    PRIMARY KEY ("org", "user", "day")
);

-- CreateTable
CREATE TABLE "OrgLogo" (
    "org" TEXT NOT NULL PRIMARY KEY,
    "hash" TEXT NOT NULL,
    "contentType" TEXT NOT NULL,
    "bytes" BLOB NOT NULL,
    "width" INTEGER NOT NULL,
    "height" INTEGER NOT NULL,
    "updatedAt" DATETIME NOT NULL,
    "updatedBy" TEXT NOT NULL
);

-- CreateTable
CREATE TABLE "Notification" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "userId" TEXT NOT NULL,
    "org" TEXT,
    "event" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "body" TEXT NOT NULL,
    "link" TEXT,
    "inFeed" BOOLEAN NOT NULL DEFAULT true,
    "emailState" TEXT NOT NULL DEFAULT 'none',
    "emailedAt" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "readAt" DATETIME
);

-- CreateTable
CREATE TABLE "NotificationPreference" (
    "userId" TEXT NOT NULL,
    "org" TEXT NOT NULL,
    "event" TEXT NOT NULL,
    "channel" TEXT NOT NULL,
    "enabled" BOOLEAN NOT NULL,
    "updatedAt" DATETIME NOT NULL,

    PRIMARY KEY ("userId", "org", "event", "channel")
);

-- CreateTable
CREATE TABLE "ExportJob" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "kind" TEXT NOT NULL,
    "org" TEXT,
    "requestedBy" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "step" TEXT,
    "done" INTEGER NOT NULL DEFAULT 0,
    "total" INTEGER NOT NULL DEFAULT 0,
    "error" TEXT,
    "sizeBytes" REAL,
    "sha256" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" DATETIME,
    "finishedAt" DATETIME,
    "expiresAt" DATETIME
);

-- CreateTable
CREATE TABLE "ExportChunk" (
    "jobId" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "bytes" BLOB NOT NULL,

    PRIMARY KEY ("jobId", "seq"),
    CONSTRAINT "ExportChunk_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "ExportJob" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE UNIQUE INDEX "AppTransition_key_key" ON "AppTransition"("key");

-- CreateIndex
CREATE INDEX "AppTransition_org_app_at_idx" ON "AppTransition"("org", "app", "at");

-- CreateIndex
CREATE INDEX "AppTransition_at_idx" ON "AppTransition"("at");

-- CreateIndex
CREATE INDEX "UsageBatch_receivedAt_idx" ON "UsageBatch"("receivedAt");

-- CreateIndex
CREATE INDEX "UsageHour_hour_idx" ON "UsageHour"("hour");

-- CreateIndex
CREATE INDEX "UsageDay_day_idx" ON "UsageDay"("day");

-- CreateIndex
CREATE INDEX "Notification_userId_createdAt_idx" ON "Notification"("userId", "createdAt");

-- CreateIndex
CREATE INDEX "Notification_emailState_createdAt_idx" ON "Notification"("emailState", "createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "Notification_userId_key_key" ON "Notification"("userId", "key");

-- CreateIndex
CREATE INDEX "ExportJob_org_createdAt_idx" ON "ExportJob"("org", "createdAt");

-- CreateIndex
CREATE INDEX "ExportJob_requestedBy_createdAt_idx" ON "ExportJob"("requestedBy", "createdAt");

-- CreateIndex
CREATE INDEX "ExportJob_state_idx" ON "ExportJob"("state");
