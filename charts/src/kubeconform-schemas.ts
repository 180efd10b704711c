// kubeconform's JSON schemas, made offline: Kubernetes' own from the OpenAPI (v2) document of the
// pinned k8s.io/kubernetes module (charts/tools.sh copies it), Atrium's from its CRDs. Written in
// kubeconform's layout, <kind><-group>-<version>.json, strict: an object with declared
// properties refuses any other, so a misspelt field fails instead of passing unseen.
//
//   node charts/src/kubeconform-schemas.ts <swagger.json> <out dir>
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { crdManifests } from "@atrium/crds";

type Json = { [key: string]: unknown };
type Gvk = { group: string; version: string; kind: string };

/** kubeconform's file name for a kind: lower-case kind, the group's first label, the version. */
export const schemaFile = ({ group, version, kind }: Gvk) =>
  `${kind.toLowerCase()}${group ? `-${group.split(".")[0]}` : ""}-${version}.json`.toLowerCase();

/**
 * A schema made strict and true to what the apiserver accepts: declared properties only
 * (unless unknown fields are preserved), int-or-string and quantities as either.
 */
export function strict(schema: unknown): unknown {
  if (!schema || typeof schema !== "object" || Array.isArray(schema)) return schema;
  const s = { ...(schema as Json) };
  const each = (map: unknown) =>
    Object.fromEntries(Object.entries((map ?? {}) as Json).map(([k, v]) => [k, strict(v)]));
  if (s.properties) s.properties = each(s.properties);
  if (s.definitions) s.definitions = each(s.definitions);
  if (s.items) s.items = strict(s.items);
  if (typeof s.additionalProperties === "object") s.additionalProperties = strict(s.additionalProperties);
  for (const k of ["allOf", "anyOf", "oneOf"]) if (Array.isArray(s[k])) s[k] = (s[k] as unknown[]).map(strict);
  if (s["x-kubernetes-int-or-string"] || s.format === "int-or-string") {
    delete s.type;
    delete s.format;
    s.anyOf = [{ type: "string" }, { type: "integer" }];
  }
  if (s.properties && s.additionalProperties === undefined && !s["x-kubernetes-preserve-unknown-fields"])
    s.additionalProperties = false;
  // The apiserver fills defaults before it validates: a defaulted field may be left out.
  if (Array.isArray(s.required)) {
    const props = (s.properties ?? {}) as Record<string, Json>;
    s.required = (s.required as string[]).filter((k) => props[k]?.default === undefined);
    if (!(s.required as string[]).length) delete s.required; // draft 4 wants at least one
  }
  // OpenAPI's nullable: JSON Schema says it with a type list.
  if (s.nullable === true && typeof s.type === "string") s.type = [s.type, "null"];
  return s;
}

/** Kubernetes' kinds: each file refers into one shared _definitions.json. */
export function kubernetesSchemas(swagger: { definitions: Record<string, Json> }): Map<string, unknown> {
  const definitions = Object.fromEntries(Object.entries(swagger.definitions).map(([k, v]) => [k, strict(v)])) as Record<
    string,
    Json
  >;
  // Quantities are written as numbers as often as strings (cpu: 1).
  definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {
    anyOf: [{ type: "string" }, { type: "number" }],
  };
  const files = new Map<string, unknown>([["_definitions.json", { definitions }]]);
  for (const [name, def] of Object.entries(swagger.definitions)) {
    const gvks = (def["x-kubernetes-group-version-kind"] ?? []) as Gvk[];
    for (const gvk of gvks) files.set(schemaFile(gvk), { $ref: `_definitions.json#/definitions/${name}` });
  }
  return files;
}

const OBJECT_META = {
  type: "object",
  properties: {
    name: { type: "string" },
    namespace: { type: "string" },
    labels: { type: "object", additionalProperties: { type: "string" } },
    annotations: { type: "object", additionalProperties: { type: "string" } },
  },
};

/** Atrium's kinds, from the CRDs' openAPIV3Schema of each served version. */
export function atriumSchemas(): Map<string, unknown> {
  const files = new Map<string, unknown>();
  for (const crd of crdManifests() as unknown as {
    spec: { group: string; names: { kind: string }; versions: { name: string; schema: { openAPIV3Schema: Json } }[] };
  }[]) {
    for (const v of crd.spec.versions) {
      const schema = strict(v.schema.openAPIV3Schema) as Json;
      const properties = (schema.properties ?? {}) as Json;
      schema.properties = {
        ...properties,
        apiVersion: { enum: [`${crd.spec.group}/${v.name}`] },
        kind: { enum: [crd.spec.names.kind] },
        metadata: OBJECT_META,
      };
      schema.required = [...new Set(["apiVersion", "kind", "metadata", ...((schema.required as string[]) ?? [])])];
      files.set(schemaFile({ group: crd.spec.group, version: v.name, kind: crd.spec.names.kind }), schema);
    }
  }
  return files;
}

if (import.meta.main) {
  const [swaggerPath, out] = process.argv.slice(2);
  if (!swaggerPath || !out) throw new Error("usage: kubeconform-schemas.ts <swagger.json> <out dir>");
  mkdirSync(out, { recursive: true });
  const files = new Map([...kubernetesSchemas(JSON.parse(readFileSync(swaggerPath, "utf8"))), ...atriumSchemas()]);
  for (const [name, schema] of files) writeFileSync(join(out, name), JSON.stringify(schema));
  console.log(`Wrote ${files.size} schemas to ${out}`);
}
