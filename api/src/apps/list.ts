// The apps list as a pure function: filter, sort and page an organization's AppInstances. Pages
// are cut on the sort key (cursors from ../http/cursor.ts, as the marketplace's), not on an
// offset, so apps installed or uninstalled between two pages neither repeat nor skip any.
import type { AppInstance } from "@atrium/crds";
import { compareKeys, firstAfter, type Key, keyCursors } from "../http/cursor.ts";

export const APP_SORTS = ["name", "lastActive"] as const;
export type AppSort = (typeof APP_SORTS)[number];

export type AppListQuery = {
  status?: string | undefined;
  template?: string | undefined;
  /** Searched in the app's name and its template's display name, ignoring case. */
  q?: string | undefined;
  sort?: AppSort | undefined;
  cursor?: string | undefined;
  limit: number;
};

const cursors = keyCursors<AppSort>({ name: ["string"], lastActive: ["number", "string"] });

/**
 * The key an app sorts by, its name last so no two tie. lastActive is the most recent first
 * (negated milliseconds); an app never active counts as 0, after every active one.
 */
export function appSortKey(app: AppInstance, sort: AppSort): Key {
  if (sort === "name") return [app.metadata.name];
  const at = Date.parse(app.status?.lastActivity ?? "");
  return [Number.isFinite(at) ? -at : 0, app.metadata.name];
}

/** One page of apps; throws CursorError for a cursor of another sort or not made here. */
export function listApps<A extends AppInstance>(
  apps: readonly A[],
  query: AppListQuery,
  displayNameOf: (template: string) => string | undefined,
): { items: A[]; total: number; nextCursor: string | null } {
  const sort = query.sort ?? "name";
  const after = query.cursor ? cursors.decode(query.cursor, sort) : undefined;
  const q = query.q?.toLowerCase();
  const status = query.status?.toLowerCase();
  const matches = apps
    .filter((a) => {
      if (status && (a.status?.phase ?? "Pending").toLowerCase() !== status) return false;
      if (query.template && a.spec.template !== query.template) return false;
      if (q && !`${a.metadata.name} ${displayNameOf(a.spec.template) ?? ""}`.toLowerCase().includes(q)) return false;
      return true;
    })
    .map((app) => ({ app, key: appSortKey(app, sort) }))
    .sort((a, b) => compareKeys(a.key, b.key));
  const start = after ? firstAfter(matches, (m) => m.key, after) : 0;
  const page = matches.slice(start, start + query.limit);
  const last = page.at(-1);
  return {
    items: page.map((m) => m.app),
    total: matches.length,
    nextCursor: last && start + query.limit < matches.length ? cursors.encode(sort, last.key) : null,
  };
}
