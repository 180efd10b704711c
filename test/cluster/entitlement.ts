// Publishes an AppInstance's status.entitlement exactly as Atrium's API does (api/src/billing):
// server-side apply on the status subresource as field manager `atrium-api`, sending only that
// field. For tests of the operator and the gateway without the API, and of paid templates.
import type { Entitlement } from "@atrium/crds";
import { KubeClient, type KubeObject, R } from "@atrium/kube";
import type { KubeConfig } from "@kubernetes/client-node";

export async function publishEntitlement(
  kc: KubeConfig,
  app: { namespace: string; name: string },
  entitlement: Entitlement,
): Promise<void> {
  const api = new KubeClient(kc, { fieldManager: "atrium-api" });
  await api.apply(
    R.appInstance,
    { metadata: { name: app.name, namespace: app.namespace }, status: { entitlement } } as KubeObject,
    { subresource: "status" },
  );
}

/** A subscription that lets the app run for good (for tests about something else than billing). */
export const ACTIVE: Entitlement = { allowed: true, reason: "Active", message: "Paid (test)" };
