// The two providers' schemas and migrations must describe the same database.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadMigrations } from "./migrate.ts";

const PRISMA_DIR = fileURLToPath(new URL("../../prisma/", import.meta.url));
const MARKER = "// ---- Models:";
const read = (provider: string) => readFileSync(join(PRISMA_DIR, provider, "schema.prisma"), "utf8");

/** [header (generator and datasource), models] of a schema. */
function split(schema: string): [string, string] {
  const at = schema.indexOf(MARKER);
  expect(at, `the schema needs the line starting "${MARKER}"`).toBeGreaterThan(0);
  return [schema.slice(0, at), schema.slice(at)];
}

describe("schemas", () => {
  const sqlite = split(read("sqlite"));
  const postgresql = split(read("postgresql"));

  it("have identical models below the marker", () => {
    expect(postgresql[1]).toBe(sqlite[1]);
  });

  it("differ only in the provider-specific header", () => {
    const normalize = (header: string, provider: string) =>
      header
        .replaceAll(provider, "<provider>")
        .replace(/url\s*=\s*".*"/, 'url = "<url>"')
        .replace(/\s+/g, " ");
    expect(normalize(postgresql[0], "postgresql")).toBe(normalize(sqlite[0], "sqlite"));
  });

  it("declare each provider and generate a Node-type-stripping client into src/db/generated/<provider>", () => {
    for (const [provider, [header]] of [
      ["sqlite", sqlite],
      ["postgresql", postgresql],
    ] as const) {
      expect(header).toMatch(new RegExp(`provider\\s*=\\s*"${provider}"`));
      expect(header).toMatch(new RegExp(`output\\s*=\\s*"\\.\\./\\.\\./src/db/generated/${provider}"`));
      expect(header).toMatch(/provider\s*=\s*"prisma-client"/);
      expect(header).toMatch(/engineType\s*=\s*"client"/);
      expect(header).toMatch(/importFileExtension\s*=\s*"ts"/);
      expect(header).toMatch(/generatedFileExtension\s*=\s*"ts"/);
    }
  });

  it("use no Prisma enums (SQLite has none; values are strings)", () => {
    expect(sqlite[1]).not.toMatch(/^\s*enum\s/m);
  });
});

describe("migrations", () => {
  it("exist under the same names for both providers, numbered, each with a lock file", () => {
    const names = (provider: string) => loadMigrations(provider as "sqlite").map((m) => m.name);
    expect(names("sqlite").length).toBeGreaterThan(0);
    expect(names("postgresql")).toEqual(names("sqlite"));
    for (const name of names("sqlite")) expect(name).toMatch(/^\d{4}_[a-z0-9_]+$/);
    for (const provider of ["sqlite", "postgresql"]) {
      const lock = readFileSync(join(PRISMA_DIR, provider, "migrations", "migration_lock.toml"), "utf8");
      expect(lock).toMatch(new RegExp(`provider = "${provider}"`));
      const entries = readdirSync(join(PRISMA_DIR, provider, "migrations"));
      expect(entries.filter((e) => !/^\d{4}_/.test(e))).toEqual(["migration_lock.toml"]);
    }
  });
});
