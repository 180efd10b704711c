// Authorization-matrix rows for the access checks of apps (issue 17 item 4, ADR 0023): the
// gateway's forward-auth and the data plane's (Envoy ext_authz) give the same decision for a
// Members-only app: every role with apps:access (all but Viewer) may open it; a Viewer is
// refused (403); in an organization one is not in, the app does not exist (404). The data plane's
// check answers 200, with the app request's method, so a POST is asked about too.
import { namespaceFor } from "@atrium/crds";
import { R } from "@atrium/kube";
import { echoTemplate } from "../../cluster/fake-pods.ts";
import { until } from "../../cluster/until.ts";
import type { Row } from "./matrix.ts";
import type { RoleName, World } from "./world.ts";

const WITH_ACCESS: RoleName[] = ["admin", "co-admin", "manager", "member"];

/** One Members-only app per world (its access policy is the default), installed by the Admin. */
const apps = new WeakMap<World, Promise<{ target: string }>>();
function membersApp(w: World, org: string): Promise<{ target: string }> {
  let made = apps.get(w);
  if (!made) {
    const template = `matrix-dp-echo-${process.pid.toString(36)}`;
    const name = `dp-app-${process.pid.toString(36)}`;
    made = w.kube
      .create(R.appTemplate, echoTemplate(template) as never)
      .then(() =>
        until("the template in the API's catalog", async () => !!w.api.services.catalog.get(template), 10_000),
      )
      .then(async () => {
        const r = await w.call(w.people.admin, "POST", `/api/orgs/${org}/apps`, { template, name });
        if (r.status !== 201) throw new Error(`setup install: ${r.status} ${JSON.stringify(r.body)}`);
        // Decided from the API's directory, which follows the cluster.
        await until("the app in the API's directory", async () =>
          w.api.directory.apps.get(`${namespaceFor(org)}/${name}`) ? true : undefined,
        );
        return { target: name };
      });
    apps.set(w, made);
  }
  return made;
}

export const DATAPLANE_ROWS: Row[] = [
  {
    name: "the gateway's access check of a Members-only app",
    method: "GET",
    path: "/api/forward-auth/{org}/{target}",
    allowed: WITH_ACCESS,
    success: 204,
    setup: membersApp,
  },
  {
    name: "the data plane's access check of a Members-only app (Envoy ext_authz)",
    method: "GET",
    path: "/api/forward-auth/{org}/{target}/data-plane",
    allowed: WITH_ACCESS,
    success: 200,
    setup: membersApp,
  },
  {
    name: "the data plane's access check of a POST to a Members-only app",
    method: "POST",
    path: "/api/forward-auth/{org}/{target}/data-plane",
    allowed: WITH_ACCESS,
    success: 200,
    setup: membersApp,
  },
];
