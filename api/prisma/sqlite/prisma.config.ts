// Prisma CLI configuration for the SQLite schema. Prisma's native engines cannot be downloaded
// offline, so the CLI runs its JavaScript/WebAssembly schema engine through a driver adapter.
// Used by `generate` (make deps) and `migrate diff` (new migrations, see ../README.md); the
// API applies the migrations itself (api/src/db/migrate.ts).
import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";
import { defineConfig } from "prisma/config";

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: "./schema.prisma",
  migrations: { path: "./migrations" },
  adapter: async () => new PrismaBetterSQLite3({ url: process.env.ATRIUM_PRISMA_CLI_URL ?? "file::memory:" }),
});
