// Prisma CLI configuration for the PostgreSQL schema; see ../sqlite/prisma.config.ts. The
// adapter only connects for commands that touch a database (not `generate` or `migrate diff`).
import { PrismaPg } from "@prisma/adapter-pg";
import { defineConfig } from "prisma/config";

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: "./schema.prisma",
  migrations: { path: "./migrations" },
  adapter: async () =>
    new PrismaPg({
      connectionString: process.env.ATRIUM_PRISMA_CLI_URL ?? "postgresql://localhost/atrium",
      // The CLI never closes the pool: without this it waits out the idle timeout (10 s) at exit.
      allowExitOnIdle: true,
    }),
});
