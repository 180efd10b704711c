import type { KindDefinition } from "../crd.ts";
import { ROUTE_SERVICE_SUFFIX } from "../routing.ts";
import {
  Conditions,
  cel,
  Duration,
  immutable,
  Name,
  type ObjectMeta,
  ObservedGeneration,
  Quantity,
  type Static,
  StringEnum,
  Timestamp,
  Type,
} from "../schema.ts";
import { ENV_NAME } from "./apptemplate.ts";

export const APP_PHASES = ["Pending", "Deploying", "Running", "Stopping", "Stopped", "Starting", "Failed"] as const;
export type AppPhase = (typeof APP_PHASES)[number];
export const ACCESS_POLICIES = ["Public", "Members", "Roles"] as const;
export const IDLE_POLICIES = ["Auto", "AlwaysOn", "Stopped"] as const;
export const DEFAULT_IDLE_TIMEOUT = "12h";

const Bounded = (max: number) => Type.String({ minLength: 1, maxLength: max });

export const AppInstanceSpec = Type.Object({
  template: Name("The AppTemplate this app is installed from.", { ...cel(immutable("template")) }),
  version: Type.Optional(
    Type.String({ description: "Template version; the template's default when empty.", maxLength: 128 }),
  ),
  env: Type.Optional(
    Type.Array(
      Type.Object(
        {
          name: Type.String({ minLength: 1, maxLength: 128, pattern: ENV_NAME }),
          value: Type.Optional(Type.String({ maxLength: 32768 })),
          secretKeyRef: Type.Optional(Type.Object({ name: Name("Secret in the org namespace."), key: Bounded(253) })),
        },
        {
          ...cel({
            rule: "has(self.value) != has(self.secretKeyRef)",
            message: "set exactly one of value and secretKeyRef",
          }),
        },
      ),
      {
        description: "Values for the template's settings.",
        maxItems: 100,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
      },
    ),
  ),
  access: Type.Optional(
    Type.Object(
      {
        policy: StringEnum(ACCESS_POLICIES, {
          description: "Public: anyone; Members: any active member; Roles: members holding one of roles.",
          default: "Members",
        }),
        roles: Type.Optional(Type.Array(Name("OrgRole name."), { maxItems: 20, "x-kubernetes-list-type": "set" })),
      },
      {
        description: "Who may open the app through the gateway.",
        ...cel({
          rule: "self.policy != 'Roles' || (has(self.roles) && size(self.roles) > 0)",
          message: "policy Roles needs at least one role",
          fieldPath: ".roles",
        }),
      },
    ),
  ),
  resources: Type.Optional(
    Type.Object({
      cpu: Type.Optional(Quantity("CPU request.")),
      memory: Type.Optional(Quantity("Memory request.")),
    }),
  ),
  idle: Type.Optional(
    Type.Object(
      {
        policy: StringEnum(IDLE_POLICIES, {
          description: "Auto: stop after timeout without traffic; AlwaysOn: never stop; Stopped: keep at zero.",
          default: "Auto",
        }),
        timeout: Duration("Time without traffic before the app stops.", "1s", "720h", {
          default: DEFAULT_IDLE_TIMEOUT,
        }),
        excludePaths: Type.Optional(
          Type.Array(Bounded(256), {
            description: "Request paths that are not activity (health checks).",
            maxItems: 20,
          }),
        ),
        excludeUserAgents: Type.Optional(
          Type.Array(Bounded(256), {
            description: "User-agent substrings that are not activity (monitors).",
            maxItems: 20,
          }),
        ),
      },
      { description: "Scale to zero when idle, wake on the next request." },
    ),
  ),
  plan: Type.Optional(
    Name(
      "The template plan (its id) this install is paid with. Absent: a trial where the organization has one left for the app, else the app waits for payment.",
      { maxLength: 40 },
    ),
  ),
  restartRequestedAt: Type.Optional(
    Timestamp("Set to the current time to restart the app once (the Deployment rolls when this changes)."),
  ),
  storage: Type.Optional(
    Type.Object({
      deletionPolicy: StringEnum(["Retain", "Delete"] as const, {
        description: "What happens to the volume when the app is deleted; stopping never deletes it.",
        default: "Retain",
      }),
    }),
  ),
});

export const ENTITLEMENT_REASONS = [
  "Free",
  "Trialing",
  "Active",
  "PastDue",
  "Lifetime",
  "PaymentRequired",
  "TrialEnded",
  "Paused",
  "Canceled",
  "Expired",
] as const;
export type EntitlementReason = (typeof ENTITLEMENT_REASONS)[number];

/**
 * Whether the app may run, as billing decided it. Written by the API (its own field manager;
 * the operator never writes it), read by the operator before it runs the app and by the gateway
 * before it wakes it. Billing state itself stays in the API's database.
 */
export const Entitlement = Type.Object(
  {
    allowed: Type.Boolean(),
    reason: StringEnum(ENTITLEMENT_REASONS),
    until: Type.Optional(Timestamp("The decision holds until then (a trial's or a period's end); absent: for good.")),
    message: Type.Optional(
      Type.String({ maxLength: 1024, description: "What to do, e.g. who can subscribe and where." }),
    ),
    plan: Type.Optional(Type.String({ maxLength: 40 })),
    subscription: Type.Optional(Type.String({ maxLength: 64, description: "The subscription's id in the API." })),
    decidedAt: Type.Optional(Timestamp("When the API published this decision.")),
  },
  { description: "May this app run? Published by the API from the organization's subscription." },
);
export type Entitlement = Static<typeof Entitlement>;

export const AppInstanceStatus = Type.Object({
  phase: Type.Optional(StringEnum(APP_PHASES)),
  health: Type.Optional(StringEnum(["Healthy", "Unhealthy", "Unknown"] as const)),
  version: Type.Optional(Type.String({ description: "The version running.", maxLength: 128 })),
  url: Type.Optional(Type.String({ maxLength: 2048 })),
  readyReplicas: Type.Optional(Type.Integer({ minimum: 0 })),
  lastActivity: Type.Optional(Timestamp("Last request or open connection seen by the gateway.")),
  stopsAt: Type.Optional(Timestamp("When the app will stop if it stays idle.")),
  startedAt: Type.Optional(
    Timestamp("When the app was last installed or changed; idle time counts from here or the last activity."),
  ),
  stoppedAt: Type.Optional(Timestamp("When the app was last stopped.")),
  wokenAt: Type.Optional(
    Timestamp("When traffic last woke the stopped app; it then runs at least the wake grace (5 min) from here."),
  ),
  stoppedReason: Type.Optional(Type.String({ maxLength: 256 })),
  entitlement: Type.Optional(Entitlement),
  observedGeneration: Type.Optional(ObservedGeneration),
  conditions: Type.Optional(Conditions),
});

export type AppInstanceSpec = Static<typeof AppInstanceSpec>;
export type AppInstanceStatus = Static<typeof AppInstanceStatus>;
export type AppInstance = {
  apiVersion: "atrium.dev/v1alpha1";
  kind: "AppInstance";
  metadata: ObjectMeta;
  spec: AppInstanceSpec;
  status?: AppInstanceStatus;
};

export const appInstanceKind: KindDefinition = {
  kind: "AppInstance",
  plural: "appinstances",
  singular: "appinstance",
  shortNames: ["app", "apps"],
  scope: "Namespaced",
  description: "An app installed in an organization from an AppTemplate.",
  spec: AppInstanceSpec,
  status: AppInstanceStatus,
  // Room for the route Service's suffix: `<name>-route` is a Service name, a DNS label of at most 63.
  maxNameLength: 63 - ROUTE_SERVICE_SUFFIX.length,
  rules: [
    {
      rule: `!self.metadata.name.endsWith('${ROUTE_SERVICE_SUFFIX}')`,
      message: `must not end in '${ROUTE_SERVICE_SUFFIX}': in Gateway API mode the app <name> has a Service <name>${ROUTE_SERVICE_SUFFIX}, which an app named so would share (its own Service has its name)`,
      fieldPath: ".metadata.name",
      reason: "FieldValueInvalid",
    },
  ],
  printerColumns: [
    { name: "Template", type: "string", jsonPath: ".spec.template" },
    { name: "Version", type: "string", jsonPath: ".status.version" },
    { name: "Phase", type: "string", jsonPath: ".status.phase" },
    { name: "Health", type: "string", jsonPath: ".status.health" },
    { name: "Last Activity", type: "date", jsonPath: ".status.lastActivity" },
    // A string, not a date: kubectl prints future dates as <invalid>.
    { name: "Stops At", type: "string", jsonPath: ".status.stopsAt" },
    { name: "URL", type: "string", jsonPath: ".status.url", priority: 1 },
    { name: "Billing", type: "string", jsonPath: ".status.entitlement.reason", priority: 1 },
  ],
};
