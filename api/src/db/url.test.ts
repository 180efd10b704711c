import { describe, expect, it } from "vitest";
import { defaultDatabaseUrl, parseDatabaseUrl } from "./url.ts";

describe("parseDatabaseUrl", () => {
  it("reads absolute SQLite file URLs", () => {
    expect(parseDatabaseUrl("file:/var/lib/atrium/atrium.db")).toEqual({
      provider: "sqlite",
      path: "/var/lib/atrium/atrium.db",
    });
    expect(parseDatabaseUrl("file:///var/lib/atrium/a%20b.db")).toEqual({
      provider: "sqlite",
      path: "/var/lib/atrium/a b.db",
    });
  });

  it("resolves relative SQLite paths against the working directory", () => {
    expect(parseDatabaseUrl("file:./data/atrium.db", "/srv")).toEqual({
      provider: "sqlite",
      path: "/srv/data/atrium.db",
    });
    expect(parseDatabaseUrl("file:atrium.db", "/srv")).toEqual({ provider: "sqlite", path: "/srv/atrium.db" });
    expect(parseDatabaseUrl("file:../atrium.db", "/srv/x")).toEqual({ provider: "sqlite", path: "/srv/atrium.db" });
  });

  it("ignores query parameters on file URLs", () => {
    expect(parseDatabaseUrl("file:/tmp/a.db?connection_limit=1")).toEqual({ provider: "sqlite", path: "/tmp/a.db" });
  });

  it("chooses PostgreSQL for postgres:// and postgresql:// and keeps the URL as given", () => {
    for (const url of [
      "postgres://atrium:secret@db.example:5432/atrium",
      "postgresql://atrium@127.0.0.1/atrium?sslmode=disable",
      "POSTGRESQL://h/db",
      "postgresql:///atrium?host=/var/run/postgresql",
    ])
      expect(parseDatabaseUrl(url)).toEqual({ provider: "postgresql", url });
  });

  it("refuses what it cannot serve, without echoing the URL", () => {
    expect(() => parseDatabaseUrl("mysql://root:hunter2@db/atrium")).toThrow(
      /unsupported database URL scheme "mysql:"/,
    );
    expect(() => parseDatabaseUrl("mysql://root:hunter2@db/atrium")).not.toThrow(/hunter2/);
    expect(() => parseDatabaseUrl("/tmp/atrium.db")).toThrow(/unsupported database URL/);
    expect(() => parseDatabaseUrl("")).toThrow(/unsupported database URL/);
    expect(() => parseDatabaseUrl("file:")).toThrow(/without a path/);
    expect(() => parseDatabaseUrl("file::memory:")).toThrow(/in-memory SQLite/);
    expect(() => parseDatabaseUrl("postgresql:///atrium")).toThrow(/without a host/);
  });
});

describe("defaultDatabaseUrl", () => {
  it("honours ATRIUM_DATABASE_URL", () => {
    expect(defaultDatabaseUrl({ ATRIUM_DATABASE_URL: " postgresql://h/db " })).toBe("postgresql://h/db");
  });

  it("is a SQLite file in the repository's .atrium folder otherwise", () => {
    const url = defaultDatabaseUrl({ ATRIUM_DATABASE_URL: "" });
    expect(url).toMatch(/^file:\/.*\/\.atrium\/atrium\.db$/);
    const target = parseDatabaseUrl(url);
    expect(target.provider).toBe("sqlite");
    expect(target).toEqual({ provider: "sqlite", path: url.slice("file:".length) });
    expect(url).not.toMatch(/\/api\//);
  });
});
