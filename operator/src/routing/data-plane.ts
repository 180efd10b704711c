// The AppInstance reconcile's part in Gateway API mode: which endpoints the app's route gets
// this pass, whether its replicas may go to zero yet (the stop sequence, gateway-api.ts), and
// the route, Service and EndpointSlice to ensure before the Deployment is scaled.
import { type AppInstance, type AppTemplate, orgOfNamespace } from "@atrium/crds";
import {
  apiVersionOf,
  errorMessage,
  type KubeClient,
  KubeError,
  type KubeObject,
  R,
  type ResourceType,
} from "@atrium/kube";
import type { IdleState } from "../appinstance/idle.ts";
import { type Deps, ensure, type Obj } from "../deps.ts";
import { LABEL_INSTANCE } from "../labels.ts";
import {
  credentialFilterName,
  desiredCredentialFilter,
  filterRefusal,
  needsCredentialFilter,
} from "./credential-filter.ts";
import {
  desiredReferenceGrant,
  desiredSecurityPolicy,
  needsExtAuth,
  securityPolicyName,
  unenforceableAccess,
} from "./ext-auth.ts";
import {
  ANNOTATION_PROXY_SINCE,
  desiredEndpointSlice,
  desiredHttpRoute,
  desiredRouteService,
  type GatewayApiRouting,
  LABEL_ENDPOINTS,
  readyPodAddresses,
  routeServiceName,
  stopStep,
} from "./gateway-api.ts";
import { stopChecks } from "./stop-checks.ts";

/** After traffic cancelled a stop, the app is looked at again this soon (its idle deadline may have passed). */
const AFTER_CANCEL_MS = 1000;

export type DataPlanePass = {
  /** The app this pass is for (the stop's checks start once its endpoints are written). */
  app: Obj<AppInstance>;
  idle: IdleState;
  /** The route Service, the HTTPRoute and the EndpointSlice, to ensure. */
  objects: KubeObject[];
  /**
   * Access control, to ensure first: the app's SecurityPolicy and its namespace's ReferenceGrant
   * (ext-auth.ts), or for a Public app its credential filter (credential-filter.ts).
   */
  access: KubeObject[];
  /** Live objects to delete: the policy of the other kind after a switch, a route that may not be served openly. */
  remove: { type: ResourceType; name: string; namespace: string }[];
  /** Why the app has no route (its access cannot be enforced), for its event and the log. */
  unenforceable?: string;
};

export function dataPlaneRouting(deps: Deps, routing: GatewayApiRouting) {
  // When this process pointed an app's endpoints at the activator, per app key, while the stop
  // sequence lasts: the slice's annotation says the same durably, but the cache can lag our own
  // write, and a pass reading the older slice would restart the grace.
  const switched = new Map<string, number>();
  // The probe and the re-check through the data plane (stop-checks.ts), per stop sequence.
  const checks = stopChecks(deps, routing, deps.dataPlaneChecks, deps.dataPlanePods);
  /** Apps already told (an event, a log line) that they have no route for want of external authorization. */
  const unenforced = new Set<string>();
  /** Public apps already told that Envoy Gateway refused their credential filter. */
  const unfiltered = new Set<string>();
  const { caches } = deps;

  /** The stop sequence's step for this pass: the idle state to report and act on, and the objects to ensure. */
  const plan = (app: Obj<AppInstance>, template: Obj<AppTemplate>, idle: IdleState, held: boolean): DataPlanePass => {
    const namespace = app.metadata.namespace as string;
    const key = `${namespace}/${app.metadata.name}`;
    const pods = readyPodAddresses(
      caches.pods
        .inNamespace(namespace)
        .filter((p) => p.metadata.labels?.[LABEL_INSTANCE] === app.metadata.name) as Parameters<
        typeof readyPodAddresses
      >[0],
    );
    const live = caches.routeSlices?.get(`${namespace}/${routeServiceName(app.metadata.name)}`);
    const liveSince =
      live?.metadata.labels?.[LABEL_ENDPOINTS] === "proxy"
        ? Date.parse(live.metadata.annotations?.[ANNOTATION_PROXY_SINCE] ?? "")
        : Number.NaN;
    const now = deps.now().getTime();
    const wantStop = idle.replicas === 0;
    const proxySince = switched.get(key) ?? (Number.isNaN(liveSince) ? undefined : liveSince);
    const access = accessPlan(app);
    const step = stopStep({
      wantStop,
      cancellable: !held && idle.stopReason === "Idle",
      readyPods: pods.length,
      proxySince,
      // An app without a route (its access cannot be enforced) gets nothing from the data plane: nothing to confirm.
      ...checks.inputs(key, proxySince, !access.unenforceable),
      lastActivity: Date.parse(app.status?.lastActivity ?? "") || 0,
      now,
      graceMs: routing.stopGraceMs,
      drainMs: routing.stopChecks.drainMs,
    });
    if (wantStop && !step.cancelled && step.proxySince !== undefined) switched.set(key, step.proxySince);
    else switched.delete(key);
    checks.track(key, wantStop, step, !access.unenforceable);
    if (step.cancelled === "traffic")
      deps.log("Stop cancelled: a request reached the activator during the grace", { app: key });
    if (step.cancelled === "busy") {
      deps.log("Stop cancelled: requests were still under way on the app after the grace", { app: key });
      deps.record(
        app,
        "Normal",
        "StopCancelled",
        `Requests were still under way ${routing.stopChecks.drainMs / 1000} s after the stop's grace (an open stream or a slow answer): the app keeps running`,
      );
    }
    if (step.unconfirmed)
      deps.log("Stopped at the end of its bound without the data plane's confirmation (a hold)", { app: key }, "warn");

    let next = idle;
    if (wantStop && step.replicas === 1)
      next = {
        replicas: 1,
        ...(step.stopsAt !== undefined ? { stopsAt: new Date(step.stopsAt) } : {}),
        requeueAfterMs: step.requeueAfterMs ?? AFTER_CANCEL_MS,
      };
    const route = desiredHttpRoute(app, template, routing, deps.config.baseDomain);
    const objects = [
      desiredRouteService(app, template),
      route,
      desiredEndpointSlice(app, template, routing, { mode: step.mode, pods, proxySince: step.proxySince }),
    ];
    return { app, idle: next, objects, ...access };
  };

  /**
   * The app's access control in the data plane: a SecurityPolicy (and its namespace's grant to
   * reach the API) unless the app is Public; a Public app gets the credential filter instead.
   * A switch between the two replaces one policy with the other (the stale one goes). Fail
   * closed: an app that needs a login while no external authorization is configured loses its route.
   */
  const accessPlan = (app: Obj<AppInstance>): Pick<DataPlanePass, "access" | "remove" | "unenforceable"> => {
    const namespace = app.metadata.namespace as string;
    const name = app.metadata.name;
    const backend = routing.extAuth;
    const message = unenforceableAccess(app, backend);
    if (message)
      return {
        access: [],
        remove: caches.httpRoutes?.get(`${namespace}/${name}`) ? [{ type: R.httpRoute, name, namespace }] : [],
        unenforceable: message,
      };
    if (!backend || !caches.securityPolicies) return { access: [], remove: [] };
    if (!needsExtAuth(app)) {
      const policy = securityPolicyName(name);
      const live = caches.securityPolicies.get(`${namespace}/${policy}`);
      return {
        access: caches.extensionPolicies && needsCredentialFilter(app) ? [desiredCredentialFilter(app)] : [],
        remove: live ? [{ type: R.securityPolicy, name: policy, namespace }] : [],
      };
    }
    const org = caches.organizations.get(orgOfNamespace(namespace) ?? "");
    const filter = credentialFilterName(name);
    return {
      access: [
        desiredSecurityPolicy(app, backend),
        ...(org ? [desiredReferenceGrant(namespace, backend, { ...org, kind: "Organization" })] : []),
      ],
      remove: caches.extensionPolicies?.get(`${namespace}/${filter}`)
        ? [{ type: R.envoyExtensionPolicy, name: filter, namespace }]
        : [],
    };
  };

  /** Ensures one access object with its kind's cache (absent when that kind is not watched). */
  const ensureAccess = (object: KubeObject) => {
    const [type, cache] =
      object.kind === "SecurityPolicy"
        ? [R.securityPolicy, caches.securityPolicies]
        : object.kind === "ReferenceGrant"
          ? [R.referenceGrant, caches.referenceGrants]
          : [R.envoyExtensionPolicy, caches.extensionPolicies];
    return cache && ensure(deps, type, object, cache);
  };

  /** Ensures the route, its Service and endpoints (before the Deployment: endpoints move first). */
  const apply = async (pass: DataPlanePass): Promise<void> => {
    const [service, route, slice] = pass.objects as [KubeObject, KubeObject, KubeObject];
    // The policy before the route: Envoy Gateway never sees a new app's route without it.
    await Promise.all(pass.access.map(ensureAccess));
    for (const r of pass.remove) await deps.client.delete(r.type, r.name, r.namespace);
    const refused = pass.unenforceable;
    const key = `${route.metadata.namespace}/${route.metadata.name}`;
    if (refused && !unenforced.has(key)) {
      unenforced.add(key);
      deps.log("App not routed: its access policy cannot be enforced by the data plane", { app: key }, "error");
      deps.record(pass.app, "Warning", "AccessNotEnforced", refused);
    } else if (!refused) unenforced.delete(key);
    warnUnfiltered(pass.app, key);
    await Promise.all([
      ensure(deps, R.service, service, caches.services),
      caches.httpRoutes && !pass.unenforceable && ensure(deps, R.httpRoute, route, caches.httpRoutes),
      caches.routeSlices && ensure(deps, R.endpointSlice, slice, caches.routeSlices),
    ]);
    // The endpoints are written: the stop's probe (or re-check) may go through the data plane.
    checks.run(pass.app);
  };

  /**
   * Once per refusal: a Public app whose credential filter Envoy Gateway refused (Lua not
   * enabled, say) is still served, as Public apps are, but receives Atrium's cookies and keys.
   */
  const warnUnfiltered = (app: Obj<AppInstance>, key: string) => {
    const filter = credentialFilterName(app.metadata.name);
    const live = needsCredentialFilter(app)
      ? caches.extensionPolicies?.get(`${app.metadata.namespace}/${filter}`)
      : undefined;
    const refusal = filterRefusal(live as Parameters<typeof filterRefusal>[0]);
    if (!refusal) {
      unfiltered.delete(key);
      return;
    }
    if (unfiltered.has(key)) return;
    unfiltered.add(key);
    deps.log(
      "Credential filter refused by Envoy Gateway: a Public app receives Atrium's credentials",
      { app: key, refusal },
      "error",
    );
    deps.record(
      app,
      "Warning",
      "CredentialsNotFiltered",
      `Envoy Gateway refused the EnvoyExtensionPolicy ${filter} (${refusal}): this Public app receives Atrium's session cookies and API keys. Enable Lua in Envoy Gateway (extensionApis.enableLua: true), or make the app Members-only`,
    );
  };

  return {
    plan,
    apply,
    forget: (key: string) => {
      switched.delete(key);
      checks.forget(key);
      unenforced.delete(key);
      unfiltered.delete(key);
    },
  };
}

export type DataPlaneRouting = ReturnType<typeof dataPlaneRouting>;

/**
 * Gateway API mode needs the Gateway API's CRDs: without them the operator says so at start,
 * rather than waiting forever for an HTTPRoute cache that cannot fill. (A selector that
 * matches nothing: the answer is empty, or 404 when the resource type does not exist.)
 */
export async function requireGatewayApi(
  client: KubeClient,
  routing?: GatewayApiRouting,
  patienceMs = KINDS_PATIENCE_MS,
): Promise<void> {
  await listedOrExplained(
    client,
    R.httpRoute,
    patienceMs,
    (error) =>
      new Error(
        `ATRIUM_ROUTING=gateway-api needs the Gateway API CRDs (HTTPRoute ${apiVersionOf(R.httpRoute)}) in the cluster: ${errorMessage(error)}`,
      ),
  );
  if (!routing?.extAuth) return;
  for (const type of [R.securityPolicy, R.referenceGrant, R.envoyExtensionPolicy])
    await listedOrExplained(
      client,
      type,
      patienceMs,
      (error) =>
        new Error(
          `ATRIUM_EXT_AUTH_SERVICE needs Envoy Gateway's SecurityPolicy and EnvoyExtensionPolicy and the Gateway API's ReferenceGrant (${type.kind} ${apiVersionOf(type)}) in the cluster: ${errorMessage(error)}`,
        ),
    );
}

/** How long the start-up check waits out an apiserver that is still setting a new CRD's storage up. */
const KINDS_PATIENCE_MS = 30_000;

/**
 * Lists nothing of `type`: a 404 or a refusal (4xx) is final and explained at once; a
 * transient answer (a CRD just made: "storage is (re)initializing", 5xx, 429, no connection)
 * is tried again for a while first, so the operator does not exit on a cluster still starting.
 */
async function listedOrExplained(
  client: KubeClient,
  type: ResourceType,
  patienceMs: number,
  explain: (error: unknown) => Error,
): Promise<void> {
  const deadline = Date.now() + patienceMs;
  for (;;) {
    try {
      await client.list(type, { labelSelector: "atrium.dev/probe=none" });
      return;
    } catch (error) {
      const final = error instanceof KubeError && error.code >= 400 && error.code < 500 && error.code !== 429;
      if (final || Date.now() >= deadline) throw explain(error);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
