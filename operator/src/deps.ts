// What every reconciler works with: the API client, the informer caches, an event recorder.
import type { AppInstance, AppTemplate, Member, Organization, OrgRole } from "@atrium/crds";
import {
  type Informer,
  type KubeClient,
  type KubeObject,
  keyOf,
  type Logger,
  type ReadyDataPlanePod,
  type ResourceType,
} from "@atrium/kube";
import type { OperatorConfig } from "./config.ts";
import { foreignController, OwnedByAnother, ownerExists } from "./ownership.ts";
import type { DataPlaneChecks } from "./routing/stop-checks.ts";
import { appliedDigestMemo } from "./runtime/applied.ts";
import { isSubset, jsonEqual } from "./runtime/conditions.ts";
import type { Recorder } from "./runtime/events.ts";
import type { OperatorMetrics } from "./runtime/metrics.ts";

export type Obj<T> = T & KubeObject;

export type Caches = {
  organizations: Informer<Obj<Organization>>;
  orgRoles: Informer<Obj<OrgRole>>;
  members: Informer<Obj<Member>>;
  appTemplates: Informer<Obj<AppTemplate>>;
  appInstances: Informer<Obj<AppInstance>>;
  namespaces: Informer;
  resourceQuotas: Informer;
  limitRanges: Informer;
  networkPolicies: Informer;
  deployments: Informer;
  services: Informer;
  pvcs: Informer;
  secrets: Informer;
  pods: Informer;
  /** Gateway API mode only (routing/): the apps' HTTPRoutes and the EndpointSlices the operator writes. */
  httpRoutes?: Informer;
  routeSlices?: Informer;
  /** Gateway API mode with external authorization (routing/ext-auth.ts): apps' SecurityPolicies, org namespaces' grants. */
  securityPolicies?: Informer;
  referenceGrants?: Informer;
  /** The same mode: Public apps' EnvoyExtensionPolicies (routing/credential-filter.ts). */
  extensionPolicies?: Informer;
};

export type Deps = {
  client: KubeClient;
  metrics: OperatorMetrics;
  caches: Caches;
  record: Recorder;
  config: OperatorConfig;
  log: Logger;
  now: () => Date;
  /** Gateway API mode: how a stop's checks reach the data plane (routing/stop-checks.ts); unset: over HTTP. */
  dataPlaneChecks?: DataPlaneChecks;
  /** The same, following the data plane's pods (routing.stopChecks.pods): those ready now. */
  dataPlanePods?: () => ReadyDataPlanePod[];
};

/** Stamped desired objects, remembered for the next pass (an app's few objects, for every app). */
const stampDesired = appliedDigestMemo(8192);

/**
 * Server-side applies `desired` unless the cached live object already has every field we
 * declare AND was applied from this same desired object (the digest annotation, see
 * runtime/applied.ts): an unchanged world costs no write, while a field we stop declaring is
 * applied away, and a field someone else changed is put back.
 */
export async function ensure(deps: Deps, type: ResourceType, desired: KubeObject, cache: Informer): Promise<boolean> {
  const stamped = stampDesired(`${type.plural}/${keyOf(desired)}`, desired);
  const live = cache.get(keyOf(desired));
  // Another owner's object of the same name is never adopted (ownership.ts).
  const foreign = foreignController(desired, live);
  if (foreign && ownerExists(deps.caches, foreign, desired.metadata.namespace))
    throw new OwnedByAnother(type.kind, desired, foreign);
  if (live && isSubset(stamped, live)) return false;
  await deps.client.apply(type, stamped);
  return true;
}

/**
 * Writes the operator's part of `status` through the /status subresource when it differs
 * from the stored one. Other writers own other status fields (the API sets a member's
 * joinedAt, the gateway an app's lastActivity), so only `owned` fields are compared and sent;
 * an owned field left out of `status` is removed by the apply.
 */
export async function writeStatus<T extends KubeObject & { status?: unknown }>(
  deps: Deps,
  type: ResourceType,
  object: T,
  status: Record<string, unknown>,
  owned: readonly string[] = [],
): Promise<boolean> {
  const live = (object.status ?? {}) as Record<string, unknown>;
  const keys = new Set([...Object.keys(status), ...owned]);
  const ours = Object.fromEntries([...keys].filter((k) => live[k] !== undefined).map((k) => [k, live[k]]));
  if (jsonEqual(status, ours)) return false;
  await deps.client.apply(
    type,
    { metadata: { name: object.metadata.name, namespace: object.metadata.namespace }, status } as KubeObject,
    { subresource: "status" },
  );
  return true;
}
