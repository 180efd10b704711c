// Database URLs: which provider a URL means and where it points. No I/O here.
import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export type Provider = "sqlite" | "postgresql";

export type DatabaseTarget =
  /** `path` is absolute. */
  { provider: "sqlite"; path: string } | { provider: "postgresql"; url: string };

/** The repository root (api/src/db is three levels down). */
const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** `ATRIUM_DATABASE_URL`, or a SQLite file in the repository's (git-ignored) .atrium folder. */
export function defaultDatabaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.ATRIUM_DATABASE_URL?.trim();
  if (fromEnv) return fromEnv;
  return `file:${resolve(REPO_ROOT, ".atrium", "atrium.db")}`;
}

/**
 * Understands `file:/abs/path.db`, `file:./rel.db` and `file:rel.db` (relative to `cwd`),
 * `file:///abs/path.db`, and `postgres://…` / `postgresql://…`. Query parameters on a file
 * URL (Prisma's `?connection_limit=1` and the like) are ignored. Errors never echo the URL,
 * which may carry a password.
 */
export function parseDatabaseUrl(url: string, cwd: string = process.cwd()): DatabaseTarget {
  const trimmed = url.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === "postgres" || scheme === "postgresql") {
    let parsed: URL;
    try {
      parsed = new URL(trimmed);
    } catch {
      throw new Error("malformed PostgreSQL database URL");
    }
    if (!parsed.hostname && !parsed.searchParams.get("host")) throw new Error("PostgreSQL database URL without a host");
    return { provider: "postgresql", url: trimmed };
  }
  if (scheme === "file") {
    let path: string;
    if (trimmed.startsWith("file://")) {
      try {
        path = fileURLToPath(trimmed.split("?")[0] as string);
      } catch {
        throw new Error("malformed file: database URL (file:///abs/path.db, file:/abs/path.db or file:./rel.db)");
      }
    } else {
      path = decodeURIComponent((trimmed.slice("file:".length).split("?")[0] as string).trim());
    }
    if (!path) throw new Error("file: database URL without a path");
    if (path === ":memory:" || path.startsWith(":memory:"))
      throw new Error("in-memory SQLite is not supported (each connection would see its own database): use a file");
    return { provider: "sqlite", path: isAbsolute(path) ? path : resolve(cwd, path) };
  }
  throw new Error(
    `unsupported database URL${scheme ? ` scheme "${scheme}:"` : ""}: use file:/path/to/atrium.db (SQLite) or postgresql://user@host/db`,
  );
}
