// Building blocks for the custom resource schemas. Each kind's schema is written once, in
// TypeScript, with TypeBox: the same object is the OpenAPI v3 schema the apiserver enforces
// (crds/manifests/ is generated from it) and, through Static<>, the TypeScript type the
// operator, API and console use. The helpers keep every schema structural (no anyOf/oneOf at
// the top of a property) and bounded (every string and list has a maximum) because the
// apiserver's CEL cost estimator rejects rules over unbounded values.
import { type SchemaOptions, type Static, type TSchema, Type } from "@sinclair/typebox";
import { celString, EMAIL_MAX_LENGTH, EMAIL_MESSAGE, EMAIL_PATTERN } from "./email.ts";

export { type Static, type TSchema, Type };

export type CelRule = {
  rule: string;
  message: string;
  /** A field path relative to the schema the rule sits on, so `kubectl` points at the right field. */
  fieldPath?: string;
  reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
};

/** `x-kubernetes-validations`: CEL rules evaluated by the apiserver on create and update. */
export const cel = (...rules: CelRule[]) => ({ "x-kubernetes-validations": rules });

/** A field that may be set once and never changed (a transition rule on oldSelf). */
export const immutable = (what: string): CelRule => ({
  rule: "self == oldSelf",
  message: `${what} is immutable`,
});

/** A string limited to the given values, typed as their union. */
export const StringEnum = <const T extends readonly string[]>(values: T, options: SchemaOptions = {}) =>
  Type.Unsafe<T[number]>({ type: "string", enum: [...values], ...options });

/** A lower-case RFC 1123 label: what Kubernetes accepts as a name in most places. */
export const DNS_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

export const Name = (description: string, options: SchemaOptions = {}) =>
  Type.String({ description, minLength: 1, maxLength: 63, pattern: DNS_LABEL, ...options });

export const DisplayName = (description = "Human-readable name shown in the console.") =>
  Type.String({ description, minLength: 1, maxLength: 100 });

export const Description = (description = "Free text shown in the console.") =>
  Type.String({ description, maxLength: 2000 });

/** An absolute http(s) URL. `format: uri` alone accepts things like `foo:bar`. */
export const HttpUrl = (description: string) =>
  Type.String({
    description,
    maxLength: 2048,
    ...cel({
      rule: "isURL(self) && url(self).getScheme() in ['http', 'https']",
      message: "must be an absolute http or https URL",
    }),
  });

/**
 * An email address in canonical form (crds/src/email.ts: trimmed, lower case, no display name).
 * A CEL rule rather than `pattern`, so a refusal says what is wrong in words; the API runs the
 * same pattern after normalizing what it receives.
 */
export const Email = (description: string, options: SchemaOptions = {}) =>
  Type.String({
    description,
    minLength: 3,
    maxLength: EMAIL_MAX_LENGTH,
    ...options,
    "x-kubernetes-validations": [
      { rule: `self.matches(${celString(EMAIL_PATTERN)})`, message: EMAIL_MESSAGE },
      ...((options["x-kubernetes-validations"] as CelRule[] | undefined) ?? []),
    ],
  });

/** A Kubernetes resource quantity such as `500m`, `2Gi`. */
export const Quantity = (description: string, options: SchemaOptions = {}) =>
  Type.String({
    description,
    maxLength: 32,
    ...cel({ rule: "isQuantity(self)", message: "must be a Kubernetes quantity such as 500m, 2Gi or 10" }),
    ...options,
  });

/**
 * A Go duration string (`90s`, `12h`, `1h30m`) within [min, max]. The regular expression
 * runs first so that CEL's duration() never sees a value it cannot parse: `&&` short-cuts.
 */
export const Duration = (description: string, min: string, max: string, options: SchemaOptions = {}) =>
  Type.String({
    description,
    maxLength: 32,
    ...cel({
      rule: `self.matches('^([0-9]+(ms|s|m|h))+$') && duration(self) >= duration('${min}') && duration(self) <= duration('${max}')`,
      message: `must be a duration such as 90s, 30m or 12h, between ${min} and ${max}`,
    }),
    ...options,
  });

export const Timestamp = (description: string) => Type.String({ description, format: "date-time", maxLength: 64 });

/** The standard condition shape (metav1.Condition), as `kubectl wait --for=condition=Ready` expects. */
export const Condition = Type.Object({
  type: Type.String({
    maxLength: 316,
    pattern:
      "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
  }),
  status: StringEnum(["True", "False", "Unknown"] as const),
  reason: Type.String({ minLength: 1, maxLength: 1024, pattern: "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$" }),
  message: Type.String({ maxLength: 32768 }),
  lastTransitionTime: Type.String({ format: "date-time" }),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
});
export type Condition = Static<typeof Condition>;

export const Conditions = Type.Array(Condition, {
  description: "Latest observations of the object's state, one per type.",
  maxItems: 16,
  "x-kubernetes-list-type": "map",
  "x-kubernetes-list-map-keys": ["type"],
});

export const ObservedGeneration = Type.Integer({
  description: "The .metadata.generation the status was computed from.",
  minimum: 0,
});

/** Minimal object metadata for the typed objects; the apiserver owns the full schema. */
export type ObjectMeta = {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
};

/** Strips TypeBox's symbol markers: what remains is plain OpenAPI v3 for the CRD. */
export const toOpenApi = (schema: TSchema): Record<string, unknown> => JSON.parse(JSON.stringify(schema));
