// Runs the Prisma CLI (offline: its WebAssembly engines through the driver adapters set up in
// <provider>/prisma.config.ts) for one provider's schema.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export type Provider = "sqlite" | "postgresql";
export const PROVIDERS: readonly Provider[] = ["sqlite", "postgresql"];

/** This folder: api/prisma/. */
export const PRISMA_DIR = fileURLToPath(new URL(".", import.meta.url));
const PRISMA_BIN = createRequire(import.meta.url).resolve("prisma/build/index.js");
const run = promisify(execFile);

export const schemaPath = (provider: Provider) => join(PRISMA_DIR, provider, "schema.prisma");
export const migrationsDir = (provider: Provider) => join(PRISMA_DIR, provider, "migrations");

/**
 * `prisma <args> --config <provider>/prisma.config.ts`. `cliUrl` is the database the CLI's
 * adapter connects to (ATRIUM_PRISMA_CLI_URL): PostgreSQL's schema engine connects even for
 * `migrate diff`, so give it any reachable server there.
 */
export async function prisma(provider: Provider, args: string[], cliUrl?: string): Promise<string> {
  const config = join(PRISMA_DIR, provider, "prisma.config.ts");
  const env: NodeJS.ProcessEnv = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: "1", CHECKPOINT_DISABLE: "1" };
  if (cliUrl) env.ATRIUM_PRISMA_CLI_URL = cliUrl;
  try {
    const { stdout } = await run(process.execPath, [PRISMA_BIN, ...args, "--config", config], {
      env,
      maxBuffer: 16 << 20,
    });
    return stdout;
  } catch (error) {
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    throw new Error(`prisma ${args.join(" ")} (${provider}) failed:\n${stderr}${stdout}`, { cause: error });
  }
}

/**
 * The SQL that turns the schema `from` (a schema file, or "empty") into the schema `to`
 * (default: the provider's schema.prisma), as `prisma migrate diff --script` writes it.
 */
export async function diffSql(
  provider: Provider,
  from: string | "empty",
  options: { to?: string; cliUrl?: string } = {},
): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "atrium-diff-"));
  try {
    const out = join(dir, "migration.sql");
    const fromArgs = from === "empty" ? ["--from-empty"] : ["--from-schema-datamodel", from];
    await prisma(
      provider,
      [
        "migrate",
        "diff",
        ...fromArgs,
        "--to-schema-datamodel",
        options.to ?? schemaPath(provider),
        "--script",
        "-o",
        out,
      ],
      options.cliUrl,
    );
    return readFileSync(out, "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
