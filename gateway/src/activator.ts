// Gateway API mode (issue 17): the cluster's data plane carries app traffic, and sends a request
// here only while its app is stopped, waking or on its way to zero. The route marks each request
// with the app's identity (APP_IDENTITY_HEADER, `<org>/<app>`), so the request is this app's
// whatever its Host: waked, held and forwarded as the host or path forms are (routes.ts).
import { ACTIVATOR_PROBE_VALUE } from "@atrium/crds";
import type { Route } from "./routes.ts";

const IDENTITY = /^([a-z0-9-]+)\/([a-z0-9-]+)$/;

/**
 * The app a data-plane request is for: the identity header's `<org>/<app>` and the request's
 * own path (the route forwards it unchanged). Undefined when the header is absent or malformed
 * (sent twice, or anything but one `<org>/<app>`): such a request is routed by Host or path.
 */
export function routeOfIdentity(value: string | undefined, url: string): Route | undefined {
  if (value === undefined) return undefined;
  const m = IDENTITY.exec(value.trim().toLowerCase());
  return m ? { org: m[1] as string, app: m[2] as string, path: url || "/" } : undefined;
}

/**
 * The operator's stop probe (ACTIVATOR_PROBE_HEADER through the data plane): the app the
 * activator names in its answer, `<org>/<app>` from the identity header the route set, or
 * undefined when the request is not such a probe (it is then served as any other). A probe
 * without a valid identity did not come through an app's route: it is not answered as one.
 */
export function probedApp(headers: {
  probe: string | string[] | undefined;
  identity: string | string[] | undefined;
}): string | undefined {
  if (headers.probe !== ACTIVATOR_PROBE_VALUE || typeof headers.identity !== "string") return undefined;
  const route = routeOfIdentity(headers.identity, "/");
  return route ? `${route.org}/${route.app}` : undefined;
}
