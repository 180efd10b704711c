import { namespaceFor, type Organization } from "@atrium/crds";
import { type KubeObject, R } from "@atrium/kube";
import { type Deps, ensure, type Obj, writeStatus } from "../deps.ts";
import { FINALIZER } from "../labels.ts";
import { findCondition, isSubset, jsonEqual, setCondition } from "../runtime/conditions.ts";
import type { Outcome } from "../runtime/queue.ts";
import {
  desiredBuiltInRoles,
  desiredLimitRange,
  desiredNamespace,
  desiredNetworkPolicy,
  desiredResourceQuota,
} from "./desired.ts";

type Org = Obj<Organization>;

export const reconcileOrganization =
  (deps: Deps) =>
  async (key: string): Promise<Outcome> => {
    const org = deps.caches.organizations.get(key);
    if (!org) return;
    if (org.metadata.deletionTimestamp) return finalize(deps, org);

    if (!org.metadata.finalizers?.includes(FINALIZER)) {
      // Merge patch with the resourceVersion: a concurrent change makes this fail and retry.
      await deps.client.mergePatch(R.organization, org.metadata.name, undefined, {
        metadata: {
          resourceVersion: org.metadata.resourceVersion,
          finalizers: [...(org.metadata.finalizers ?? []), FINALIZER],
        },
      });
      return; // the update event brings us back with the finalizer in place
    }

    const { caches } = deps;
    const namespace = namespaceFor(org.metadata.name);
    const created = await ensure(deps, R.namespace, desiredNamespace(org), caches.namespaces);
    await ensure(deps, R.limitRange, desiredLimitRange(org, deps.config), caches.limitRanges);
    await ensure(deps, R.networkPolicy, desiredNetworkPolicy(org, deps.config), caches.networkPolicies);
    const quota = desiredResourceQuota(org);
    if (quota) await ensure(deps, R.resourceQuota, quota, caches.resourceQuotas);
    else if (caches.resourceQuotas.get(`${namespace}/atrium-quota`))
      await deps.client.delete(R.resourceQuota, "atrium-quota", namespace);
    for (const role of desiredBuiltInRoles(org)) await restoreBuiltInRole(deps, role);
    if (created) deps.record(org, "Normal", "NamespaceCreated", `Created namespace ${namespace}`);

    const apps = caches.appInstances.inNamespace(namespace);
    const wasReady = findCondition(org.status?.conditions, "Ready")?.status === "True";
    const status = {
      namespace,
      memberCount: caches.members.inNamespace(namespace).length,
      appCount: apps.length,
      runningAppCount: apps.filter((a) => a.status?.phase === "Running").length,
      observedGeneration: org.metadata.generation,
      conditions: setCondition(
        org.status?.conditions,
        {
          type: "Ready",
          status: "True",
          reason: "Reconciled",
          message: `Namespace ${namespace} and roles are in place`,
        },
        org.metadata.generation,
        deps.now(),
      ),
    };
    await writeStatus(deps, R.organization, org, status);
    if (!wasReady) deps.record(org, "Normal", "Ready", `Organization is ready in namespace ${namespace}`);
  };

/**
 * Built-in roles are applied like any child, but an edit (say, a permission added with
 * kubectl edit) belongs to another field manager and would survive an apply: put the spec
 * back whole with an update instead.
 */
async function restoreBuiltInRole(deps: Deps, desired: KubeObject & { spec: unknown }): Promise<void> {
  const live = deps.caches.orgRoles.get(`${desired.metadata.namespace}/${desired.metadata.name}`);
  if (!live) {
    await deps.client.apply(R.orgRole, desired);
    return;
  }
  if (await ensureSpecEqual(deps, live, desired)) {
    deps.record(
      live,
      "Warning",
      "BuiltInRoleRestored",
      `Built-in role ${desired.metadata.name} was changed; restored it`,
    );
  }
}

async function ensureSpecEqual(
  deps: Deps,
  live: KubeObject & { spec?: unknown },
  desired: KubeObject & { spec: unknown },
) {
  const labelsOk = isSubset(desired.metadata.labels, live.metadata.labels);
  const ownersOk = isSubset(desired.metadata.ownerReferences, live.metadata.ownerReferences);
  if (jsonEqual(desired.spec, live.spec) && labelsOk && ownersOk) return false;
  await deps.client.replace(R.orgRole, {
    ...live,
    metadata: {
      ...live.metadata,
      labels: { ...live.metadata.labels, ...desired.metadata.labels },
      ownerReferences: desired.metadata.ownerReferences,
    },
    spec: desired.spec,
  });
  return true;
}

/** Deletion: remove the namespace (and with it every member, role and app), report progress. */
async function finalize(deps: Deps, org: Org): Promise<Outcome> {
  if (!org.metadata.finalizers?.includes(FINALIZER)) return;
  const namespace = namespaceFor(org.metadata.name);
  const live = deps.caches.namespaces.get(namespace) ?? (await deps.client.get(R.namespace, namespace));
  if (live) {
    if (!live.metadata.deletionTimestamp) {
      await deps.client.delete(R.namespace, namespace);
      deps.record(org, "Normal", "Deleting", `Deleting namespace ${namespace} and everything in it`);
    }
    const apps = deps.caches.appInstances.inNamespace(namespace).length;
    const members = deps.caches.members.inNamespace(namespace).length;
    await writeStatus(deps, R.organization, org, {
      ...org.status, // all of an organization's status is the operator's
      appCount: apps,
      memberCount: members,
      conditions: setCondition(
        org.status?.conditions,
        {
          type: "Ready",
          status: "False",
          reason: "Deleting",
          message: `Waiting for namespace ${namespace} to be deleted (${apps} apps, ${members} members left)`,
        },
        org.metadata.generation,
        deps.now(),
      ),
    });
    return { requeueAfterMs: 2000 };
  }
  await deps.client.mergePatch(R.organization, org.metadata.name, undefined, {
    metadata: {
      resourceVersion: org.metadata.resourceVersion,
      finalizers: (org.metadata.finalizers ?? []).filter((f) => f !== FINALIZER),
    },
  });
  deps.log("Organization cleaned up", { kind: "Organization", name: org.metadata.name });
  return;
}
