-- CreateTable
CREATE TABLE "AppTransition" (
    "id" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "org" TEXT NOT NULL,
    "app" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "cause" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "cpuMillis" INTEGER NOT NULL DEFAULT 0,
    "memoryBytes" DOUBLE PRECISION NOT NULL DEFAULT 0,

    CONSTRAINT "AppTransition_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "UsageBatch" (
    "id" TEXT NOT NULL,
    "receivedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "UsageBatch_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "UsageHour" (
    "org" TEXT NOT NULL,
    "app" TEXT NOT NULL,
    "metric" TEXT NOT NULL,
    "hour" TIMESTAMP(3) NOT NULL,
    "value" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "UsageHour_pkey" PRIMARY KEY ("org","app","metric","hour")
);

-- CreateTable
CREATE TABLE "UsageDay" (
    "org" TEXT NOT NULL,
    "app" TEXT NOT NULL,
    "metric" TEXT NOT NULL,
    "day" TIMESTAMP(3) NOT NULL,
    "value" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "UsageDay_pkey" PRIMARY KEY ("org","app","metric","day")
);

-- CreateTable
CREATE TABLE "ActiveMember" (
    "org" TEXT NOT NULL,
    "user" TEXT NOT NULL,
    "day" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ActiveMember_pkey" PRIMARY KEY ("org","user","day")
);

-- CreateTable
CREATE TABLE "OrgLogo" (
    "org" TEXT NOT NULL,
    "hash" TEXT NOT NULL,
    "contentType" TEXT NOT NULL,
    "bytes" BYTEA NOT NULL,
    "width" INTEGER NOT NULL,
    "height" INTEGER NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "updatedBy" TEXT NOT NULL,

    CONSTRAINT "OrgLogo_pkey" PRIMARY KEY ("org")
);

-- CreateTable
CREATE TABLE "Notification" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "org" TEXT,
    "event" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "body" TEXT NOT NULL,
    "link" TEXT,
    "inFeed" BOOLEAN NOT NULL DEFAULT true,
    "emailState" TEXT NOT NULL DEFAULT 'none',
    "emailedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "readAt" TIMESTAMP(3),

    CONSTRAINT "Notification_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "NotificationPreference" (
    "userId" TEXT NOT NULL,
    "org" TEXT NOT NULL,
    "event" TEXT NOT NULL,
    "channel" TEXT NOT NULL,
    "enabled" BOOLEAN NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "NotificationPreference_pkey" PRIMARY KEY ("userId","org","event","channel")
);

-- CreateTable
CREATE TABLE "ExportJob" (
    "id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "org" TEXT,
    "requestedBy" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "step" TEXT,
    "done" INTEGER NOT NULL DEFAULT 0,
    "total" INTEGER NOT NULL DEFAULT 0,
    "error" TEXT,
    "sizeBytes" DOUBLE PRECISION,
    "sha256" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),
    "expiresAt" TIMESTAMP(3),

    CONSTRAINT "ExportJob_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ExportChunk" (
    "jobId" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "bytes" BYTEA NOT NULL,

    CONSTRAINT "ExportChunk_pkey" PRIMARY KEY ("jobId","seq")
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

-- AddForeignKey
ALTER TABLE "ExportChunk" ADD CONSTRAINT "ExportChunk_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "ExportJob"("id") ON DELETE CASCADE ON UPDATE CASCADE;
