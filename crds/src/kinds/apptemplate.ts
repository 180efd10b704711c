import type { KindDefinition } from "../crd.ts";
import { CURRENCIES } from "../currency.ts";
import {
  Conditions,
  cel,
  Description,
  DisplayName,
  HttpUrl,
  Name,
  type ObjectMeta,
  ObservedGeneration,
  Quantity,
  type Static,
  StringEnum,
  Type,
} from "../schema.ts";

export const APP_CATEGORIES = [
  "Productivity",
  "AI",
  "Communication",
  "Development",
  "Analytics",
  "Security",
  "Storage",
  "Automation",
  "Monitoring",
] as const;
export type AppCategory = (typeof APP_CATEGORIES)[number];

export const PRICING_INTERVALS = ["monthly", "annual", "one-time", "lifetime"] as const;
export type PricingInterval = (typeof PRICING_INTERVALS)[number];

/** The port the gateway sends app traffic to. */
export const HTTP_PORT_NAME = "http";

export const ENV_NAME = "^[A-Za-z_][A-Za-z0-9_]*$";
const Path = (description: string) => Type.String({ description, maxLength: 1024, pattern: "^/" });

export const EnvVarSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128, pattern: ENV_NAME }),
    description: Type.Optional(Type.String({ maxLength: 500 })),
    required: Type.Optional(Type.Boolean({ default: false })),
    default: Type.Optional(Type.String({ maxLength: 4096 })),
    secret: Type.Optional(Type.Boolean({ description: "Stored in a Secret and never shown again.", default: false })),
    generated: Type.Optional(
      Type.Boolean({
        description: "The operator generates a random value when none is given.",
        default: false,
      }),
    ),
  },
  {
    ...cel(
      {
        rule: "!(has(self.secret) && self.secret && has(self.default))",
        message: "a secret variable cannot have a default: the value would be public in the catalog",
      },
      {
        rule: "!(has(self.generated) && self.generated) || (has(self.secret) && self.secret)",
        message: "only secret variables can be generated",
      },
    ),
  },
);

export const PricingPlan = Type.Object(
  {
    id: Name("Stable plan id: subscriptions and AppInstances refer to it, so never rename it.", { maxLength: 40 }),
    interval: StringEnum(PRICING_INTERVALS, {
      description:
        "monthly and annual renew each period; one-time pays once for that install; lifetime pays once for every install of the app in the organization.",
    }),
    amount: Type.Integer({
      description: "Price in the currency's minor unit (cents for USD, yen for JPY): integers, never floats.",
      minimum: 0,
      maximum: 100_000_000,
    }),
    currency: Type.String({
      description: "ISO 4217 code.",
      minLength: 3,
      maxLength: 3,
      ...cel({
        rule: `self in [${CURRENCIES.map((c) => `'${c}'`).join(", ")}]`,
        message: "must be an ISO 4217 currency code in use, such as USD or EUR",
      }),
    }),
  },
  { description: "One way to pay for the app." },
);
export type PricingPlan = Static<typeof PricingPlan>;

export const AppTemplateSpec = Type.Object(
  {
    displayName: DisplayName(),
    description: Type.Optional(Description()),
    category: StringEnum(APP_CATEGORIES),
    publisher: Type.Optional(Type.String({ maxLength: 100 })),
    homepage: Type.Optional(HttpUrl("Project homepage.")),
    icon: Type.Optional(HttpUrl("Icon shown in the marketplace.")),
    image: Type.String({
      description: "Container image without tag; the tag is the version.",
      minLength: 1,
      maxLength: 255,
      pattern: "^[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?$",
    }),
    versions: Type.Array(Type.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9_][A-Za-z0-9_.-]*$" }), {
      description: "Image tags that may be installed, newest first.",
      minItems: 1,
      maxItems: 50,
      "x-kubernetes-list-type": "set",
    }),
    defaultVersion: Type.String({ description: "The version new installs get.", maxLength: 128 }),
    ports: Type.Array(
      Type.Object({
        name: Name("Port name.", { maxLength: 15 }),
        containerPort: Type.Integer({ minimum: 1, maximum: 65535 }),
      }),
      {
        description: `Container ports; the one named "${HTTP_PORT_NAME}" receives app traffic.`,
        minItems: 1,
        maxItems: 10,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        ...cel({
          rule: `self.exists(p, p.name == '${HTTP_PORT_NAME}')`,
          message: `one port must be named ${HTTP_PORT_NAME}: the gateway routes app traffic to it`,
        }),
      },
    ),
    env: Type.Optional(
      Type.Array(EnvVarSchema, {
        description: "Settings the installer fills in.",
        maxItems: 100,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
      }),
    ),
    storage: Type.Optional(
      Type.Object(
        {
          size: Quantity("Requested volume size, e.g. 10Gi."),
          mountPath: Path("Where the volume is mounted in the container."),
        },
        { description: "A persistent volume kept while the app is stopped." },
      ),
    ),
    healthCheck: Type.Optional(
      Type.Object({
        path: Path("HTTP path that answers 2xx when the app is ready."),
        initialDelaySeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 600, default: 5 })),
        periodSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 300, default: 10 })),
      }),
    ),
    resources: Type.Optional(
      Type.Object(
        { cpu: Type.Optional(Quantity("CPU request.")), memory: Type.Optional(Quantity("Memory request.")) },
        { description: "Default requests for the app container." },
      ),
    ),
    runAsUser: Type.Optional(
      Type.Integer({
        description: "Non-root user id the container runs as.",
        minimum: 1,
        maximum: 2147483647,
      }),
    ),
    pricing: Type.Optional(
      Type.Object(
        {
          trialDays: Type.Optional(
            Type.Integer({
              description: "Free trial length; 0 or absent: no trial. One trial per organization and app, ever.",
              minimum: 0,
              maximum: 90,
            }),
          ),
          plans: Type.Array(PricingPlan, {
            minItems: 1,
            maxItems: 8,
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["id"],
          }),
        },
        { description: "What the app costs. A template without pricing is free." },
      ),
    ),
  },
  {
    ...cel({
      rule: "self.defaultVersion in self.versions",
      message: "defaultVersion must be one of versions",
      fieldPath: ".defaultVersion",
    }),
  },
);

export const AppTemplateStatus = Type.Object({
  observedGeneration: Type.Optional(ObservedGeneration),
  conditions: Type.Optional(Conditions),
});

export type AppTemplateSpec = Static<typeof AppTemplateSpec>;
export type AppTemplateStatus = Static<typeof AppTemplateStatus>;
export type AppTemplate = {
  apiVersion: "atrium.dev/v1alpha1";
  kind: "AppTemplate";
  metadata: ObjectMeta;
  spec: AppTemplateSpec;
  status?: AppTemplateStatus;
};

export const appTemplateKind: KindDefinition = {
  kind: "AppTemplate",
  plural: "apptemplates",
  singular: "apptemplate",
  shortNames: ["apptpl"],
  scope: "Cluster",
  description: "A marketplace entry: how to run an app and what it costs.",
  spec: AppTemplateSpec,
  status: AppTemplateStatus,
  printerColumns: [
    { name: "Display Name", type: "string", jsonPath: ".spec.displayName" },
    { name: "Category", type: "string", jsonPath: ".spec.category" },
    { name: "Version", type: "string", jsonPath: ".spec.defaultVersion" },
    { name: "Trial Days", type: "integer", jsonPath: ".spec.pricing.trialDays" },
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: "Image", type: "string", jsonPath: ".spec.image", priority: 1 },
  ],
};
