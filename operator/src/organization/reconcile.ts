import { activeAdminsAmong, namespaceFor, type Organization } from "@atrium/crds";
import { type KubeObject, R } from "@atrium/kube";
import { type Deps, ensure, type Obj, writeStatus } from "../deps.ts";
import { FINALIZER, MANAGED_SELECTOR } from "../labels.ts";
import { requeueAfter } from "../requeue.ts";
import { findCondition, isSubset, jsonEqual, setCondition, setConditions } from "../runtime/conditions.ts";
import type { Outcome } from "../runtime/queue.ts";
import { adminCondition, invitedAdmins } from "./admins.ts";
import { deletionCondition, deletionState } from "./deletion.ts";
import {
  desiredBuiltInRoles,
  desiredLimitRange,
  desiredNamespace,
  desiredNetworkPolicy,
  desiredResourceQuota,
} from "./desired.ts";
import { PERSISTENT_VOLUME, retainedClaims, retainPatch } from "./volumes.ts";

type Org = Obj<Organization>;

export const reconcileOrganization = (deps: Deps) => {
  // What was last announced per org (uid/topic -> status): the cache can lag our own writes.
  const announced = new Map<string, string>();
  return async (key: string): Promise<Outcome> => {
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

    // Asked to be deleted and the grace period is over: delete it, and finalize() removes the
    // namespace and everything in it. Until then it stays whole (its apps held at zero by the
    // app reconciler), so a restore gives everything back.
    const deletion = deletionState(org, deps.now(), deps.config.orgDeletionGraceMs);
    if (deletion.state === "Due") {
      deps.record(
        org,
        "Normal",
        "GracePeriodOver",
        `Deletion asked for by ${deletion.requestedBy}: the grace period ended at ${deletion.deletesAt.toISOString()}; deleting the organization`,
      );
      await deps.client.delete(R.organization, org.metadata.name);
      return;
    }

    const { caches } = deps;
    const namespace = namespaceFor(org.metadata.name);
    const created = await ensure(deps, R.namespace, desiredNamespace(org), caches.namespaces);
    // What goes in the namespace is written at once (the quota after the LimitRange): a new org is set up in
    // three round trips rather than nine (its apps wait for it; reconcile-1000 creates 50 at once).
    const quota = desiredResourceQuota(org);
    // The quota still follows the LimitRange: a quota on requests refuses pods without them,
    // and the LimitRange's defaults give them some.
    const limitsThenQuota = async () => {
      await ensure(deps, R.limitRange, desiredLimitRange(org, deps.config), caches.limitRanges);
      if (quota) await ensure(deps, R.resourceQuota, quota, caches.resourceQuotas);
      else if (caches.resourceQuotas.get(`${namespace}/atrium-quota`))
        await deps.client.delete(R.resourceQuota, "atrium-quota", namespace);
    };
    await Promise.all([
      limitsThenQuota(),
      ensure(deps, R.networkPolicy, desiredNetworkPolicy(org, deps.config), caches.networkPolicies),
      ...desiredBuiltInRoles(org).map((role) => restoreBuiltInRole(deps, role)),
    ]);
    if (created) deps.record(org, "Normal", "NamespaceCreated", `Created namespace ${namespace}`);

    const apps = caches.appInstances.inNamespace(namespace);
    const members = caches.members.inNamespace(namespace);
    const wasReady = findCondition(org.status?.conditions, "Ready")?.status === "True";
    const levelOf = (role: string) => caches.orgRoles.get(`${namespace}/${role}`)?.spec.level;
    const admins = adminCondition(activeAdminsAmong(members, levelOf), invitedAdmins(members, levelOf, deps.now()));
    const wasScheduled = findCondition(org.status?.conditions, "DeletionScheduled");
    const scheduled = deletionCondition(deletion, wasScheduled);
    const status = {
      namespace,
      memberCount: members.length,
      appCount: apps.length,
      runningAppCount: apps.filter((a) => a.status?.phase === "Running").length,
      ...(deletion.state === "Grace" ? { deletesAt: deletion.deletesAt.toISOString().replace(/\.\d+Z$/, "Z") } : {}),
      observedGeneration: org.metadata.generation,
      conditions: setConditions(
        org.status?.conditions,
        [
          {
            type: "Ready",
            status: "True",
            reason: "Reconciled",
            message: `Namespace ${namespace} and roles are in place`,
          },
          admins,
          ...(scheduled ? [scheduled] : []),
        ],
        org.metadata.generation,
        deps.now(),
      ),
    };
    await writeStatus(deps, R.organization, org, status, ["deletesAt"]);
    const uid = org.metadata.uid ?? org.metadata.name;
    if (!wasReady && announced.get(`${uid}/ready`) !== "True") {
      announced.set(`${uid}/ready`, "True");
      deps.record(org, "Normal", "Ready", `Organization is ready in namespace ${namespace}`);
    }
    // A lost Admin is worth a Warning (a new org without members, or whose first Admin is
    // still invited, is merely not set up yet); once per change, however stale the cached
    // status this pass saw.
    const hadAdmin = findCondition(org.status?.conditions, "AdminPresent")?.status;
    const said = announced.get(`${uid}/admin`) ?? hadAdmin;
    const lost = said === "True" || (members.length > 0 && admins.reason === "NoActiveAdmin");
    if (said !== admins.status && (admins.status === "True" ? said === "False" : lost))
      deps.record(org, admins.status === "True" ? "Normal" : "Warning", admins.reason, admins.message);
    announced.set(`${uid}/admin`, admins.status);
    if (scheduled && scheduled.status !== wasScheduled?.status && announced.get(`${uid}/deletion`) !== scheduled.status)
      deps.record(org, "Normal", scheduled.reason, scheduled.message);
    announced.set(`${uid}/deletion`, scheduled?.status ?? "");
    // Back when the grace period ends (in steps of at most a day).
    return deletion.state === "Grace" ? requeueAfter(deletion.remainingMs + 50) : undefined;
  };
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

/**
 * Deletion: keep the volumes of Retain apps, remove the namespace (and with it every member,
 * role and app), report progress.
 */
async function finalize(deps: Deps, org: Org): Promise<Outcome> {
  if (!org.metadata.finalizers?.includes(FINALIZER)) return;
  const namespace = namespaceFor(org.metadata.name);
  const live = deps.caches.namespaces.get(namespace) ?? (await deps.client.get(R.namespace, namespace));
  if (live) {
    if (!live.metadata.deletionTimestamp) {
      await retainVolumes(deps, org, namespace);
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

/**
 * Before the namespace (and every claim in it) is deleted: the volumes of claims kept under
 * deletionPolicy Retain get reclaim policy Retain and labels naming the org and app, so they
 * and their data outlive the claim. A failure throws, and the namespace is not deleted yet.
 */
async function retainVolumes(deps: Deps, org: Org, namespace: string): Promise<void> {
  const kept: string[] = [];
  // Read fresh, not from the cache: a claim bound a moment ago must not be missed.
  const claims = (await deps.client.list(R.pvc, { namespace, labelSelector: MANAGED_SELECTOR })).items;
  for (const claim of retainedClaims(claims)) {
    const name = (claim.spec as { volumeName: string }).volumeName;
    const volume = await deps.client.get<KubeObject>(PERSISTENT_VOLUME, name);
    if (!volume) continue;
    const patch = retainPatch(org.metadata.name, claim, volume);
    if (patch) await deps.client.mergePatch(PERSISTENT_VOLUME, name, undefined, patch);
    kept.push(name);
  }
  if (kept.length)
    deps.record(
      org,
      "Normal",
      "VolumesRetained",
      `Kept ${kept.length} volume(s) of apps with deletionPolicy Retain: ${kept.join(", ")} (kubectl get pv -l atrium.dev/organization=${org.metadata.name})`,
    );
}
