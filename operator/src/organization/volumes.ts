// Volumes that outlive their organization. An app with storage.deletionPolicy Retain leaves its
// claim behind when the app is deleted (no owner reference), but deleting the organization
// deletes its namespace, the claim with it, and, under the storage class's usual reclaim
// policy Delete, the volume and its data. So before the namespace goes, the finalizer sets
// every such volume's reclaim policy to Retain and labels it with the organization and app:
// the PersistentVolume stays (Released) with its data, findable by label.
import type { KubeObject, ResourceType } from "@atrium/kube";
import { LABEL_INSTANCE, LABEL_ORG } from "../labels.ts";

export const PERSISTENT_VOLUME: ResourceType = {
  group: "",
  version: "v1",
  plural: "persistentvolumes",
  kind: "PersistentVolume",
  namespaced: false,
};

export const LABEL_RETAINED_APP = "atrium.dev/app";
export const ANNOTATION_RETAINED_CLAIM = "atrium.dev/retained-claim";

type Claim = KubeObject & { spec?: { volumeName?: string } };
type Volume = KubeObject & { spec?: { persistentVolumeReclaimPolicy?: string } };

/** Claims to keep: bound, and without an owner reference (the operator sets one only under Delete). */
export const retainedClaims = (claims: readonly Claim[]) =>
  claims.filter((c) => !c.metadata.ownerReferences?.length && c.spec?.volumeName);

/** The merge patch that keeps a claim's volume, or undefined when the volume already is kept. */
export function retainPatch(org: string, claim: Claim, volume: Volume): Record<string, unknown> | undefined {
  const app = claim.metadata.labels?.[LABEL_INSTANCE] ?? claim.metadata.name;
  const claimRef = `${claim.metadata.namespace}/${claim.metadata.name}`;
  const labels = { [LABEL_ORG]: org, [LABEL_RETAINED_APP]: app };
  const kept =
    volume.spec?.persistentVolumeReclaimPolicy === "Retain" &&
    Object.entries(labels).every(([k, v]) => volume.metadata.labels?.[k] === v) &&
    volume.metadata.annotations?.[ANNOTATION_RETAINED_CLAIM] === claimRef;
  if (kept) return undefined;
  return {
    metadata: { labels, annotations: { [ANNOTATION_RETAINED_CLAIM]: claimRef } },
    spec: { persistentVolumeReclaimPolicy: "Retain" },
  };
}
