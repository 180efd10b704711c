import type { KindDefinition } from "../crd.ts";
import { celString } from "../email.ts";
import {
  Conditions,
  Description,
  DisplayName,
  DNS_LABEL,
  HttpUrl,
  type ObjectMeta,
  ObservedGeneration,
  Quantity,
  type Static,
  StringEnum,
  Timestamp,
  Type,
} from "../schema.ts";

/** Organizations own namespace `org-<name>`, which must stay a valid 63-character label. */
export const MAX_ORG_NAME = 59;
export const namespaceFor = (org: string) => `org-${org}`;

/** The organization a namespaced Atrium object belongs to, from its namespace `org-<name>`. */
export const orgOfNamespace = (namespace: string | undefined) =>
  namespace?.startsWith("org-") ? namespace.slice(4) : undefined;

export const OrganizationSpec = Type.Object({
  displayName: DisplayName(),
  description: Type.Optional(Description()),
  logoUrl: Type.Optional(HttpUrl("Logo shown in the console and emails.")),
  quotas: Type.Optional(
    Type.Object(
      {
        maxApps: Type.Optional(Type.Integer({ description: "Installed apps at most.", minimum: 0, maximum: 1000 })),
        maxMembers: Type.Optional(Type.Integer({ description: "Members at most.", minimum: 1, maximum: 100000 })),
        cpu: Type.Optional(Quantity("Total CPU requests of the org's workloads (ResourceQuota).")),
        memory: Type.Optional(Quantity("Total memory requests of the org's workloads (ResourceQuota).")),
        storage: Type.Optional(Quantity("Total persistent storage requested by the org's apps.")),
      },
      { description: "Limits the operator turns into a ResourceQuota in the org's namespace." },
    ),
  ),
  notifications: Type.Optional(
    Type.Object(
      {
        email: Type.Boolean({ description: "Send notices (invitations are always sent).", default: true }),
        digest: StringEnum(["none", "daily", "weekly"] as const, {
          description: "Activity summary for admins.",
          default: "weekly",
        }),
      },
      { description: "How the org hears about activity." },
    ),
  ),
  deletion: Type.Optional(
    Type.Object(
      {
        requestedAt: Timestamp("When deletion was asked for: the grace period counts from here."),
        requestedBy: Type.String({ description: "Who asked (an email address).", minLength: 1, maxLength: 320 }),
      },
      {
        description:
          "Set: the organization is to be deleted. Its apps are stopped and its API keys refused at once; the operator deletes it when the grace period (ATRIUM_ORG_DELETION_GRACE, 30 days) is over. Removing it restores the organization.",
      },
    ),
  ),
});

export const OrganizationStatus = Type.Object({
  namespace: Type.Optional(Type.String({ description: "The namespace holding the org's members, roles and apps." })),
  memberCount: Type.Optional(Type.Integer({ minimum: 0 })),
  appCount: Type.Optional(Type.Integer({ minimum: 0 })),
  runningAppCount: Type.Optional(Type.Integer({ minimum: 0 })),
  deletesAt: Type.Optional(
    Timestamp("When the operator deletes the organization (spec.deletion.requestedAt plus the grace period)."),
  ),
  observedGeneration: Type.Optional(ObservedGeneration),
  conditions: Type.Optional(Conditions),
});

export type OrganizationSpec = Static<typeof OrganizationSpec>;
export type OrganizationStatus = Static<typeof OrganizationStatus>;
export type Organization = {
  apiVersion: "atrium.dev/v1alpha1";
  kind: "Organization";
  metadata: ObjectMeta;
  spec: OrganizationSpec;
  status?: OrganizationStatus;
};

export const organizationKind: KindDefinition = {
  kind: "Organization",
  plural: "organizations",
  singular: "organization",
  shortNames: ["org", "orgs"],
  scope: "Cluster",
  description: "A tenant: its members, roles and apps live in the namespace org-<name>.",
  spec: OrganizationSpec,
  status: OrganizationStatus,
  maxNameLength: MAX_ORG_NAME,
  // Kubernetes lets cluster objects have dotted names (DNS subdomains), but a namespace name is
  // a DNS label: `a.b` would be accepted here and its namespace org-a.b never made.
  rules: [
    {
      rule: `self.metadata.name.matches(${celString(DNS_LABEL)})`,
      message: `must be a DNS label (lower-case letters, digits and '-', no dots, at most ${MAX_ORG_NAME} characters): it names the namespace org-<name>`,
      fieldPath: ".metadata.name",
      reason: "FieldValueInvalid",
    },
  ],
  printerColumns: [
    { name: "Display Name", type: "string", jsonPath: ".spec.displayName" },
    { name: "Namespace", type: "string", jsonPath: ".status.namespace" },
    { name: "Members", type: "integer", jsonPath: ".status.memberCount" },
    { name: "Apps", type: "integer", jsonPath: ".status.appCount" },
    { name: "Running", type: "integer", jsonPath: ".status.runningAppCount" },
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
  ],
};
