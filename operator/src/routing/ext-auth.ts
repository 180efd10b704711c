// Access control in the data plane (issue 17 item 4, ADR 0023). In Gateway API mode warm
// traffic never meets Atrium's gateway, so the data plane must ask who may open an app. For
// every app whose access policy is not Public the operator writes an Envoy Gateway
// SecurityPolicy on the app's HTTPRoute whose external authorization (HTTP) calls the API's
// forward-auth endpoint, the one the embedded gateway asks, so the decisions are the same:
// 200 yes; 401, 403, 404 refused with the API's answer. Public apps get no policy, and a policy
// is deleted when its app turns Public. The API's Service lives in Atrium's namespace, so each
// org namespace needs a ReferenceGrant there (Gateway API's rule for references across
// namespaces), owned by the Organization so it goes with it. Pure builders; data-plane.ts applies.
import { ACTIVATOR_PROBE_HEADER, type AppInstance, orgOfNamespace, PROBE_TOKEN_HEADER } from "@atrium/crds";
import type { KubeObject } from "@atrium/kube";
import { managedLabels, ownerRef } from "../labels.ts";
import { appRoutePolicy } from "./route-policy.ts";

type App = AppInstance & KubeObject;

/** The API's Service the data plane asks (ATRIUM_EXT_AUTH_SERVICE=<namespace>/<name>:<port>). */
export type ExtAuthBackend = { namespace: string; name: string; port: number };

/**
 * Only Atrium's credentials go to the API: the session cookie, and the operator's stop probe
 * (its header and token, the probe's only credential: ADR 0024). (Envoy always sends the Authorization header
 * too, with Host, method and path; the API reads it only when it holds an Atrium key, as the
 * embedded gateway forwards only those.) Accept and X-Forwarded-Proto (which Envoy sets to the
 * scheme the client used) let the API send a browser without a login to the login page and
 * back to the app URL it asked for, as the embedded gateway does.
 */
export const HEADERS_TO_EXT_AUTH = [
  "cookie",
  ACTIVATOR_PROBE_HEADER,
  PROBE_TOKEN_HEADER,
  "accept",
  "x-forwarded-proto",
] as const;
/**
 * What the API's "yes" sets on the request before the app gets it: the caller's email, and the
 * Cookie without Atrium's session cookies (the API also lists, in Envoy's
 * x-envoy-auth-headers-to-remove, a Cookie or an Authorization that carried only Atrium's).
 */
export const HEADERS_TO_BACKEND = ["x-atrium-user", "cookie"] as const;
/** The API answers from memory; past this, Envoy refuses the request (fail closed, no fail-open). */
export const EXT_AUTH_TIMEOUT = "5s";

export const securityPolicyName = (app: string) => `${app}-access`;
/** The grant's name in the API's namespace: one per org namespace. */
export const referenceGrantName = (namespace: string) => `atrium-ext-auth-${namespace}`;

/**
 * The data plane's check path for one app, a prefix: Envoy appends the app request's own path
 * and query (`path`, not `pathOverride`), which the API needs for the login's way back.
 */
export const forwardAuthPath = (org: string, app: string) => `/api/forward-auth/${org}/${app}/data-plane`;

/** Whether the app's traffic must be checked: every policy but Public (Members is the default). */
export const needsExtAuth = (app: Pick<AppInstance, "spec">) => (app.spec.access?.policy ?? "Members") !== "Public";

/** The app's SecurityPolicy: external authorization on its HTTPRoute (both named after the app). */
export function desiredSecurityPolicy(app: App, backend: ExtAuthBackend): KubeObject {
  const org = orgOfNamespace(app.metadata.namespace) ?? "";
  return appRoutePolicy(
    app,
    { kind: "SecurityPolicy", name: securityPolicyName(app.metadata.name) },
    {
      extAuth: {
        http: {
          backendRefs: [
            { group: "", kind: "Service", name: backend.name, namespace: backend.namespace, port: backend.port },
          ],
          path: forwardAuthPath(org, app.metadata.name),
          headersToBackend: [...HEADERS_TO_BACKEND],
        },
        headersToExtAuth: [...HEADERS_TO_EXT_AUTH],
        timeout: EXT_AUTH_TIMEOUT,
        failOpen: false,
      },
    },
  );
}

/**
 * Lets the SecurityPolicies of one org namespace reference the API's Service. Owned by the
 * Organization (cluster-scoped, so it may own an object in any namespace): deleted with it.
 */
export function desiredReferenceGrant(
  namespace: string,
  backend: ExtAuthBackend,
  organization: KubeObject & { kind?: string },
): KubeObject {
  return {
    apiVersion: "gateway.networking.k8s.io/v1beta1",
    kind: "ReferenceGrant",
    metadata: {
      name: referenceGrantName(namespace),
      namespace: backend.namespace,
      labels: managedLabels(organization.metadata.name),
      ...(organization.metadata.uid ? { ownerReferences: [ownerRef(organization)] } : {}),
    },
    spec: {
      from: [{ group: "gateway.envoyproxy.io", kind: "SecurityPolicy", namespace }],
      to: [{ group: "", kind: "Service", name: backend.name }],
    },
  };
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** ATRIUM_EXT_AUTH_SERVICE: `<namespace>/<name>:<port>` of the API's Service; undefined when unset. */
export function parseExtAuthService(text: string | undefined): ExtAuthBackend | undefined {
  if (!text) return undefined;
  const m = /^([^/]+)\/([^:]+):(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[3]);
  if (!m || !DNS_LABEL.test(m[1] as string) || !DNS_LABEL.test(m[2] as string) || port < 1 || port > 65535)
    throw new Error(
      `ATRIUM_EXT_AUTH_SERVICE must be <namespace>/<name>:<port> of the API's Service (the data plane asks its forward-auth endpoint), got "${text}"`,
    );
  return { namespace: m[1] as string, name: m[2] as string, port };
}

/**
 * Why an app is not served in Gateway API mode, if it is not: an app that needs a login while
 * no external authorization is configured gets no route at all (fail closed) rather than an
 * open one.
 */
export function unenforceableAccess(app: Pick<AppInstance, "spec">, backend: ExtAuthBackend | undefined) {
  if (!needsExtAuth(app) || backend) return undefined;
  return `Access policy ${app.spec.access?.policy ?? "Members"} needs the data plane's external authorization: set ATRIUM_EXT_AUTH_SERVICE (the chart's routing.gatewayApi.extAuth); the app has no route until then`;
}
