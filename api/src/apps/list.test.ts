import type { AppInstance } from "@atrium/crds";
import { describe, expect, it } from "vitest";
import { CursorError } from "../http/cursor.ts";
import { type AppListQuery, listApps } from "./list.ts";

const app = (name: string, lastActivity?: string, phase = "Running", template = "echo"): AppInstance =>
  ({
    apiVersion: "atrium.dev/v1alpha1",
    kind: "AppInstance",
    metadata: { name, namespace: "org-a" },
    spec: { template },
    status: { phase, ...(lastActivity ? { lastActivity } : {}) },
  }) as AppInstance;

const names = (apps: AppInstance[]) => apps.map((a) => a.metadata.name);
const list = (apps: AppInstance[], query: Omit<AppListQuery, "limit"> & { limit?: number }) =>
  listApps(apps, { limit: 2, ...query }, (t) => (t === "echo" ? "Echo Server" : undefined));

/** Every page of a list, changing the apps between pages with `between`. */
function allPages(apps: AppInstance[], query: Omit<AppListQuery, "limit">, between = (_page: number) => apps) {
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 20; page++) {
    const result = list(between(page), { ...query, cursor });
    seen.push(...names(result.items));
    if (!result.nextCursor) return seen;
    cursor = result.nextCursor;
  }
  throw new Error("the pages never ended");
}

describe("listApps", () => {
  const apps = ["delta", "alpha", "echo", "charlie", "bravo"].map((n) => app(n));

  it("pages by name with opaque cursors", () => {
    const first = list(apps, {});
    expect(names(first.items)).toEqual(["alpha", "bravo"]);
    expect(first.total).toBe(5);
    expect(first.nextCursor).not.toMatch(/^[0-9]+$/);
    expect(allPages(apps, {})).toEqual(["alpha", "bravo", "charlie", "delta", "echo"]);
  });

  it("neither repeats nor skips apps when apps are installed or uninstalled between pages", () => {
    // After the first page (alpha, bravo): alpha is uninstalled and "aardvark" installed before
    // the cursor. An offset would then skip charlie (removal) or repeat bravo (insertion).
    const removed = apps.filter((a) => a.metadata.name !== "alpha");
    expect(allPages(apps, {}, (page) => (page === 0 ? apps : removed))).toEqual([
      "alpha",
      "bravo",
      "charlie",
      "delta",
      "echo",
    ]);
    const added = [...apps, app("aardvark")];
    expect(allPages(apps, {}, (page) => (page === 0 ? apps : added))).toEqual([
      "alpha",
      "bravo",
      "charlie",
      "delta",
      "echo",
    ]);
    // An app added after the cursor's place is on a later page.
    const later = [...apps, app("coyote")];
    expect(allPages(apps, {}, (page) => (page === 0 ? apps : later))).toEqual([
      "alpha",
      "bravo",
      "charlie",
      "coyote",
      "delta",
      "echo",
    ]);
  });

  it("sorts by last activity, most recent first, never-active apps last, ties by name", () => {
    const active = [
      app("old", "2026-01-01T00:00:00Z"),
      app("never"),
      app("new", "2026-03-01T00:00:00Z"),
      app("tie-b", "2026-02-01T00:00:00Z"),
      app("tie-a", "2026-02-01T00:00:00Z"),
      app("asleep"),
    ];
    expect(allPages(active, { sort: "lastActive" })).toEqual(["new", "tie-a", "tie-b", "old", "asleep", "never"]);
    // "old" wakes after the first page and moves before the cursor: it is not shown again.
    const woke = active.map((a) => (a.metadata.name === "old" ? app("old", "2026-04-01T00:00:00Z") : a));
    expect(allPages(active, { sort: "lastActive" }, (page) => (page === 0 ? active : woke))).toEqual([
      "new",
      "tie-a",
      "tie-b",
      "asleep",
      "never",
    ]);
  });

  it("filters by status, template and a search in the name and display name, counting the matches", () => {
    const mixed = [app("wiki", undefined, "Stopped"), app("blog", undefined, "Running", "ghost"), app("chat")];
    expect(names(list(mixed, { status: "stopped" }).items)).toEqual(["wiki"]);
    expect(names(list(mixed, { template: "ghost" }).items)).toEqual(["blog"]);
    expect(names(list(mixed, { q: "ECHO" }).items)).toEqual(["chat", "wiki"]);
    expect(list(mixed, { q: "ECHO", limit: 1 }).total).toBe(2);
  });

  it.each([
    ["an offset", "2"],
    ["garbage", "%%%"],
  ])("refuses %s as a cursor", (_name, cursor) => {
    expect(() => list(apps, { cursor })).toThrow(new CursorError("is not a cursor this API returned"));
  });

  it("refuses a cursor of another sort", () => {
    const cursor = list(apps, { sort: "name" }).nextCursor ?? "";
    expect(() => list(apps, { sort: "lastActive", cursor })).toThrow(
      new CursorError("belongs to sort=name, not sort=lastActive: start again without a cursor"),
    );
  });
});
