// How app traffic reaches apps: through Atrium's embedded gateway (the default), or through the
// cluster's Gateway API implementation with Atrium's gateway as the activator only (issue 17).
//   ATRIUM_ROUTING              gateway (default) | gateway-api
//   ATRIUM_GATEWAY_API_PARENT   <namespace>/<name>[/<listener>]: the Gateway the routes attach to
//   ATRIUM_ACTIVATOR_ADDRESSES  IPv4 addresses of Atrium's gateway (its Service's ClusterIP will do)
//   ATRIUM_ACTIVATOR_PORT       its port (default 8081)
//   ATRIUM_STOP_GRACE           endpoints at the activator this long before zero replicas (default 30s)
//   ATRIUM_ROUTE_EXCLUDE_PATHS  health-check paths of every app (default as the gateway's: DEFAULT_HEALTH_CHECK_PATHS)
//   ATRIUM_DATA_PLANE_NAMESPACE, ATRIUM_DATA_PLANE_POD_LABELS (k=v,k=v): the data plane's pods,
//                               admitted to apps by the orgs' NetworkPolicies (kube/src/env.ts)
//   ATRIUM_EXT_AUTH_SERVICE     <namespace>/<name>:<port> of the API's Service: the data plane asks its
//                               forward-auth who may open non-Public apps (ext-auth.ts); unset, those get no route
//   ATRIUM_DATA_PLANE_URLS      the data plane's listeners (one per replica, http(s)://host:port):
//                               the stop's probe must reach the activator through each (ADR 0024)
//   ATRIUM_DATAPLANE_STATS_URLS the data plane's Envoy admins (as the gateway's setting): requests
//                               under way on a stopping app's route are re-checked there
//   ATRIUM_STOP_DRAIN_TIMEOUT   requests under way hold a stop this long past the grace (default 1m)
//   ATRIUM_DATA_PLANE_LISTENER_PORT  with the data plane's pods: the container port of the Gateway's
//                               HTTP listener on each pod (Envoy Gateway maps a port below 1024 to
//                               port + 10000: 80 → 10080); the probe then goes to every ready pod, plain HTTP
//   ATRIUM_DATAPLANE_STATS_PORT with the data plane's pods: where each serves /stats/prometheus (default
//                               19001, as the gateway's); the re-check then reads every ready pod
//   ATRIUM_STOP_UNCONFIRMED     true: a check with no address (neither its list nor the pods) is
//                               skipped (otherwise gateway-api mode refuses to start without one)
//   ATRIUM_PROBE_TOKEN          the secret shared with the API (≥ 32 characters) that lets the stop's
//                               probe past the external authorization of apps that are not Public;
//                               required with ATRIUM_EXT_AUTH_SERVICE and ATRIUM_DATA_PLANE_URLS
import { isIPv4 } from "node:net";
import { DEFAULT_HEALTH_CHECK_PATHS, PROBE_TOKEN_MIN_LENGTH } from "@atrium/crds";
import { type DataPlanePods, DEFAULT_STATS_PORT, envDataPlanePods, envList, envPort } from "@atrium/kube";
import { parseDuration } from "../appinstance/idle.ts";
import { parseExtAuthService } from "./ext-auth.ts";
import type { GatewayApiRouting } from "./gateway-api.ts";

export type Routing = { mode: "gateway" } | GatewayApiRouting;

export const DEFAULT_STOP_GRACE = "30s";
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** The routing mode from the environment; a setting that cannot work stops the operator at start, naming it. */
export function routingConfig(env: NodeJS.ProcessEnv): Routing {
  const mode = env.ATRIUM_ROUTING || "gateway";
  if (mode === "gateway") return { mode };
  if (mode !== "gateway-api") throw new Error(`ATRIUM_ROUTING must be gateway or gateway-api, got "${mode}"`);
  const [namespace, name, sectionName, ...rest] = (env.ATRIUM_GATEWAY_API_PARENT ?? "").split("/");
  if (!namespace || !name || rest.length || ![namespace, name].every((s) => DNS_LABEL.test(s)))
    throw new Error(
      `ATRIUM_GATEWAY_API_PARENT must be <namespace>/<name>[/<listener>] of the Gateway to attach to, got "${env.ATRIUM_GATEWAY_API_PARENT ?? ""}"`,
    );
  const addresses = envList(env, "ATRIUM_ACTIVATOR_ADDRESSES");
  if (!addresses.length || !addresses.every((a) => isIPv4(a) && !a.startsWith("127.")))
    throw new Error(
      `ATRIUM_ACTIVATOR_ADDRESSES must list the IPv4 addresses of Atrium's gateway (not loopback: EndpointSlices refuse it), got "${env.ATRIUM_ACTIVATOR_ADDRESSES ?? ""}"`,
    );
  const port = envPort(env, "ATRIUM_ACTIVATOR_PORT", 8081) as number;
  let stopGraceMs: number;
  try {
    stopGraceMs = parseDuration(env.ATRIUM_STOP_GRACE || DEFAULT_STOP_GRACE);
  } catch {
    throw new Error(`ATRIUM_STOP_GRACE must be a duration such as 30s or 1m, got "${env.ATRIUM_STOP_GRACE}"`);
  }
  const dataPlane = envDataPlanePods(env);
  const extAuth = parseExtAuthService(env.ATRIUM_EXT_AUTH_SERVICE);
  const stopChecks = stopChecksConfig(env, extAuth !== undefined, dataPlane);
  return {
    mode,
    parent: { namespace, name, ...(sectionName ? { sectionName } : {}) },
    activator: { addresses, port },
    stopGraceMs,
    stopChecks,
    excludePaths: envList(env, "ATRIUM_ROUTE_EXCLUDE_PATHS", DEFAULT_HEALTH_CHECK_PATHS),
    ...(dataPlane ? { dataPlane } : {}),
    ...(extAuth ? { extAuth } : {}),
  };
}

export const DEFAULT_STOP_DRAIN = "1m";

/** http(s) URLs without query or fragment, from a list setting; anything else names the variable. */
function urlList(env: NodeJS.ProcessEnv, name: string): string[] {
  const urls = envList(env, name);
  for (const raw of urls) {
    const url = URL.parse(raw);
    if (!url || !/^https?:$/.test(url.protocol) || url.search || url.hash)
      throw new Error(`${name}: "${raw}" is not an http(s) URL (without a query)`);
  }
  return urls.map((u) => u.replace(/\/+$/, ""));
}

/**
 * The stop's checks (ADR 0024). Each check has its addresses from a fixed list, from the data
 * plane's pods (every ready one, followed as they come and go), or both. Fail closed: without
 * an address to probe and one to re-check, an idle stop could scale an app to zero while the
 * data plane still sends it requests, so the operator does not start, unless
 * ATRIUM_STOP_UNCONFIRMED=true says to skip the checks it has no address for.
 */
function stopChecksConfig(
  env: NodeJS.ProcessEnv,
  extAuth: boolean,
  dataPlane: DataPlanePods | undefined,
): GatewayApiRouting["stopChecks"] {
  const probeUrls = urlList(env, "ATRIUM_DATA_PLANE_URLS");
  const statsUrls = urlList(env, "ATRIUM_DATAPLANE_STATS_URLS");
  const pods = stopPodsConfig(env, dataPlane);
  const flag = env.ATRIUM_STOP_UNCONFIRMED ?? "";
  if (!["", "true", "false"].includes(flag))
    throw new Error(`ATRIUM_STOP_UNCONFIRMED must be true or false, got "${flag}"`);
  const unconfirmed = flag === "true";
  const probes = probeUrls.length > 0 || pods?.listenerPort !== undefined;
  const rechecks = statsUrls.length > 0 || pods !== undefined;
  if (!unconfirmed && (!probes || !rechecks))
    throw new Error(
      `Gateway API mode confirms every stop through the data plane, and has no address for its ${probes ? "re-check" : rechecks ? "probe" : "probe or re-check"}: set ATRIUM_DATA_PLANE_URLS (its listeners) and ATRIUM_DATAPLANE_STATS_URLS (its Envoy admins), or follow its pods with ATRIUM_DATA_PLANE_NAMESPACE, ATRIUM_DATA_PLANE_POD_LABELS and ATRIUM_DATA_PLANE_LISTENER_PORT, or ATRIUM_STOP_UNCONFIRMED=true to stop without the checks they allow`,
    );
  let drainMs: number;
  try {
    drainMs = parseDuration(env.ATRIUM_STOP_DRAIN_TIMEOUT || DEFAULT_STOP_DRAIN);
  } catch {
    throw new Error(
      `ATRIUM_STOP_DRAIN_TIMEOUT must be a duration such as 30s or 1m, got "${env.ATRIUM_STOP_DRAIN_TIMEOUT}"`,
    );
  }
  const probeToken = probeTokenConfig(env, extAuth && probes);
  return {
    probeUrls,
    statsUrls,
    drainMs,
    unconfirmed,
    ...(pods ? { pods } : {}),
    ...(probeToken ? { probeToken } : {}),
  };
}

/**
 * How the stop's checks reach the data plane's pods (ATRIUM_DATA_PLANE_NAMESPACE and _POD_LABELS
 * given): each ready pod's statistics at ATRIUM_DATAPLANE_STATS_PORT (19001, as the gateway reads
 * them) for the re-check, and with ATRIUM_DATA_PLANE_LISTENER_PORT its listener for the probe.
 * A listener port without the pods has no pod to go to: refused, as is a bad port.
 */
export function stopPodsConfig(
  env: NodeJS.ProcessEnv,
  dataPlane: DataPlanePods | undefined,
): GatewayApiRouting["stopChecks"]["pods"] {
  const listenerPort = envPort(env, "ATRIUM_DATA_PLANE_LISTENER_PORT");
  const statsPort = envPort(env, "ATRIUM_DATAPLANE_STATS_PORT", DEFAULT_STATS_PORT) as number;
  if (!dataPlane) {
    if (listenerPort !== undefined)
      throw new Error(
        "ATRIUM_DATA_PLANE_LISTENER_PORT is the port of the data plane's pods' listener: set ATRIUM_DATA_PLANE_NAMESPACE and ATRIUM_DATA_PLANE_POD_LABELS to those pods too, or list the listeners in ATRIUM_DATA_PLANE_URLS instead",
      );
    return undefined;
  }
  return { statsPort, ...(listenerPort !== undefined ? { listenerPort } : {}) };
}

/**
 * ATRIUM_PROBE_TOKEN (ADR 0024, "The probe and external authorization"). Fail closed: when the
 * probe goes through the data plane's external authorization, a probe without the token is
 * refused there (401) and no idle stop of an app that is not Public would ever be confirmed, so
 * the operator does not start without it. A short token is refused whether needed or not.
 */
export function probeTokenConfig(env: NodeJS.ProcessEnv, needed: boolean): string | undefined {
  const token = env.ATRIUM_PROBE_TOKEN ?? "";
  if (token && token.length < PROBE_TOKEN_MIN_LENGTH)
    throw new Error(`ATRIUM_PROBE_TOKEN must be at least ${PROBE_TOKEN_MIN_LENGTH} characters, got ${token.length}`);
  if (!token && needed)
    throw new Error(
      "ATRIUM_PROBE_TOKEN is required when the stop's probe (ATRIUM_DATA_PLANE_URLS) passes the data plane's external authorization (ATRIUM_EXT_AUTH_SERVICE): set the same secret (at least 32 characters) in the API, which then lets the probe through",
    );
  return token || undefined;
}
