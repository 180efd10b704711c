// Authorization-matrix rows for the marketplace routes (browse, view, categories): every built-in
// role holds marketplace:view, so each may read in its own organization and gets 404 elsewhere.
import { R } from "@atrium/kube";
import { until } from "../../cluster/until.ts";
import type { Row } from "./matrix.ts";
import type { RoleName, World } from "./world.ts";

const ALL: RoleName[] = ["admin", "co-admin", "manager", "member", "viewer"];

/** One template for the detail rows, created once per world and awaited in the API's catalog. */
const made = new WeakMap<World, Promise<string>>();
function matrixTemplate(w: World): Promise<string> {
  let name = made.get(w);
  if (!name) {
    const template = `matrix-app-${process.pid.toString(36)}`;
    name = w.kube
      .create(R.appTemplate, {
        metadata: { name: template },
        spec: {
          displayName: "Matrix App",
          category: "Productivity",
          image: "registry.example/matrix",
          versions: ["1.0"],
          defaultVersion: "1.0",
          ports: [{ name: "http", containerPort: 8080 }],
        },
      } as never)
      .then(() =>
        until("the template in the API's catalog", async () => !!w.api.services.catalog.get(template), 10_000),
      )
      .then(() => template);
    made.set(w, name);
  }
  return name;
}

export const MARKETPLACE_ROWS: Row[] = [
  {
    name: "browse the marketplace",
    method: "GET",
    path: "/api/orgs/{org}/marketplace/apps",
    allowed: ALL,
    success: 200,
  },
  {
    name: "search the marketplace",
    method: "GET",
    path: "/api/orgs/{org}/marketplace/apps?q=matrix&category=Productivity&sort=price&limit=5",
    allowed: ALL,
    success: 200,
  },
  {
    name: "view a marketplace app",
    method: "GET",
    path: "/api/orgs/{org}/marketplace/apps/{target}",
    allowed: ALL,
    success: 200,
    setup: async (w) => ({ target: await matrixTemplate(w) }),
  },
  {
    name: "list marketplace categories",
    method: "GET",
    path: "/api/orgs/{org}/marketplace/categories",
    allowed: ALL,
    success: 200,
  },
];
