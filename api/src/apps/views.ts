// What the apps API returns: an AppInstance flattened for the console and API clients, with the
// schemas for validation and OpenAPI. Secret settings appear only as set / not set.
import { ACCESS_POLICIES, type AppInstance, type AppTemplate, IDLE_POLICIES } from "@atrium/crds";
import { Type } from "@sinclair/typebox";
import type { SubscriptionView } from "../billing/billing.ts";
import { Name } from "../routes/views.ts";
import { settingsView } from "./settings.ts";

export const AppParams = Type.Object({ org: Name("Organization name"), app: Name("App name") });

const Str = Type.Union([Type.String(), Type.Null()]);

/** The subscription as billing reports it (null: none, e.g. a free app). */
export const SubscriptionSchema = Type.Union([
  Type.Null(),
  Type.Object(
    {
      id: Type.String(),
      template: Type.String(),
      app: Str,
      plan: Str,
      interval: Str,
      amount: Type.Union([Type.Integer(), Type.Null()]),
      currency: Str,
      state: Type.String(),
      trialEndsAt: Str,
      currentPeriodEnd: Str,
      cancelAtPeriodEnd: Type.Boolean(),
    },
    { additionalProperties: true },
  ),
]);
export type Subscription = SubscriptionView | null;

const Condition = Type.Object({
  type: Type.String(),
  status: Type.String(),
  reason: Str,
  message: Str,
  lastTransitionTime: Str,
});

export const AppSummary = Type.Object({
  name: Type.String(),
  template: Type.String(),
  displayName: Type.String({ description: "The template's display name" }),
  version: Type.String(),
  phase: Type.String({ description: "Pending until the operator has looked at it" }),
  health: Type.String(),
  url: Str,
  lastActivity: Str,
  stopsAt: Str,
  stoppedReason: Str,
  /** Billing's view of the entitlement the operator and gateway act on. */
  entitlement: Type.Union([
    Type.Null(),
    Type.Object({ allowed: Type.Boolean(), reason: Type.String(), until: Str, message: Str }),
  ]),
  subscription: SubscriptionSchema,
});

export const AppDetail = Type.Intersect([
  AppSummary,
  Type.Object({
    createdAt: Str,
    plan: Str,
    access: Type.Object({
      policy: Type.Union(ACCESS_POLICIES.map((p) => Type.Literal(p))),
      roles: Type.Array(Type.String()),
    }),
    idle: Type.Object({ policy: Type.Union(IDLE_POLICIES.map((p) => Type.Literal(p))), timeout: Type.String() }),
    storage: Type.Object({ deletionPolicy: Type.String() }),
    conditions: Type.Array(Condition),
    events: Type.Array(Type.Object({ type: Str, reason: Str, message: Str, count: Type.Integer(), lastSeen: Str })),
    settings: Type.Array(
      Type.Object({
        name: Type.String(),
        description: Type.String(),
        required: Type.Boolean(),
        secret: Type.Boolean(),
        value: Str,
        set: Type.Boolean(),
      }),
    ),
  }),
]);

export type KubeEvent = {
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  lastTimestamp?: string | null;
  eventTime?: string | null;
  metadata: { creationTimestamp?: string };
};

export function appSummary(app: AppInstance, template: AppTemplate | undefined, subscription: Subscription) {
  const st = app.status ?? {};
  const e = st.entitlement;
  return {
    name: app.metadata.name,
    template: app.spec.template,
    displayName: template?.spec.displayName ?? app.spec.template,
    version: st.version ?? app.spec.version ?? template?.spec.defaultVersion ?? "",
    phase: st.phase ?? "Pending",
    health: st.health ?? "Unknown",
    url: st.url ?? null,
    lastActivity: st.lastActivity ?? null,
    stopsAt: st.stopsAt ?? null,
    stoppedReason: st.stoppedReason ?? null,
    entitlement: e
      ? { allowed: e.allowed, reason: e.reason, until: e.until ?? null, message: e.message ?? null }
      : null,
    subscription,
  };
}

export function appDetail(
  app: AppInstance,
  template: AppTemplate | undefined,
  subscription: Subscription,
  events: KubeEvent[],
) {
  return {
    ...appSummary(app, template, subscription),
    createdAt: app.metadata.creationTimestamp ?? null,
    plan: app.spec.plan ?? null,
    access: { policy: app.spec.access?.policy ?? "Members", roles: [...(app.spec.access?.roles ?? [])] },
    idle: { policy: app.spec.idle?.policy ?? "Auto", timeout: app.spec.idle?.timeout ?? "12h" },
    storage: { deletionPolicy: app.spec.storage?.deletionPolicy ?? "Retain" },
    conditions: (app.status?.conditions ?? []).map((c) => ({
      type: c.type,
      status: c.status,
      reason: c.reason ?? null,
      message: c.message ?? null,
      lastTransitionTime: c.lastTransitionTime ?? null,
    })),
    events: events.map((e) => ({
      type: e.type ?? null,
      reason: e.reason ?? null,
      message: e.message ?? null,
      count: e.count ?? 1,
      lastSeen: e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? null,
    })),
    settings: settingsView(template, app),
  };
}
