import { isPermission } from "@atrium/crds";
import { R } from "@atrium/kube";
import { type Deps, writeStatus } from "../deps.ts";
import { setCondition } from "../runtime/conditions.ts";
import type { Outcome } from "../runtime/queue.ts";

/** Permissions the catalog does not know: they grant nothing, and the role says so. */
export const unknownPermissions = (permissions: readonly string[]) => permissions.filter((p) => !isPermission(p));

export const reconcileOrgRole =
  (deps: Deps) =>
  async (key: string): Promise<Outcome> => {
    const role = deps.caches.orgRoles.get(key);
    if (!role || role.metadata.deletionTimestamp) return;
    const unknown = unknownPermissions(role.spec.permissions);
    const memberCount = deps.caches.members
      .inNamespace(role.metadata.namespace as string)
      .filter((m) => m.spec.role === role.metadata.name).length;
    const condition =
      unknown.length === 0
        ? { type: "Ready", status: "True" as const, reason: "Valid", message: "All permissions are in the catalog" }
        : {
            type: "Ready",
            status: "False" as const,
            reason: "UnknownPermissions",
            message: `Not in the permission catalog, so granting nothing: ${unknown.join(", ")}`,
          };
    const status = {
      memberCount,
      ...(unknown.length ? { unknownPermissions: unknown } : {}),
      observedGeneration: role.metadata.generation,
      conditions: setCondition(role.status?.conditions, condition, role.metadata.generation, deps.now()),
    };
    const changed = await writeStatus(deps, R.orgRole, role, status, ["unknownPermissions"]);
    if (changed && unknown.length && role.status?.unknownPermissions?.join() !== unknown.join())
      deps.record(role, "Warning", "UnknownPermissions", condition.message);
  };
