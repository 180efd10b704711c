// How app traffic reaches apps: through Atrium's embedded gateway (the default), or through the
// cluster's Gateway API implementation with Atrium's gateway as the activator only (issue 17).
//   ATRIUM_ROUTING              gateway (default) | gateway-api
//   ATRIUM_GATEWAY_API_PARENT   <namespace>/<name>[/<listener>]: the Gateway the routes attach to
//   ATRIUM_ACTIVATOR_ADDRESSES  IPv4 addresses of Atrium's gateway (its Service's ClusterIP will do)
//   ATRIUM_ACTIVATOR_PORT       its port (default 8081)
//   ATRIUM_STOP_GRACE           endpoints at the activator this long before zero replicas (default 30s)
//   ATRIUM_ROUTE_EXCLUDE_PATHS  health-check paths of every app (default as the gateway's)
//   ATRIUM_DATA_PLANE_NAMESPACE, ATRIUM_DATA_PLANE_POD_LABELS (k=v,k=v): the data plane's pods,
//                               admitted to apps by the orgs' NetworkPolicies
import { isIPv4 } from "node:net";
import { parseDuration } from "../appinstance/idle.ts";
import type { GatewayApiRouting } from "./gateway-api.ts";

export type Routing = { mode: "gateway" } | GatewayApiRouting;

export const DEFAULT_STOP_GRACE = "30s";
const DEFAULT_EXCLUDE_PATHS = "/healthz,/readyz,/livez,/ping";
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const list = (text: string | undefined) =>
  (text ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

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
  const addresses = list(env.ATRIUM_ACTIVATOR_ADDRESSES);
  if (!addresses.length || !addresses.every((a) => isIPv4(a) && !a.startsWith("127.")))
    throw new Error(
      `ATRIUM_ACTIVATOR_ADDRESSES must list the IPv4 addresses of Atrium's gateway (not loopback: EndpointSlices refuse it), got "${env.ATRIUM_ACTIVATOR_ADDRESSES ?? ""}"`,
    );
  const port = Number(env.ATRIUM_ACTIVATOR_PORT || 8081);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`ATRIUM_ACTIVATOR_PORT must be a port number, got "${env.ATRIUM_ACTIVATOR_PORT}"`);
  let stopGraceMs: number;
  try {
    stopGraceMs = parseDuration(env.ATRIUM_STOP_GRACE || DEFAULT_STOP_GRACE);
  } catch {
    throw new Error(`ATRIUM_STOP_GRACE must be a duration such as 30s or 1m, got "${env.ATRIUM_STOP_GRACE}"`);
  }
  const dataPlane = dataPlaneConfig(env);
  return {
    mode,
    parent: { namespace, name, ...(sectionName ? { sectionName } : {}) },
    activator: { addresses, port },
    stopGraceMs,
    excludePaths: list(env.ATRIUM_ROUTE_EXCLUDE_PATHS ?? DEFAULT_EXCLUDE_PATHS),
    ...(dataPlane ? { dataPlane } : {}),
  };
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** The data plane's pods, both settings or neither (half of them would admit the wrong pods). */
function dataPlaneConfig(env: NodeJS.ProcessEnv): GatewayApiRouting["dataPlane"] {
  const namespace = env.ATRIUM_DATA_PLANE_NAMESPACE ?? "";
  const labels = list(env.ATRIUM_DATA_PLANE_POD_LABELS);
  if (!namespace && !labels.length) return undefined;
  if (!DNS_LABEL.test(namespace))
    throw new Error(
      `ATRIUM_DATA_PLANE_NAMESPACE must name the data plane's namespace (with ATRIUM_DATA_PLANE_POD_LABELS), got "${namespace}"`,
    );
  const pairs = labels.map((l) => l.split("="));
  if (
    !pairs.length ||
    !pairs.every(([k, v, ...rest]) => !rest.length && LABEL_KEY.test(k ?? "") && LABEL_VALUE.test(v ?? "-"))
  )
    throw new Error(
      `ATRIUM_DATA_PLANE_POD_LABELS must be key=value[,key=value] labels of the data plane's pods (with ATRIUM_DATA_PLANE_NAMESPACE), got "${env.ATRIUM_DATA_PLANE_POD_LABELS ?? ""}"`,
    );
  return { namespace, podLabels: Object.fromEntries(pairs) };
}
