// Gateway API mode (issue 17): app traffic on the cluster's own data plane, with Atrium's
// gateway in the path only while an app is stopped or waking (Knative's activator). Per app
// the operator writes a fixed HTTPRoute whose backend is a Service without a selector, and
// that Service's EndpointSlice: the app's ready pods while it runs ("serve"), the activator
// while it is stopped or waking ("proxy"). The route is never edited for a stop or a wake;
// only the endpoints change. Pure builders and the stop sequence's steps; the reconcile calls
// them (data-plane.ts).
import {
  APP_IDENTITY_HEADER,
  type AppInstance,
  type AppTemplate,
  HTTP_PORT_NAME,
  LABEL_SLICE_MANAGER,
  orgOfNamespace,
  ROUTE_SLICE_MANAGER,
} from "@atrium/crds";
import type { KubeObject } from "@atrium/kube";
import { LABEL_INSTANCE, LABEL_NAME, managedLabels, ownerRef } from "../labels.ts";

type App = AppInstance & KubeObject;

export type GatewayApiRouting = {
  mode: "gateway-api";
  /** The Gateway every app's HTTPRoute attaches to (its listener must admit routes from org namespaces). */
  parent: { namespace: string; name: string; sectionName?: string };
  /** Where Atrium's gateway, the activator, answers: IPv4 addresses (e.g. its Service's ClusterIP) and port. */
  activator: { addresses: string[]; port: number };
  /** From pointing an app's endpoints at the activator to scaling it to zero (a request meanwhile cancels). */
  stopGraceMs: number;
  /** Health-check paths of every app (as ATRIUM_GATEWAY_EXCLUDE_PATHS): their own route rule. */
  excludePaths: string[];
  /**
   * The data plane's pods (Envoy's, for Envoy Gateway), admitted to app pods by each org's
   * NetworkPolicy beside Atrium's gateway: they send running apps their traffic directly.
   * Unset: only the gateway is admitted (a cluster enforcing policies then blocks warm traffic).
   */
  dataPlane?: { namespace: string; podLabels: Record<string, string> };
};

/** The request header the route sets: which app a request is for, whatever its Host (the activator reads it). */
export const APP_HEADER = APP_IDENTITY_HEADER;
export const LABEL_SERVICE_NAME = "kubernetes.io/service-name";
/** `serve` (the app's pods) or `proxy` (the activator): what the slice points at, for people and tests. */
export const LABEL_ENDPOINTS = "atrium.dev/endpoints";
/** When the stop sequence pointed the endpoints at the activator: durable across operator restarts. */
export const ANNOTATION_PROXY_SINCE = "atrium.dev/proxy-since";
export const HEALTH_RULE = "health-checks";
export const APP_RULE = "app";

export type EndpointsMode = "serve" | "proxy";

/** The selector-less Service the route sends to (the app's own Service keeps its selector: the activator's way to the pods). */
export const routeServiceName = (app: string) => `${app}-route`;

const httpPort = (template: AppTemplate) =>
  (template.spec.ports.find((p) => p.name === HTTP_PORT_NAME) ?? template.spec.ports[0])?.containerPort ?? 80;

const labelsFor = (app: App, template: AppTemplate, extra: Record<string, string> = {}) =>
  managedLabels(orgOfNamespace(app.metadata.namespace) ?? "", {
    [LABEL_INSTANCE]: app.metadata.name,
    [LABEL_NAME]: template.metadata.name,
    ...extra,
  });

/**
 * Gateway API path matches for Atrium's exclusion patterns: `p` exactly, `p*` as a prefix. A
 * Gateway API prefix matches whole path segments (`/health` matches `/health` and
 * `/health/x`, not `/healthz`), so `/health*` there is narrower than in Atrium's gateway, which
 * matches characters; a pattern the Gateway API refuses (not absolute, `//`, `/./`, `%2f`, `#`,
 * a bare `/*`) is left out rather than failing the whole route.
 */
export function exclusionMatches(
  patterns: readonly string[],
): { path: { type: "Exact" | "PathPrefix"; value: string } }[] {
  const seen = new Set<string>();
  const matches: { path: { type: "Exact" | "PathPrefix"; value: string } }[] = [];
  for (const pattern of patterns) {
    const prefix = pattern.endsWith("*");
    let value = prefix ? pattern.slice(0, -1) : pattern;
    if (prefix && value.length > 1 && value.endsWith("/")) value = value.slice(0, -1);
    if (!validPath(value) || (prefix && value === "/")) continue;
    const type = prefix ? "PathPrefix" : "Exact";
    if (seen.has(`${type} ${value}`)) continue;
    seen.add(`${type} ${value}`);
    matches.push({ path: { type, value } });
  }
  // The Gateway API allows 64 matches in a rule; the CRDs allow 20 per app plus the defaults.
  return matches.slice(0, 64);
}

const validPath = (p: string) =>
  p.startsWith("/") &&
  p.length <= 1024 &&
  !["//", "/./", "/../", "%2f", "%2F", "#"].some((bad) => p.includes(bad)) &&
  !p.endsWith("/..") &&
  !p.endsWith("/.");

/**
 * The app's route: host `<app>.<org>.<baseDomain>` on the configured Gateway, every request
 * marked with the app's identity, health checks on their own rule (so the data plane's
 * statistics of the `app` rule are the app's activity). Its content depends only on the app's
 * name, template port and exclusions: a stop or a wake never changes it.
 */
export function desiredHttpRoute(
  app: App,
  template: AppTemplate,
  routing: GatewayApiRouting,
  baseDomain: string,
): KubeObject {
  const org = orgOfNamespace(app.metadata.namespace) ?? "";
  const name = app.metadata.name;
  const filters = [
    { type: "RequestHeaderModifier", requestHeaderModifier: { set: [{ name: APP_HEADER, value: `${org}/${name}` }] } },
  ];
  const backendRefs = [{ group: "", kind: "Service", name: routeServiceName(name), port: httpPort(template) }];
  const health = exclusionMatches([...routing.excludePaths, ...(app.spec.idle?.excludePaths ?? [])]);
  const { sectionName, ...parent } = routing.parent;
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: {
      name,
      namespace: app.metadata.namespace,
      labels: labelsFor(app, template),
      ownerReferences: [ownerRef(app)],
    },
    spec: {
      parentRefs: [
        { group: "gateway.networking.k8s.io", kind: "Gateway", ...parent, ...(sectionName ? { sectionName } : {}) },
      ],
      hostnames: [`${name}.${org}.${baseDomain}`],
      rules: [
        ...(health.length ? [{ name: HEALTH_RULE, matches: health, filters, backendRefs }] : []),
        { name: APP_RULE, matches: [{ path: { type: "PathPrefix", value: "/" } }], filters, backendRefs },
      ],
    },
  };
}

/** The route's backend: no selector, so its endpoints are only what the operator writes. */
export function desiredRouteService(app: App, template: AppTemplate): KubeObject {
  const port = httpPort(template);
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: routeServiceName(app.metadata.name),
      namespace: app.metadata.namespace,
      labels: labelsFor(app, template),
      ownerReferences: [ownerRef(app)],
    },
    spec: {
      type: "ClusterIP",
      ports: [{ name: HTTP_PORT_NAME, port, targetPort: port, protocol: "TCP" }],
    },
  };
}

/**
 * The route Service's endpoints: the ready pods on the app's port ("serve"), or the activator
 * on its own port ("proxy"). One slice whose port follows the mode, so a switch is one write.
 */
export function desiredEndpointSlice(
  app: App,
  template: AppTemplate,
  routing: GatewayApiRouting,
  target: { mode: EndpointsMode; pods: readonly string[]; proxySince?: number },
): KubeObject {
  const service = routeServiceName(app.metadata.name);
  const serve = target.mode === "serve";
  const addresses = serve ? target.pods : routing.activator.addresses;
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: service,
      namespace: app.metadata.namespace,
      labels: labelsFor(app, template, {
        [LABEL_SERVICE_NAME]: service,
        [LABEL_SLICE_MANAGER]: ROUTE_SLICE_MANAGER,
        [LABEL_ENDPOINTS]: target.mode,
      }),
      ...(!serve && target.proxySince !== undefined
        ? { annotations: { [ANNOTATION_PROXY_SINCE]: new Date(target.proxySince).toISOString() } }
        : {}),
      ownerReferences: [ownerRef(app)],
    },
    addressType: "IPv4",
    ports: [{ name: HTTP_PORT_NAME, port: serve ? httpPort(template) : routing.activator.port, protocol: "TCP" }],
    endpoints: addresses.map((address) => ({ addresses: [address], conditions: { ready: true } })),
  };
}

type PodSummary = {
  metadata: { deletionTimestamp?: string };
  status?: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] };
};

/** Addresses of the pods that answer: running, Ready, not on their way out; sorted, so equal sets compare equal. */
export function readyPodAddresses(pods: readonly PodSummary[]): string[] {
  const ready = pods.filter(
    (p) =>
      !p.metadata.deletionTimestamp &&
      p.status?.phase === "Running" &&
      p.status.podIP &&
      p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
  );
  return [...new Set(ready.map((p) => p.status?.podIP as string))].sort();
}

export type StopInput = {
  /** The idle decision (or a hold) says zero replicas. */
  wantStop: boolean;
  /** Traffic may cancel it: an idle stop. Holds (policy Stopped, billing, org deletion) are not cancelled. */
  cancellable: boolean;
  readyPods: number;
  /** When this stop sequence pointed the endpoints at the activator (undefined: it has not). */
  proxySince: number | undefined;
  /** status.lastActivity in ms (0: none). */
  lastActivity: number;
  now: number;
  graceMs: number;
};

export type StopStep = {
  replicas: 0 | 1;
  mode: EndpointsMode;
  proxySince?: number;
  /** Come back then: the grace is over. */
  requeueAfterMs?: number;
  /** Traffic reached the activator during the grace: the app keeps running. */
  cancelled?: boolean;
  /** The grace runs until then (the status's stopsAt meanwhile). */
  stopsAt?: number;
};

/**
 * Knative's stop order: endpoints to the activator first, a grace period, a re-check, then
 * zero replicas. A request that reaches the activator meanwhile is forwarded to the pod that is
 * still there and recorded as activity (the activator writes it at once), which cancels the
 * stop. With nothing ready to drain, zero at once; while it runs, the pods serve.
 */
export function stopStep(s: StopInput): StopStep {
  if (!s.wantStop) return { replicas: 1, mode: s.readyPods > 0 ? "serve" : "proxy" };
  if (s.readyPods === 0) return { replicas: 0, mode: "proxy", proxySince: s.proxySince };
  if (s.proxySince === undefined)
    return {
      replicas: 1,
      mode: "proxy",
      proxySince: s.now,
      requeueAfterMs: s.graceMs,
      stopsAt: s.now + s.graceMs,
    };
  if (s.cancellable && s.lastActivity > s.proxySince) return { replicas: 1, mode: "serve", cancelled: true };
  const ends = s.proxySince + s.graceMs;
  if (s.now < ends)
    return { replicas: 1, mode: "proxy", proxySince: s.proxySince, requeueAfterMs: ends - s.now, stopsAt: ends };
  return { replicas: 0, mode: "proxy", proxySince: s.proxySince };
}
