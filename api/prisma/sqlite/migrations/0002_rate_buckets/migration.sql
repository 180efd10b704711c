-- CreateTable
CREATE TABLE "RateBucket" (
    "key" TEXT NOT NULL PRIMARY KEY,
    "tat" REAL NOT NULL
);

-- CreateIndex
CREATE INDEX "RateBucket_tat_idx" ON "RateBucket"("tat");
