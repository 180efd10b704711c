-- CreateTable
CREATE TABLE "Subscription" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "org" TEXT NOT NULL,
    "template" TEXT NOT NULL,
    "app" TEXT,
    "liveKey" TEXT,
    "planId" TEXT,
    "interval" TEXT,
    "amount" INTEGER,
    "currency" TEXT,
    "state" TEXT NOT NULL,
    "pausedReason" TEXT,
    "trialStart" DATETIME,
    "trialEnd" DATETIME,
    "currentPeriodStart" DATETIME,
    "currentPeriodEnd" DATETIME,
    "billingAnchor" DATETIME,
    "cancelAtPeriodEnd" BOOLEAN NOT NULL DEFAULT false,
    "pendingPlanId" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    "endedAt" DATETIME
);

-- CreateTable
CREATE TABLE "TrialGrant" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "org" TEXT NOT NULL,
    "template" TEXT NOT NULL,
    "app" TEXT NOT NULL,
    "grantedAt" DATETIME NOT NULL,
    "endsAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "Invoice" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "org" TEXT NOT NULL,
    "subscriptionId" TEXT,
    "key" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "currency" TEXT NOT NULL,
    "total" INTEGER NOT NULL,
    "issuedAt" DATETIME NOT NULL,
    "dueAt" DATETIME NOT NULL,
    "periodStart" DATETIME,
    "periodEnd" DATETIME,
    "paidAt" DATETIME,
    "paidBy" TEXT,
    CONSTRAINT "Invoice_subscriptionId_fkey" FOREIGN KEY ("subscriptionId") REFERENCES "Subscription" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "InvoiceLine" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "invoiceId" TEXT NOT NULL,
    "position" INTEGER NOT NULL,
    "description" TEXT NOT NULL,
    "quantity" INTEGER NOT NULL DEFAULT 1,
    "unitAmount" INTEGER NOT NULL,
    "amount" INTEGER NOT NULL,
    "periodStart" DATETIME,
    "periodEnd" DATETIME,
    CONSTRAINT "InvoiceLine_invoiceId_fkey" FOREIGN KEY ("invoiceId") REFERENCES "Invoice" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "BillingDetails" (
    "org" TEXT NOT NULL PRIMARY KEY,
    "contactName" TEXT NOT NULL,
    "email" TEXT NOT NULL,
    "addressLine1" TEXT NOT NULL,
    "addressLine2" TEXT,
    "city" TEXT NOT NULL,
    "postalCode" TEXT,
    "region" TEXT,
    "country" TEXT NOT NULL,
    "taxId" TEXT,
    "updatedAt" DATETIME NOT NULL,
    "updatedBy" TEXT NOT NULL
);

-- CreateTable
CREATE TABLE "Outbox" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "key" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "org" TEXT NOT NULL,
    "payload" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deliveredAt" DATETIME
);

-- CreateIndex
CREATE UNIQUE INDEX "Subscription_liveKey_key" ON "Subscription"("liveKey");

-- CreateIndex
CREATE INDEX "Subscription_org_app_idx" ON "Subscription"("org", "app");

-- CreateIndex
CREATE INDEX "Subscription_org_template_idx" ON "Subscription"("org", "template");

-- CreateIndex
CREATE INDEX "Subscription_state_trialEnd_idx" ON "Subscription"("state", "trialEnd");

-- CreateIndex
CREATE INDEX "Subscription_state_currentPeriodEnd_idx" ON "Subscription"("state", "currentPeriodEnd");

-- CreateIndex
CREATE UNIQUE INDEX "TrialGrant_org_template_key" ON "TrialGrant"("org", "template");

-- CreateIndex
CREATE UNIQUE INDEX "Invoice_key_key" ON "Invoice"("key");

-- CreateIndex
CREATE INDEX "Invoice_org_issuedAt_idx" ON "Invoice"("org", "issuedAt");

-- CreateIndex
CREATE INDEX "Invoice_status_dueAt_idx" ON "Invoice"("status", "dueAt");

-- CreateIndex
CREATE UNIQUE INDEX "InvoiceLine_invoiceId_position_key" ON "InvoiceLine"("invoiceId", "position");

-- CreateIndex
CREATE UNIQUE INDEX "Outbox_key_key" ON "Outbox"("key");

-- CreateIndex
CREATE INDEX "Outbox_deliveredAt_createdAt_idx" ON "Outbox"("deliveredAt", "createdAt");
