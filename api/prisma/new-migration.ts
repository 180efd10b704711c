// Writes the next migration for both providers from the change to the schemas since a git
// revision (default HEAD): node api/prisma/new-migration.ts <name> [<git-ref>]
// Edit BOTH schema.prisma files first (their models must stay identical). The integration
// test test/integration/db.test.ts checks that the migrations produce exactly the schemas.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { startPostgres } from "../../test/cluster/postgres.ts";
import { diffSql, migrationsDir, PRISMA_DIR, PROVIDERS, type Provider } from "./cli.ts";

const [name, ref = "HEAD"] = process.argv.slice(2);
if (!name || !/^[a-z][a-z0-9_]*$/.test(name)) {
  console.error("usage: node api/prisma/new-migration.ts <name: lowercase, digits, _> [<git-ref>]");
  process.exit(2);
}

const existing = PROVIDERS.map((p) => readdirSync(migrationsDir(p)).filter((n) => /^\d{4}_/.test(n)));
if (existing[0]?.join() !== existing[1]?.join())
  throw new Error("the providers' migration folders differ; fix that first");
const next = Math.max(0, ...(existing[0] ?? []).map((n) => Number(n.slice(0, 4)))) + 1;
const folder = `${String(next).padStart(4, "0")}_${name}`;

const repo = join(PRISMA_DIR, "../..");
// The diff starts from the schema at `ref`, so every migration must already be in `ref`.
for (const provider of PROVIDERS)
  for (const existingName of existing[0] ?? []) {
    const path = relative(repo, join(migrationsDir(provider), existingName, "migration.sql"));
    try {
      execFileSync("git", ["cat-file", "-e", `${ref}:${path}`], { cwd: repo, stdio: "ignore" });
    } catch {
      console.error(`${path} is not in ${ref}: commit it first (the new migration is the change since ${ref})`);
      process.exit(1);
    }
  }
const tmp = mkdtempSync(join(tmpdir(), "atrium-migration-"));
const postgres = await startPostgres(); // PostgreSQL's schema engine connects even to diff
try {
  const written: string[] = [];
  for (const provider of PROVIDERS as Provider[]) {
    const base = join(tmp, `${provider}.prisma`);
    const path = relative(repo, join(PRISMA_DIR, provider, "schema.prisma"));
    writeFileSync(base, execFileSync("git", ["show", `${ref}:${path}`], { cwd: repo, encoding: "utf8" }));
    const sql = await diffSql(provider, base, { cliUrl: provider === "postgresql" ? postgres.url : undefined });
    if (!/^\s*(CREATE|ALTER|DROP|INSERT|UPDATE|DELETE|PRAGMA)\b/im.test(sql)) {
      console.log(`${provider}: no change since ${ref}`);
      continue;
    }
    const dir = join(migrationsDir(provider), folder);
    if (existsSync(dir)) throw new Error(`${dir} exists`);
    mkdirSync(dir);
    writeFileSync(join(dir, "migration.sql"), sql);
    written.push(relative(repo, join(dir, "migration.sql")));
  }
  if (written.length === 1) console.warn("only one provider changed: are both schemas edited alike?");
  for (const file of written) console.log(`wrote ${file}: review it, then run the db tests`);
} finally {
  await postgres.stop();
  rmSync(tmp, { recursive: true, force: true });
}
