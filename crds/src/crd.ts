// Turns a kind's definition into its CustomResourceDefinition manifest. Group, version and
// the `atrium` category are fixed here so every kind agrees on them.
import type { TSchema } from "@sinclair/typebox";
import { type CelRule, cel, toOpenApi } from "./schema.ts";

export const GROUP = "atrium.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;
export const CATEGORY = "atrium";

export type PrinterColumn = {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description?: string;
  /** 0 shows in `kubectl get`; 1 only with `-o wide`. */
  priority?: 0 | 1;
};

export type KindDefinition = {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  scope: "Cluster" | "Namespaced";
  description: string;
  spec: TSchema;
  status: TSchema;
  /** CEL rules on the whole object (they may read metadata.name). */
  rules?: CelRule[];
  /** Names shorter than the 253 (or 63) characters Kubernetes allows, e.g. to leave room for a prefix. */
  maxNameLength?: number;
  printerColumns: PrinterColumn[];
};

const AGE: PrinterColumn = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" };

export function crdManifest(def: KindDefinition) {
  const openAPIV3Schema = {
    type: "object",
    description: def.description,
    required: ["spec"],
    properties: {
      apiVersion: { type: "string" },
      kind: { type: "string" },
      // The one part of metadata a CRD may constrain: the apiserver reports the field by name.
      metadata: def.maxNameLength
        ? { type: "object", properties: { name: { type: "string", maxLength: def.maxNameLength } } }
        : { type: "object" },
      spec: toOpenApi(def.spec),
      status: toOpenApi(def.status),
    },
    ...(def.rules?.length ? cel(...def.rules) : {}),
  };
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${def.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: def.scope,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: def.shortNames,
        categories: [CATEGORY],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [...def.printerColumns, AGE],
          schema: { openAPIV3Schema },
        },
      ],
    },
  };
}
