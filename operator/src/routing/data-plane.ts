// The AppInstance reconcile's part in Gateway API mode: which endpoints the app's route gets
// this pass, whether its replicas may go to zero yet (the stop sequence, gateway-api.ts), and
// the route, Service and EndpointSlice to ensure before the Deployment is scaled.
import type { AppInstance, AppTemplate } from "@atrium/crds";
import { apiVersionOf, errorMessage, type KubeClient, type KubeObject, R } from "@atrium/kube";
import type { IdleState } from "../appinstance/idle.ts";
import { type Deps, ensure, type Obj } from "../deps.ts";
import { LABEL_INSTANCE } from "../labels.ts";
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

/** After traffic cancelled a stop, the app is looked at again this soon (its idle deadline may have passed). */
const AFTER_CANCEL_MS = 1000;

export type DataPlanePass = { idle: IdleState; objects: KubeObject[] };

export function dataPlaneRouting(deps: Deps, routing: GatewayApiRouting) {
  // When this process pointed an app's endpoints at the activator, per app key, while the stop
  // sequence lasts: the slice's annotation says the same durably, but the cache can lag our own
  // write, and a pass reading the older slice would restart the grace.
  const switched = new Map<string, number>();
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
    const step = stopStep({
      wantStop,
      cancellable: !held && idle.stopReason === "Idle",
      readyPods: pods.length,
      proxySince: switched.get(key) ?? (Number.isNaN(liveSince) ? undefined : liveSince),
      lastActivity: Date.parse(app.status?.lastActivity ?? "") || 0,
      now,
      graceMs: routing.stopGraceMs,
    });
    if (wantStop && !step.cancelled && step.proxySince !== undefined) switched.set(key, step.proxySince);
    else switched.delete(key);
    if (step.cancelled) deps.log("Stop cancelled: a request reached the activator during the grace", { app: key });

    let next = idle;
    if (wantStop && step.replicas === 1)
      next = {
        replicas: 1,
        ...(step.stopsAt !== undefined ? { stopsAt: new Date(step.stopsAt) } : {}),
        requeueAfterMs: step.requeueAfterMs ?? AFTER_CANCEL_MS,
      };
    const objects = [
      desiredRouteService(app, template),
      desiredHttpRoute(app, template, routing, deps.config.baseDomain),
      desiredEndpointSlice(app, template, routing, { mode: step.mode, pods, proxySince: step.proxySince }),
    ];
    return { idle: next, objects };
  };

  /** Ensures the route, its Service and endpoints (before the Deployment: endpoints move first). */
  const apply = async (pass: DataPlanePass): Promise<void> => {
    const [service, route, slice] = pass.objects as [KubeObject, KubeObject, KubeObject];
    await Promise.all([
      ensure(deps, R.service, service, caches.services),
      caches.httpRoutes && ensure(deps, R.httpRoute, route, caches.httpRoutes),
      caches.routeSlices && ensure(deps, R.endpointSlice, slice, caches.routeSlices),
    ]);
  };

  return { plan, apply, forget: (key: string) => switched.delete(key) };
}

export type DataPlaneRouting = ReturnType<typeof dataPlaneRouting>;

/**
 * Gateway API mode needs the Gateway API's CRDs: without them the operator says so at start,
 * rather than waiting forever for an HTTPRoute cache that cannot fill. (A selector that
 * matches nothing: the answer is empty, or 404 when the resource type does not exist.)
 */
export async function requireGatewayApi(client: KubeClient): Promise<void> {
  try {
    await client.list(R.httpRoute, { labelSelector: "atrium.dev/probe=none" });
  } catch (error) {
    throw new Error(
      `ATRIUM_ROUTING=gateway-api needs the Gateway API CRDs (HTTPRoute ${apiVersionOf(R.httpRoute)}) in the cluster: ${errorMessage(error)}`,
    );
  }
}
