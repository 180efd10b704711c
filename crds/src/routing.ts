// Gateway API mode (issue 17): what the operator's routes and Atrium's gateway (the activator)
// agree on.

/** Set by every app's HTTPRoute to `<org>/<app>`: the activator routes on it, whatever the Host. */
export const APP_IDENTITY_HEADER = "x-atrium-app";

/**
 * The operator's stop probe (Knative's activator probe): a request through the data plane with
 * the app's Host and `ACTIVATOR_PROBE_HEADER: ACTIVATOR_PROBE_VALUE`. The activator answers it
 * itself (never forwarded, no activity, no wake) with ACTIVATOR_MARKER_HEADER naming the app
 * (`<org>/<app>`, from APP_IDENTITY_HEADER): until a probe sees that, the app's endpoints have not
 * reached the data plane, and the stop's grace has not begun. The route matches the probe
 * header on its health-checks rule, so a probe is never the app's activity in the statistics.
 */
export const ACTIVATOR_PROBE_HEADER = "x-atrium-probe";
export const ACTIVATOR_PROBE_VALUE = "activator";
export const ACTIVATOR_MARKER_HEADER = "x-atrium-activator";
/**
 * Beside the probe header, for apps behind the data plane's external authorization (ADR 0023,
 * 0024): the secret the operator and the API share (ATRIUM_PROBE_TOKEN), so the API lets the
 * credential-less probe through to the activator. The API's "yes" has Envoy take it off, and
 * every route removes it too, so no app ever sees it. The activator never needs it.
 */
export const PROBE_TOKEN_HEADER = "x-atrium-probe-token";
/** The shortest ATRIUM_PROBE_TOKEN the operator and the API accept. */
export const PROBE_TOKEN_MIN_LENGTH = 32;

/**
 * The label an EndpointSlice's manager puts on it, and the operator's value: the slices it
 * writes for the routes' selector-less Services (never the activator's own way to the pods).
 */
export const LABEL_SLICE_MANAGER = "endpointslice.kubernetes.io/managed-by";
export const ROUTE_SLICE_MANAGER = "atrium-operator.atrium.dev";

/**
 * Health-check and monitor paths of every app, by default: never activity, never a wake. Atrium's
 * gateway excludes them (ATRIUM_GATEWAY_EXCLUDE_PATHS) and, in Gateway API mode, the operator
 * gives them their own route rule (ATRIUM_ROUTE_EXCLUDE_PATHS): one default, so the two agree.
 */
export const DEFAULT_HEALTH_CHECK_PATHS: readonly string[] = ["/healthz", "/readyz", "/livez", "/ping"];

/**
 * Gateway API mode: app `x`'s route goes to a selector-less Service `x-route` beside its own
 * Service `x`. So no app may be named `<anything>-route`: its own Service would be another app's
 * route Service (the AppInstance CRD refuses such names; the operator never takes one over).
 */
export const ROUTE_SERVICE_SUFFIX = "-route";
