// Wires the operator together: informers for every kind it reads, one controller per kind,
// event handlers that map each change to the keys it affects, and leader election that
// decides whether this replica reconciles or only keeps its caches warm.

import {
  LABEL_SLICE_MANAGER,
  type Member,
  namespaceFor,
  normalizeEmail,
  orgOfNamespace,
  ROUTE_SLICE_MANAGER,
} from "@atrium/crds";
import {
  type Change,
  Informer,
  KubeClient,
  type KubeObject,
  keyOf,
  LeaderElector,
  type Logger,
  R,
  watchDataPlanePods,
} from "@atrium/kube";
import type { KubeConfig } from "@kubernetes/client-node";
import { reconcileAppInstance } from "./appinstance/reconcile.ts";
import { reconcileAppTemplate } from "./apptemplate/reconcile.ts";
import type { OperatorConfig } from "./config.ts";
import type { Caches, Deps } from "./deps.ts";
import { FIELD_MANAGER, LABEL_INSTANCE, LABEL_ORG, MANAGED_SELECTOR } from "./labels.ts";
import { reconcileMember } from "./member/reconcile.ts";
import { deletingOrgHold } from "./organization/deletion.ts";
import { reconcileOrganization } from "./organization/reconcile.ts";
import { reconcileOrgRole } from "./orgrole/reconcile.ts";
import { requireGatewayApi } from "./routing/data-plane.ts";
import { Controller } from "./runtime/controller.ts";
import { eventRecorder } from "./runtime/events.ts";
import type { OperatorMetrics } from "./runtime/metrics.ts";
import type { Line, Outcome } from "./runtime/queue.ts";

/** The EndpointSlices the operator writes (Gateway API mode), not the ones the controller copies our labels to. */
const ROUTE_SLICE_SELECTOR = `${MANAGED_SELECTOR},${LABEL_SLICE_MANAGER}=${ROUTE_SLICE_MANAGER}`;

/**
 * An org recounts once its apps and members have been quiet this long after a change. Its
 * counts (appCount, runningAppCount, memberCount) and AdminPresent may lag by this much; in
 * exchange, a burst of changes costs one status write rather than one each.
 */
export const ORG_FOLLOW_MS = 2000;
/**
 * ... and at the latest this long after the first change of a burst that goes on (20 apps
 * created, then starting, over a minute on a busy cluster): one recount per 10 s of it.
 */
export const ORG_FOLLOW_MAX_MS = 10_000;

/**
 * Writes in flight at most for apps (their objects, status and Events together): what bounds
 * the load of a thousand apps on the apiserver. An organization's setup has its own client,
 * so a new org's namespace never waits behind the apps of others.
 */
export const MAX_WRITES_IN_FLIGHT = 32;

/**
 * AppInstance passes at once. A pass writes at most two objects at once (a new app's Service
 * and Deployment) and most write one (status) or none, so passes are bounded by the writes
 * above rather than by themselves: at 16 passes, an app's status waited for a pass slot while
 * half the allowed writes were unused (reconcile-1000: 1,000 status writes queued behind the
 * applies of apps not yet started).
 */
export const APP_CONCURRENCY = 32;

export type OperatorOptions = {
  kc: KubeConfig;
  config: OperatorConfig;
  metrics: OperatorMetrics;
  log: Logger;
  identity: string;
  leaseNamespace: string;
  leaseDurationMs?: number;
  resyncMs?: number;
};

export function createOperator(options: OperatorOptions) {
  const { kc, config, metrics, log } = options;
  const onWrite = (verb: string, resource: string) => metrics.apiWrites.inc({ verb, resource });
  const client = new KubeClient(kc, { fieldManager: FIELD_MANAGER, onWrite });
  // The AppInstance controller's writes and Events (see MAX_WRITES_IN_FLIGHT).
  const appClient = new KubeClient(kc, {
    fieldManager: FIELD_MANAGER,
    onWrite,
    maxWritesInFlight: MAX_WRITES_IN_FLIGHT,
  });
  // Every write but the Lease's goes through `client` or `appClient`, fenced to the current leadership term
  // (ADR 0008): until this replica leads, and from the moment it stops, they fail unsent.
  // The Lease has its own client, unfenced, and its own connections, so renewals never wait
  // behind a busy reconcile's requests.
  const standby = new AbortController();
  standby.abort();
  client.fence(standby.signal);
  appClient.fence(standby.signal);
  const leaseClient = new KubeClient(kc, { fieldManager: FIELD_MANAGER, onWrite });
  const informerOptions = (labelSelector?: string, transform?: (o: KubeObject) => KubeObject) => ({
    labelSelector,
    transform,
    resyncMs: options.resyncMs ?? 10 * 60_000,
    onRestart: (resource: string, reason: string) => metrics.informerRestarts.inc({ resource, reason }),
    onHandlerError: (resource: string) => metrics.informerHandlerErrors.inc({ resource }),
    log,
  });
  const all = (t: (typeof R)[keyof typeof R]) => new Informer(client, t, informerOptions());
  const managed = (t: (typeof R)[keyof typeof R], transform?: (o: KubeObject) => KubeObject) =>
    new Informer(client, t, informerOptions(MANAGED_SELECTOR, transform));
  const caches = {
    organizations: all(R.organization),
    orgRoles: all(R.orgRole),
    members: all(R.member),
    appTemplates: all(R.appTemplate),
    appInstances: all(R.appInstance),
    namespaces: managed(R.namespace),
    resourceQuotas: managed(R.resourceQuota),
    limitRanges: managed(R.limitRange),
    networkPolicies: managed(R.networkPolicy),
    deployments: managed(R.deployment),
    services: managed(R.service),
    pvcs: managed(R.pvc),
    secrets: managed(R.secret),
    pods: managed(R.pod, podSummary),
    // Gateway API mode: its CRDs need not exist otherwise, so neither do these watches.
    ...(config.routing.mode === "gateway-api"
      ? {
          httpRoutes: managed(R.httpRoute),
          routeSlices: new Informer(client, R.endpointSlice, informerOptions(ROUTE_SLICE_SELECTOR)),
          // With external authorization only: Envoy Gateway's CRDs need not exist otherwise.
          ...(config.routing.extAuth
            ? {
                securityPolicies: managed(R.securityPolicy),
                referenceGrants: managed(R.referenceGrant),
                extensionPolicies: managed(R.envoyExtensionPolicy),
              }
            : {}),
        }
      : {}),
  } as unknown as Caches;
  // The data plane's pods, when the stop's checks follow them (routing/stop-checks.ts). Not a
  // cache the start waits for: a watch that cannot list them (say, no right to) leaves the
  // operator reconciling, and no stop confirmed until the pods are listed (fail closed).
  const dataPlanePods =
    config.routing.mode === "gateway-api" && config.routing.stopChecks.pods && config.routing.dataPlane
      ? watchDataPlanePods(client, config.routing.dataPlane, log)
      : undefined;

  const deps: Deps = {
    client,
    metrics,
    caches,
    config,
    log,
    record: eventRecorder(client, FIELD_MANAGER, log),
    now: () => new Date(),
    ...(dataPlanePods ? { dataPlanePods: dataPlanePods.ready } : {}),
  };
  const appDeps: Deps = { ...deps, client: appClient, record: eventRecorder(appClient, FIELD_MANAGER, log) };
  const controller = (
    kind: string,
    reconcile: (d: Deps) => (key: string) => Promise<Outcome>,
    concurrency = 4,
    using: Deps = deps,
  ) => new Controller(kind, reconcile(using), { metrics, log, concurrency });
  const controllers = {
    organization: controller("Organization", reconcileOrganization),
    orgRole: controller("OrgRole", reconcileOrgRole),
    member: controller("Member", reconcileMember),
    appTemplate: controller("AppTemplate", reconcileAppTemplate),
    appInstance: controller("AppInstance", reconcileAppInstance, APP_CONCURRENCY, appDeps),
  };

  // Until this replica leads, changes only warm the caches.
  let leading = false;
  const to =
    (c: Controller) =>
    (key: string | undefined, line: Line = "now") => {
      if (leading && key) c.enqueue(key, line);
    };
  const toOrg = to(controllers.organization);
  // An org's counts and AdminPresent follow its apps and members: a burst of their changes
  // (20 apps starting) is folded into one pass once they pause for ORG_FOLLOW_MS (one per
  // ORG_FOLLOW_MAX_MS while they go on), not one status write per change. The org's own
  // changes and its children's still go at once.
  const followOrg = (key: string | undefined) => {
    if (leading && key) controllers.organization.queue.addWhenQuiet(key, ORG_FOLLOW_MS, ORG_FOLLOW_MAX_MS);
  };
  const toApp = to(controllers.appInstance);
  const orgOf = (ch: Change<KubeObject>) =>
    ch.object.metadata.labels?.[LABEL_ORG] ?? orgOfNamespace(ch.object.metadata.namespace);
  const appOf = (ch: Change<KubeObject>) => {
    const instance = ch.object.metadata.labels?.[LABEL_INSTANCE];
    return instance ? `${ch.object.metadata.namespace}/${instance}` : undefined;
  };

  caches.organizations.on((ch) => {
    toOrg(ch.key);
    // Deletion asked for or taken back (or the org being removed): its apps stop or may run again.
    if (ch.old && !!deletingOrgHold(ch.old) !== !!deletingOrgHold(ch.object))
      for (const app of caches.appInstances.inNamespace(namespaceFor(ch.key))) toApp(keyOf(app));
  });
  for (const c of [caches.namespaces, caches.resourceQuotas, caches.limitRanges, caches.networkPolicies])
    c.on((ch) => toOrg(orgOf(ch)));
  caches.orgRoles.on((ch) => {
    to(controllers.orgRole)(ch.key);
    if (ch.type === "deleted" || ch.object.spec?.builtIn) toOrg(orgOf(ch)); // restore built-ins
    for (const m of caches.members.inNamespace(ch.object.metadata.namespace ?? ""))
      if (m.spec.role === ch.object.metadata.name) to(controllers.member)(keyOf(m));
  });
  caches.members.on((ch) => {
    to(controllers.member)(ch.key);
    const ns = ch.object.metadata.namespace;
    to(controllers.orgRole)(`${ns}/${ch.object.spec.role}`);
    if (ch.old && ch.old.spec.role !== ch.object.spec.role) to(controllers.orgRole)(`${ns}/${ch.old.spec.role}`);
    // Member counts, and whether an active Admin is left (AdminPresent).
    if (ch.type !== "updated" || adminFacts(ch.old) !== adminFacts(ch.object)) followOrg(orgOf(ch));
    // Who owns an address changes when a Member with it comes or goes (DuplicateEmail).
    if (ch.type !== "updated") {
      const email = normalizeEmail(ch.object.spec.email);
      for (const m of caches.members.inNamespace(ns ?? ""))
        if (m.metadata.name !== ch.object.metadata.name && normalizeEmail(m.spec.email) === email)
          to(controllers.member)(keyOf(m));
    }
  });
  caches.appTemplates.on((ch) => {
    to(controllers.appTemplate)(ch.key);
    for (const app of caches.appInstances.list((a) => a.spec.template === ch.key)) toApp(keyOf(app));
  });
  caches.appInstances.on((ch) => {
    toApp(ch.key, appPassLine(ch));
    if (ch.type !== "updated" || ch.old?.status?.phase !== ch.object.status?.phase) followOrg(orgOf(ch));
  });
  for (const c of [caches.deployments, caches.services, caches.pvcs, caches.secrets, caches.pods])
    c.on((ch) => toApp(appOf(ch)));
  for (const c of [caches.httpRoutes, caches.routeSlices, caches.securityPolicies, caches.extensionPolicies])
    c?.on((ch) => toApp(appOf(ch)));

  const informers = Object.values(caches) as Informer[];
  const leaseDurationMs = options.leaseDurationMs ?? 15_000;
  const elector = new LeaderElector(leaseClient, {
    namespace: options.leaseNamespace,
    name: "atrium-operator",
    identity: options.identity,
    // client-go's proportions: renew deadline 10 s and retry 2 s for a 15 s lease.
    leaseDurationMs,
    renewDeadlineMs: Math.round(leaseDurationMs * (2 / 3)),
    retryPeriodMs: Math.max(500, Math.round(leaseDurationMs / 7.5)),
    log,
  });

  let term = standby;
  const startLeading = () => {
    term = new AbortController();
    client.fence(term.signal);
    appClient.fence(term.signal);
    leading = true;
    metrics.leader.set(1);
    const everything: [{ list(): KubeObject[] }, Controller][] = [
      [caches.organizations, controllers.organization],
      [caches.orgRoles, controllers.orgRole],
      [caches.members, controllers.member],
      [caches.appTemplates, controllers.appTemplate],
      [caches.appInstances, controllers.appInstance],
    ];
    for (const [cache, controller] of everything)
      for (const o of cache.list())
        to(controller)(
          keyOf(o),
          controller === controllers.appInstance ? appPassLine({ type: "added", object: o }) : "now",
        );
  };
  /** Ends the term: writes in flight are cut off, queued work dropped, handlers stop enqueueing. */
  const stopLeading = (reason: string) => {
    leading = false;
    term.abort(new Error(reason));
    metrics.leader.set(0);
    for (const c of Object.values(controllers)) c.queue.clear();
  };

  return {
    client,
    caches,
    controllers,
    elector,
    get leading() {
      return leading;
    },
    synced: () => informers.every((i) => i.hasSynced),
    /**
     * Starts the caches, then campaigns: reconciles while leading. A leader that cannot renew
     * (say, while the apiserver restarts, or cut off from it) is fenced at its renew deadline,
     * drops its queues, goes back to standby with warm caches and campaigns again, rather
     * than exiting.
     */
    async run(): Promise<void> {
      await ensureNamespace(leaseClient, options.leaseNamespace);
      if (config.routing.mode === "gateway-api") await requireGatewayApi(leaseClient, config.routing);
      for (const i of informers) i.start();
      dataPlanePods?.start();
      await Promise.all(informers.map((i) => i.synced));
      log("Caches synced", { informers: informers.length });
      while (await elector.acquire()) {
        startLeading();
        if ((await elector.renewUntilLost()) === "stopped") return;
        stopLeading("leadership lost");
      }
    },
    async stop(): Promise<void> {
      stopLeading("shutting down");
      for (const c of Object.values(controllers)) c.queue.shutdown();
      for (const i of informers) i.stop();
      dataPlanePods?.stop();
      await elector.release();
      metrics.leader.set(0);
    },
    /** Keys queued per kind, with those due within ORG_FOLLOW_MS or waiting for quiet (an org about to recount is not settled). */
    queues: () =>
      Object.fromEntries(
        Object.values(controllers).map((c) => [c.kind, c.queue.depth + c.queue.dueWithin(ORG_FOLLOW_MS)]),
      ) as Record<string, number>,
  };
}

/**
 * Pods are the most numerous and the largest objects the operator watches; app status needs
 * only their labels and a few status fields, so that is all the cache keeps.
 */
export function podSummary(pod: KubeObject): KubeObject {
  const { name, namespace, uid, resourceVersion, labels, deletionTimestamp } = pod.metadata;
  const status = (pod.status ?? {}) as {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    containerStatuses?: { state?: { waiting?: unknown } }[];
  };
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, uid, resourceVersion, labels, ...(deletionTimestamp ? { deletionTimestamp } : {}) },
    status: {
      phase: status.phase,
      // Gateway API mode writes the ready pods' addresses into the route's endpoints.
      ...(status.podIP ? { podIP: status.podIP } : {}),
      conditions: status.conditions?.map(({ type, status, reason, message }) => ({ type, status, reason, message })),
      containerStatuses: status.containerStatuses?.map((c) => ({ state: { waiting: c.state?.waiting } })),
    },
  };
}

async function ensureNamespace(client: KubeClient, name: string) {
  if (await client.get(R.namespace, name)) return;
  try {
    await client.create(R.namespace, { metadata: { name } });
  } catch {
    // Another replica made it first.
  }
}

/**
 * The line an AppInstance's change queues its pass in. A new app (added, and never reported
 * on: no phase) waits for its first pass, which creates its children, in the `later` line:
 * behind every other pass, such as an app reporting what its Deployment now shows (Ready), a
 * wake, or an edit. Under a burst of a thousand new apps those passes would otherwise wait
 * behind every creation still to do (a minute at reconcile-1000), so that apps long running
 * showed no status and a woken app waited. A share of the turns still goes to new apps
 * (LATER_SHARE in runtime/queue.ts).
 */
export const appPassLine = (change: Pick<Change<KubeObject>, "type" | "object">): Line =>
  change.type === "added" && !(change.object.status as { phase?: string } | undefined)?.phase ? "later" : "now";

/** What of a member decides whether it is an active Admin. */
const adminFacts = (m: Member | undefined) => `${m?.spec.role}/${m?.spec.active}/${Boolean(m?.status?.joinedAt)}`;

export type Operator = ReturnType<typeof createOperator>;
