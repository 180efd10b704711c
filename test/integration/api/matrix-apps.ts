// Authorization-matrix rows for the apps routes. Reads need apps:view (every built-in role);
// install, settings, restart / stop / start and logs belong to Admin, Co-Admin and Manager;
// uninstall to Admin and Co-Admin. Each write acts on an app of its own, installed by the Admin.
import { namespaceFor } from "@atrium/crds";
import { R } from "@atrium/kube";
import { echoTemplate } from "../../cluster/fake-pods.ts";
import { until } from "../../cluster/until.ts";
import type { Row } from "./matrix.ts";
import type { RoleName, World } from "./world.ts";

const ALL: RoleName[] = ["admin", "co-admin", "manager", "member", "viewer"];
const OPERATORS: RoleName[] = ["admin", "co-admin", "manager"];
const ADMINS: RoleName[] = ["admin", "co-admin"];
let n = 0;
const fresh = (what: string) => `${what}-${process.pid.toString(36)}-${(n++).toString(36)}`;

/** A free template for the rows, created once per world and awaited in the API's catalog. */
const templates = new WeakMap<World, Promise<string>>();
function appTemplate(w: World): Promise<string> {
  let made = templates.get(w);
  if (!made) {
    const name = `matrix-echo-${process.pid.toString(36)}`;
    made = w.kube
      .create(R.appTemplate, echoTemplate(name) as never)
      .then(() => until("the template in the API's catalog", async () => !!w.api.services.catalog.get(name), 10_000))
      .then(() => name);
    templates.set(w, made);
  }
  return made;
}

/** A fresh app installed by the Admin through the API. */
async function freshApp(w: World, org: string): Promise<{ target: string }> {
  const template = await appTemplate(w);
  const name = fresh("app");
  const r = await w.call(w.people.admin, "POST", `/api/orgs/${org}/apps`, { template, name });
  if (r.status !== 201) throw new Error(`setup install: ${r.status} ${JSON.stringify(r.body)}`);
  return { target: name };
}

/** One app with a running pod per world, for the logs row (KWOK serves its log). */
const running = new WeakMap<World, Promise<{ target: string }>>();
function runningApp(w: World, org: string): Promise<{ target: string }> {
  let app = running.get(w);
  if (!app) {
    app = freshApp(w, org).then(async ({ target }) => {
      await until(
        `a running pod of ${target}`,
        async () =>
          (
            await w.kube.list<any>(R.pod, {
              namespace: namespaceFor(org),
              labelSelector: `app.kubernetes.io/instance=${target}`,
            })
          ).items.some((p) => p.status?.phase === "Running"),
        60_000,
      );
      return { target };
    });
    running.set(w, app);
  }
  return app;
}

export const APP_ROWS: Row[] = [
  {
    name: "list installed apps",
    method: "GET",
    path: "/api/orgs/{org}/apps?sort=lastActive",
    allowed: ALL,
    success: 200,
  },
  {
    name: "view an app",
    method: "GET",
    path: "/api/orgs/{org}/apps/{target}",
    allowed: ALL,
    success: 200,
    setup: freshApp,
  },
  {
    name: "follow an app's status",
    method: "GET",
    path: "/api/orgs/{org}/apps/{target}/watch?timeout=1",
    allowed: ALL,
    success: 200,
    setup: freshApp,
  },
  {
    name: "install an app",
    method: "POST",
    path: "/api/orgs/{org}/apps",
    allowed: OPERATORS,
    success: 201,
    setup: async (w) => ({ body: { template: await appTemplate(w), name: fresh("inst") } }),
  },
  {
    name: "change an app's settings",
    method: "PATCH",
    path: "/api/orgs/{org}/apps/{target}",
    allowed: OPERATORS,
    success: 200,
    setup: freshApp,
    body: () => ({ idle: { timeout: "2h" } }),
  },
  ...(["restart", "stop", "start"] as const).map(
    (action): Row => ({
      name: `${action} an app`,
      method: "POST",
      path: `/api/orgs/{org}/apps/{target}/${action}`,
      allowed: OPERATORS,
      success: 202,
      setup: freshApp,
    }),
  ),
  {
    name: "read an app's logs",
    method: "GET",
    path: "/api/orgs/{org}/apps/{target}/logs?tail=5",
    allowed: OPERATORS,
    success: 200,
    setup: (w, org) => runningApp(w, org),
  },
  {
    name: "uninstall an app",
    method: "DELETE",
    path: "/api/orgs/{org}/apps/{target}",
    allowed: ADMINS,
    success: 204,
    setup: async (w, org) => {
      const { target } = await freshApp(w, org);
      return { target, body: { confirm: target, deleteData: false } };
    },
  },
];
