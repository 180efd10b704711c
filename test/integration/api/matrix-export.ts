// Authorization-matrix rows for GDPR exports of an organization: org:export is held by Admin and
// Co-Admin. An organization has one export under way at a time and three a UTC day: the rows that
// request one wait for the previous to finish (the world's org makes three in all: the shared one
// the reads and the download use, and one each for Admin and Co-Admin).
import { until } from "../../cluster/until.ts";
import type { Row } from "./matrix.ts";
import type { RoleName, World } from "./world.ts";

const EXPORT: RoleName[] = ["admin", "co-admin"];

/** Resolves once the organization has no export queued or running (the next request may go). */
const quiet = (w: World, org: string) =>
  until(
    "no export under way",
    async () => (await w.api.db.prisma.exportJob.count({ where: { org, state: { in: ["queued", "running"] } } })) === 0,
    60_000,
    50,
  );

/** One finished export per world, made by the Admin. */
const shared = new WeakMap<World, Promise<string>>();
const finishedExport = (w: World, org: string) => {
  let id = shared.get(w);
  if (!id) {
    id = (async () => {
      await quiet(w, org);
      const r = await w.call(w.people.admin, "POST", `/api/orgs/${org}/exports`);
      if (r.status !== 202) throw new Error(`setup export: ${r.status} ${JSON.stringify(r.body)}`);
      await quiet(w, org);
      return r.body.id as string;
    })();
    shared.set(w, id);
  }
  return id;
};

export const EXPORT_ROWS: Row[] = [
  {
    name: "view an export",
    method: "GET",
    path: "/api/orgs/{org}/exports/{target}",
    allowed: EXPORT,
    success: 200,
    setup: async (w, org) => ({ target: await finishedExport(w, org) }),
  },
  {
    name: "download an export",
    method: "GET",
    path: "/api/orgs/{org}/exports/{target}/download",
    allowed: EXPORT,
    success: 200,
    setup: async (w, org) => ({ target: await finishedExport(w, org) }),
  },
  { name: "list exports", method: "GET", path: "/api/orgs/{org}/exports", allowed: EXPORT, success: 200 },
  {
    name: "request an export",
    method: "POST",
    path: "/api/orgs/{org}/exports",
    allowed: EXPORT,
    success: 202,
    setup: async (w, org) => {
      await quiet(w, org);
      return {};
    },
  },
];
