// Labels and names the operator puts on what it creates, so it can watch only its own
// objects and map each back to its owner.
import { API_VERSION } from "@atrium/crds";
import type { KubeObject, OwnerReference } from "@atrium/kube";

export const FIELD_MANAGER = "atrium-operator";
export const FINALIZER = "atrium.dev/cleanup";

export const LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";
export const LABEL_INSTANCE = "app.kubernetes.io/instance";
export const LABEL_NAME = "app.kubernetes.io/name";
export const LABEL_ORG = "atrium.dev/organization";
export const MANAGED_SELECTOR = `${LABEL_MANAGED_BY}=${FIELD_MANAGER}`;

export const managedLabels = (org: string, extra: Record<string, string> = {}) => ({
  [LABEL_MANAGED_BY]: FIELD_MANAGER,
  [LABEL_ORG]: org,
  ...extra,
});

/** The controller owner reference: garbage collection deletes the child with its owner. */
export const ownerRef = (owner: KubeObject & { kind?: string }): OwnerReference => ({
  apiVersion: owner.apiVersion ?? API_VERSION,
  kind: owner.kind as string,
  name: owner.metadata.name,
  uid: owner.metadata.uid as string,
  controller: true,
  blockOwnerDeletion: true,
});
