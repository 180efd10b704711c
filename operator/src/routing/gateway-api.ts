// Gateway API mode (issue 17): app traffic on the cluster's own data plane, with Atrium's
// gateway in the path only while an app is stopped or waking (Knative's activator). Per app
// the operator writes a fixed HTTPRoute whose backend is a Service without a selector, and
// that Service's EndpointSlice: the app's ready pods while it runs ("serve"), the activator
// while it is stopped or waking ("proxy"). The route is never edited for a stop or a wake;
// only the endpoints change. Pure builders and the stop sequence's steps; the reconcile calls
// them (data-plane.ts).
import {
  ACTIVATOR_PROBE_HEADER,
  ACTIVATOR_PROBE_VALUE,
  APP_IDENTITY_HEADER,
  type AppInstance,
  type AppTemplate,
  HTTP_PORT_NAME,
  LABEL_SLICE_MANAGER,
  orgOfNamespace,
  PROBE_TOKEN_HEADER,
  ROUTE_SERVICE_SUFFIX,
  ROUTE_SLICE_MANAGER,
} from "@atrium/crds";
import type { KubeObject } from "@atrium/kube";
import { LABEL_INSTANCE, LABEL_NAME, managedLabels, ownerRef } from "../labels.ts";
import { type ExtAuthBackend, needsExtAuth } from "./ext-auth.ts";

type App = AppInstance & KubeObject;

export type GatewayApiRouting = {
  mode: "gateway-api";
  /** The Gateway every app's HTTPRoute attaches to (its listener must admit routes from org namespaces). */
  parent: { namespace: string; name: string; sectionName?: string };
  /** Where Atrium's gateway, the activator, answers: IPv4 addresses (e.g. its Service's ClusterIP) and port. */
  activator: { addresses: string[]; port: number };
  /** From the data plane's confirmed switch to the activator to scaling to zero (a request meanwhile cancels). */
  stopGraceMs: number;
  /**
   * The stop's checks (Knative's order; ADR 0024). `probeUrls`: the data plane's listeners (one
   * per replica), where a probe with the app's Host must reach the activator before the grace
   * counts. `statsUrls`: the data plane's Envoy admins, whose requests under way on the app's
   * route are re-checked when the grace ends. `drainMs`: how long past the grace such requests
   * may hold an idle stop before it is cancelled (the app is in use). Either list empty only
   * with `unconfirmed` (ATRIUM_STOP_UNCONFIRMED=true): that check is then skipped.
   */
  stopChecks: {
    probeUrls: string[];
    statsUrls: string[];
    drainMs: number;
    unconfirmed: boolean;
    /** Sent with the probe of apps behind the external authorization (PROBE_TOKEN_HEADER): the API lets it through. */
    probeToken?: string;
    /**
     * With the data plane's pods (`dataPlane`): every ready one is re-checked at its statistics
     * port and, with a listener port, probed there too (stop-checks.ts), beside the lists.
     */
    pods?: { statsPort: number; listenerPort?: number };
  };
  /** Health-check paths of every app (as ATRIUM_GATEWAY_EXCLUDE_PATHS): their own route rule. */
  excludePaths: string[];
  /**
   * The data plane's pods (Envoy's, for Envoy Gateway), admitted to app pods by each org's
   * NetworkPolicy beside Atrium's gateway: they send running apps their traffic directly.
   * Unset: only the gateway is admitted (a cluster enforcing policies then blocks warm traffic).
   */
  dataPlane?: { namespace: string; podLabels: Record<string, string> };
  /** The API's Service the data plane asks who may open non-Public apps (ext-auth.ts); unset: such apps get no route. */
  extAuth?: ExtAuthBackend;
};

/** The request header the route sets: which app a request is for, whatever its Host (the activator reads it). */
export const APP_HEADER = APP_IDENTITY_HEADER;
/** Who the caller is, as the access check (the API) names them: never taken from the client. */
export const USER_HEADER = "x-atrium-user";
export const LABEL_SERVICE_NAME = "kubernetes.io/service-name";
/** `serve` (the app's pods) or `proxy` (the activator): what the slice points at, for people and tests. */
export const LABEL_ENDPOINTS = "atrium.dev/endpoints";
/** When the stop sequence pointed the endpoints at the activator: durable across operator restarts. */
export const ANNOTATION_PROXY_SINCE = "atrium.dev/proxy-since";
export const HEALTH_RULE = "health-checks";
export const APP_RULE = "app";
/** A Public app's requests that carry Atrium's credentials: the only ones its credential filter runs on. */
export const CREDENTIALS_RULE = "atrium-credentials";

/**
 * What sends a Public app's request to its credentials rule: any Cookie naming an Atrium cookie,
 * any Authorization holding something shaped like an Atrium key. Envoy matches a header regex
 * against the whole value (RE2), hence the `.*` on both sides. Looser than what the filter takes
 * off (its Lua decides exactly, credential-filter.ts): a request this lets by carries nothing
 * to take off, so it skips the filter's cost; one it catches too eagerly only pays that cost.
 */
export const CREDENTIAL_MATCHES = [
  { name: "Cookie", value: ".*atrium_(?:session|csrf)=.*" },
  { name: "Authorization", value: "(?i).*atr_(?:sk|ai)_.*" },
].map((header) => ({
  path: { type: "PathPrefix" as const, value: "/" },
  headers: [{ type: "RegularExpression", ...header }],
}));

export type EndpointsMode = "serve" | "proxy";

/** The selector-less Service the route sends to (the app's own Service keeps its selector: the activator's way to the pods). */
export const routeServiceName = (app: string) => `${app}${ROUTE_SERVICE_SUFFIX}`;

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
 * Whether the app's route has the credentials rule: a Public app where the credential filter is
 * written (with external authorization configured, that is Envoy Gateway: credential-filter.ts).
 */
export const credentialRule = (app: Pick<AppInstance, "spec">, routing: Pick<GatewayApiRouting, "extAuth">) =>
  routing.extAuth !== undefined && !needsExtAuth(app);

/**
 * The app's route: host `<app>.<org>.<baseDomain>` on the configured Gateway, every request
 * marked with the app's identity, health checks and the operator's stop probes on their own
 * rule, always the first (so the data plane's statistics of every other rule are the app's
 * activity: kube/src/envoy-stats.ts). A Public app with the credential filter has a third rule
 * for requests carrying Atrium's credentials, the only ones that filter runs on (ADR 0023): the
 * rest of its traffic pays nothing for it. Its content depends only on the app's name,
 * template port, exclusions and whether it is Public: a stop or a wake never changes it.
 */
export function desiredHttpRoute(
  app: App,
  template: AppTemplate,
  routing: GatewayApiRouting,
  baseDomain: string,
): KubeObject {
  const org = orgOfNamespace(app.metadata.namespace) ?? "";
  const name = app.metadata.name;
  // Envoy applies a route's header changes in its router, after the external authorization: the
  // probe token is taken off here once the check has read it (the API's "yes" already has Envoy
  // remove it; this covers a probe that meets no check, say while a policy is being deleted),
  // and a client's own X-Atrium-User only on Public apps, which have no check to replace it
  // (on the others it would also remove the caller the check named).
  const remove = needsExtAuth(app) ? [PROBE_TOKEN_HEADER] : [PROBE_TOKEN_HEADER, USER_HEADER];
  const filters = [
    {
      type: "RequestHeaderModifier",
      requestHeaderModifier: { set: [{ name: APP_HEADER, value: `${org}/${name}` }], remove },
    },
  ];
  const backendRefs = [{ group: "", kind: "Service", name: routeServiceName(name), port: httpPort(template) }];
  // The stop probe on the health rule: any path with the probe header (a header match outranks
  // the app rule's bare "/" prefix), so the activator gets it and the app's statistics never do.
  const health = [
    ...exclusionMatches([...routing.excludePaths, ...(app.spec.idle?.excludePaths ?? [])]).slice(0, 63),
    {
      path: { type: "PathPrefix" as const, value: "/" },
      headers: [{ type: "Exact", name: ACTIVATOR_PROBE_HEADER, value: ACTIVATOR_PROBE_VALUE }],
    },
  ];
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
        { name: HEALTH_RULE, matches: health, filters, backendRefs },
        { name: APP_RULE, matches: [{ path: { type: "PathPrefix", value: "/" } }], filters, backendRefs },
        // A header match outranks the app rule's bare "/" (the health rule's paths and probe
        // still outrank it: the filter runs there too).
        ...(credentialRule(app, routing)
          ? [{ name: CREDENTIALS_RULE, matches: CREDENTIAL_MATCHES, filters, backendRefs }]
          : []),
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

/** How soon a stop sequence waiting on a check (the probe, the re-check) is looked at again. */
export const CHECK_AGAIN_MS = 500;

export type StopInput = {
  /** The idle decision (or a hold) says zero replicas. */
  wantStop: boolean;
  /** Traffic may cancel it: an idle stop. Holds (policy Stopped, billing, org deletion) are not cancelled. */
  cancellable: boolean;
  readyPods: number;
  /** When this stop sequence pointed the endpoints at the activator (undefined: it has not). */
  proxySince: number | undefined;
  /** When a probe through the data plane first saw the activator answer for the app in this sequence (undefined: not yet). */
  confirmedAt: number | undefined;
  /** Requests under way on the app's route in a reading taken after the grace ended (undefined: none such, or unreadable). */
  activeRequests: number | undefined;
  /** status.lastActivity in ms (0: none). */
  lastActivity: number;
  now: number;
  graceMs: number;
  /** How long past the grace requests under way may hold the stop. */
  drainMs: number;
};

export type StopStep = {
  replicas: 0 | 1;
  mode: EndpointsMode;
  proxySince?: number;
  /** Come back then: the grace is over, or a check may have an answer. */
  requeueAfterMs?: number;
  /** The data plane has not been seen sending the app's traffic to the activator: probe it. */
  probe?: boolean;
  /** The grace is over: read the requests under way on the app's route (again). */
  recheck?: boolean;
  /**
   * Why the stop was called off, the pods serving again: `traffic` reached the activator during
   * the grace, or requests on the pods were still `busy` drainMs past it (an open stream).
   */
  cancelled?: "traffic" | "busy";
  /** A hold's stop went to zero at its bound without every check passing (logged). */
  unconfirmed?: boolean;
  /** The grace runs until then (the status's stopsAt meanwhile). */
  stopsAt?: number;
};

/**
 * Knative's stop order: endpoints to the activator; a probe through the data plane confirms the
 * activator answers for the app (until then the data plane may still send requests straight to
 * the pods, and the grace has not begun); the grace; a re-check of the requests still under way
 * on the route (Envoy's `upstream_rq_active`), waiting for them at most drainMs; then zero
 * replicas. A request that reaches the activator meanwhile is forwarded to the pod that is still
 * there and recorded as activity (the activator writes it at once), which cancels an idle stop;
 * requests still under way at the end of the wait cancel it too. An idle stop never goes to zero
 * unconfirmed. A hold (policy, billing, org deletion) waits for the same checks but at most
 * grace + drainMs from the switch: it must stop, even with the data plane not answering.
 * With nothing ready to drain, zero at once; while it runs, the pods serve.
 */
export function stopStep(s: StopInput): StopStep {
  if (!s.wantStop) return { replicas: 1, mode: s.readyPods > 0 ? "serve" : "proxy" };
  if (s.readyPods === 0) return { replicas: 0, mode: "proxy", proxySince: s.proxySince };
  if (s.proxySince === undefined)
    return {
      replicas: 1,
      mode: "proxy",
      proxySince: s.now,
      probe: true,
      requeueAfterMs: CHECK_AGAIN_MS,
      stopsAt: s.now + s.graceMs,
    };
  if (s.cancellable && s.lastActivity > s.proxySince) return { replicas: 1, mode: "serve", cancelled: "traffic" };
  const since = s.proxySince;
  const waiting = { replicas: 1, mode: "proxy", proxySince: since, requeueAfterMs: CHECK_AGAIN_MS } as const;
  const holdOver = !s.cancellable && s.now >= since + s.graceMs + s.drainMs;
  if (s.confirmedAt === undefined) {
    if (holdOver) return { replicas: 0, mode: "proxy", proxySince: since, unconfirmed: true };
    return { ...waiting, probe: true, stopsAt: since + s.graceMs };
  }
  const ends = Math.max(s.confirmedAt, since) + s.graceMs;
  if (s.now < ends && !holdOver)
    return { replicas: 1, mode: "proxy", proxySince: since, requeueAfterMs: ends - s.now, stopsAt: ends };
  if (s.activeRequests === 0) return { replicas: 0, mode: "proxy", proxySince: since };
  // Requests under way, or no reading yet: wait for them, bounded.
  if (s.now < ends + s.drainMs && !holdOver) return { ...waiting, recheck: true, stopsAt: ends };
  if (!s.cancellable) return { replicas: 0, mode: "proxy", proxySince: since, unconfirmed: true };
  return { replicas: 1, mode: "serve", cancelled: "busy" };
}
