import { randomBytes } from "node:crypto";
import {
  type AppInstance,
  type AppTemplate,
  type Condition,
  DEFAULT_IDLE_TIMEOUT,
  decideEntitlement,
  type EntitlementDecision,
  orgOfNamespace,
} from "@atrium/crds";
import { errorMessage, KubeError, type KubeObject, R } from "@atrium/kube";
import { type Deps, ensure, type Obj, writeStatus } from "../deps.ts";
import { LABEL_INSTANCE } from "../labels.ts";
import { deletingOrgHold, ORG_DELETING } from "../organization/deletion.ts";
import { OwnedByAnother } from "../ownership.ts";
import { requeueAfter } from "../requeue.ts";
import { dataPlaneRouting } from "../routing/data-plane.ts";
import { liveValuesOf } from "../runtime/applied.ts";
import { type ConditionInput, findCondition, setConditions } from "../runtime/conditions.ts";
import type { Outcome } from "../runtime/queue.ts";
import {
  billingHold,
  billingStopText,
  paymentProblem,
  stoppedByBilling,
  trafficSinceStop,
  untilLapseMs,
} from "./billing.ts";
import {
  appUrl,
  dataClaimName,
  desiredClaim,
  desiredDeployment,
  desiredSecret,
  desiredService,
  resolveSettings,
  settingsSecretName,
} from "./desired.ts";
import { type IdleState, idleState } from "./idle.ts";
import { computeAppStatus, type Problem, quotaProblem } from "./status.ts";

type App = Obj<AppInstance>;

/**
 * Status fields the operator owns; the gateway owns lastActivity, the API entitlement. The
 * operator's status applies are forced: a field named here (or sent) would be taken from its
 * owner, so `entitlement` is never in this list nor in what the operator sends.
 */
const OWNED_STATUS = [
  "phase",
  "health",
  "version",
  "url",
  "readyReplicas",
  "observedGeneration",
  "conditions",
  "stopsAt",
  "startedAt",
  "stoppedAt",
  "stoppedReason",
  "wokenAt",
];

/** When a pass that changed the Deployment (and left status to the next pass) looks again at the latest. */
const UNREPORTED_RECHECK_MS = 5_000;

const generateSecret = () => randomBytes(24).toString("base64url");

/**
 * How often an app refused for the org's quota, or for a name another app's object holds, looks
 * again (a raised quota, or the other app's removal, touches nothing of this app's).
 */
const QUOTA_RECHECK_MS = 30_000;

/** The start time idle counts from: reset whenever the spec changed (a new version gets its grace). */
const startedAt = (app: App, now: Date) =>
  app.status?.startedAt && app.status.observedGeneration === app.metadata.generation
    ? app.status.startedAt
    : isoSeconds(now);
const isoSeconds = (d: Date) => d.toISOString().replace(/\.\d+Z$/, "Z");

export const reconcileAppInstance = (deps: Deps) => {
  // The last stop or wake announced per app (key -> "<uid>:Stopped@<activity>" / "<uid>:Waking@…"):
  // the cache can lag our own status write, and a transition must be counted once. Entries go
  // with their app, so the map stays as large as the apps that exist.
  const announced = new Map<string, string>();
  // Gateway API mode: the app's route and endpoints, and the stop sequence (routing/data-plane.ts).
  const routing = deps.config.routing;
  const dataPlane = routing.mode === "gateway-api" ? dataPlaneRouting(deps, routing) : undefined;
  return async (key: string): Promise<Outcome> => {
    const { caches } = deps;
    const app = caches.appInstances.get(key) as App | undefined;
    // Deleted: owner references let the garbage collector remove the children (a Retain
    // volume has no owner reference and stays).
    if (!app || app.metadata.deletionTimestamp) {
      announced.delete(key);
      announced.delete(`${key}/ready`);
      dataPlane?.forget(key);
      return;
    }
    const namespace = app.metadata.namespace as string;
    const template = caches.appTemplates.get(app.spec.template) as Obj<AppTemplate> | undefined;

    const fail = (problem: Problem) =>
      report(deps, app, { configProblem: problem, replicas: 0, wokenAt: app.status?.wokenAt, announced });
    if (!template)
      return fail({
        reason: "TemplateNotFound",
        message: `AppTemplate "${app.spec.template}" does not exist; install it or pick another template`,
      });
    const version = app.spec.version || template.spec.defaultVersion;
    if (!template.spec.versions.includes(version))
      return fail({
        reason: "VersionNotOffered",
        message: `Version "${version}" is not offered by ${template.metadata.name} (offered: ${template.spec.versions.join(", ")})`,
      });

    const stored = decodeSecret(caches.secrets.get(`${namespace}/${settingsSecretName(app.metadata.name)}`));
    const settings = resolveSettings(app, template, stored, generateSecret);
    if (settings.unknown.length)
      return fail({
        reason: "UnknownSetting",
        message: `Template ${template.metadata.name} has no setting ${settings.unknown.join(", ")}`,
      });
    if (settings.missing.length)
      return fail({
        reason: "MissingSetting",
        message: `Required setting without a value: ${settings.missing.join(", ")}`,
      });

    const now = deps.now();
    const started = startedAt(app, now);
    // Billing first (the same decision the gateway takes before a wake): an app it does not
    // allow stays at zero whatever its idle policy, and one it allows again stays stopped
    // until traffic comes, as after an idle stop.
    const entitlement = decideEntitlement(app, template, now.getTime());
    // An organization being deleted keeps every app at zero, before billing has a say.
    const hold: IdleState | undefined =
      deletingOrgHold(caches.organizations.get(orgOfNamespace(namespace) ?? "")) ??
      billingHold(app, entitlement, started);
    let idle = hold ?? idleState({ ...app, status: { ...app.status, startedAt: started } }, now);
    // Traffic woke a stopped app: it gets the wake grace from now, so the page that woke it
    // can load it (stored in status, so restarts keep it). An app billing stopped that starts
    // without traffic (never used, or its spec changed) was not woken.
    let woken = app.status?.wokenAt;
    if (
      idle.replicas === 1 &&
      (app.status?.phase === "Stopped" || app.status?.phase === "Stopping") &&
      (!stoppedByBilling(app) || trafficSinceStop(app))
    ) {
      woken = isoSeconds(now);
      idle = idleState({ ...app, status: { ...app.status, startedAt: started, wokenAt: woken } }, now);
    }
    // Endpoints go to the activator before the replicas go to zero, and a grace passes between.
    const route = dataPlane?.plan(app, template, idle, hold !== undefined);
    if (route) idle = route.idle;
    const replicas = idle.replicas;
    const held = hold?.stopReason === "PaymentRequired" ? paymentProblem(entitlement) : undefined;
    const woke = woken !== app.status?.wokenAt;
    let rolled: boolean;
    try {
      const secret = desiredSecret(app, template, settings);
      if (secret) await ensure(deps, R.secret, secret, caches.secrets);
      const claim = desiredClaim(app, template);
      if (claim) {
        const live = caches.pvcs.get(`${namespace}/${dataClaimName(app.metadata.name)}`);
        // A claim's spec is immutable once bound: after creation it is re-stated as it is live
        // (leaving it out would ask server-side apply to remove it); only metadata changes.
        const kept = live ? { ...claim, spec: liveValuesOf(claim.spec, live.spec) } : claim;
        await ensure(deps, R.pvc, kept, caches.pvcs);
      }
      // Gateway API mode: the route's endpoints move before the Deployment's replicas do.
      if (route) await dataPlane?.apply(route);
      // Independent of each other, so applied together: a new app's first pass waits one
      // round trip for them, not two.
      const deployment = desiredDeployment(app, template, { version, settings, replicas });
      [, rolled] = await Promise.all([
        ensure(deps, R.service, desiredService(app, template), caches.services),
        ensure(deps, R.deployment, deployment, caches.deployments),
      ]);
    } catch (error) {
      // Over the org's quota: say so in the org's terms and look again later (raising the quota
      // changes no object of the app's). Otherwise say why, then let the queue retry with backoff.
      const quota = quotaProblem(error instanceof KubeError ? error.code : undefined, errorMessage(error));
      // A child's name taken by another app's object (ownership.ts): Ready says which, in an
      // Event too, and the app looks again later (the other app's removal touches nothing of this one).
      const clash = error instanceof OwnedByAnother ? { reason: "NameConflict", message: error.message } : undefined;
      await report(deps, app, {
        replicas,
        configProblem: quota ?? clash ?? { reason: "ApplyFailed", message: errorMessage(error) },
        wokenAt: woken,
        announced,
        held,
        entitlement,
      }).catch(() => undefined);
      if (quota || clash) return requeueAfter(QUOTA_RECHECK_MS);
      throw error;
    }
    // Back at the idle deadline or when the entitlement lapses (a trial's end), whichever is first.
    const nextMs = Math.min(idle.requeueAfterMs ?? Infinity, untilLapseMs(entitlement, now) ?? Infinity);
    const comeBack = Number.isFinite(nextMs) ? requeueAfter(nextMs + 50) : undefined;
    // Status comes from the Deployment as the cache shows it, which this pass just changed: the
    // cached copy predates the change, and the watch event of the apply brings this app back
    // within moments to report what it shows. Reporting now would cost a status write that
    // the next pass overwrites (a new app's "Deploying", right before "Running" on a busy
    // cluster). The short requeue is a safety net should no event come.
    if (rolled) return requeueAfter(Math.min(UNREPORTED_RECHECK_MS, comeBack?.requeueAfterMs ?? Infinity));
    await report(deps, app, {
      replicas,
      version,
      url: appUrl(app, deps.config),
      idle,
      startedAt: started,
      wokenAt: woken,
      woke,
      announced,
      held,
      entitlement,
    });
    // Come back at the deadline (in steps of at most a day: Node's timers overflow past 24.8
    // days); it is re-checked then against the activity seen by then.
    return comeBack;
  };
};

function decodeSecret(secret: KubeObject | undefined): Record<string, string> {
  const data = (secret?.data ?? {}) as Record<string, string>;
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
}

type ReportInput = {
  configProblem?: Problem;
  replicas: number;
  version?: string;
  url?: string;
  idle?: IdleState;
  startedAt?: string;
  wokenAt?: string;
  /** This pass starts the app because traffic came (it sets wokenAt). */
  woke?: boolean;
  announced?: Map<string, string>;
  /** Why billing keeps the app at zero (Ready's reason). */
  held?: Problem;
  entitlement?: EntitlementDecision;
};

async function report(deps: Deps, app: App, input: ReportInput): Promise<Outcome> {
  const namespace = app.metadata.namespace as string;
  const deployment = input.configProblem ? undefined : deps.caches.deployments.get(`${namespace}/${app.metadata.name}`);
  const pods = deps.caches.pods
    .inNamespace(namespace)
    .filter((p) => p.metadata.labels?.[LABEL_INSTANCE] === app.metadata.name);
  const status = computeAppStatus({
    configProblem: input.configProblem,
    held: input.held,
    deployment: deployment as Parameters<typeof computeAppStatus>[0]["deployment"],
    pods: pods as Parameters<typeof computeAppStatus>[0]["pods"],
    desiredReplicas: input.replicas,
    version: input.version,
    url: input.url,
    previous: app.status,
    generation: app.metadata.generation,
    now: deps.now(),
  });
  const idle = idleStatus(app, input, status.phase, deps.now());
  const full = {
    ...status,
    ...idle.fields,
    conditions: setConditions(status.conditions, idle.conditions, app.metadata.generation, deps.now()),
  };
  const before = findCondition(app.status?.conditions, "Ready");
  const after = findCondition(full.conditions, "Ready");
  if (await writeStatus(deps, R.appInstance, app, full, OWNED_STATUS)) {
    const appKey = `${namespace}/${app.metadata.name}`;
    // Keyed by what the decision rests on, which a stale cached copy shares with the fresh one
    // (and by the object's uid: a recreated app is another app).
    const stop = `${app.metadata.uid}:Stopped@${app.status?.lastActivity ?? app.status?.startedAt}`;
    const wake = `${app.metadata.uid}:Waking@${app.status?.lastActivity}`;
    // A paid app that never ran is not stopped by billing: nothing ran (an install the API has
    // not yet given its trial; whatever the API says about it comes as Ready's change below).
    const neverRan = input.idle?.stopReason === "PaymentRequired" && !app.status?.phase;
    if (
      !neverRan &&
      app.status?.phase !== "Stopped" &&
      full.phase === "Stopped" &&
      input.announced?.get(appKey) !== stop
    ) {
      input.announced?.set(appKey, stop);
      deps.metrics.appStops.inc({ reason: input.idle?.stopReason ?? "Unknown" });
      // A billing stop needs someone to act (subscribe): a Warning saying so, not a routine stop.
      if (input.idle?.stopReason === "PaymentRequired")
        deps.record(app, "Warning", "PaymentRequired", idle.fields.stoppedReason ?? "Payment required");
      else deps.record(app, "Normal", "Stopped", idle.fields.stoppedReason ?? "Scaled to zero");
      input.announced?.set(`${appKey}/ready`, `${app.metadata.uid}:Ready@${after?.reason}@${after?.message}`);
    } else if (input.woke && app.status?.phase === "Stopped" && full.phase === "Starting") {
      if (input.announced?.get(appKey) !== wake) {
        input.announced?.set(appKey, wake);
        deps.metrics.appStarts.inc();
        deps.record(app, "Normal", "Waking", "Traffic arrived; starting the app");
        input.announced?.set(`${appKey}/ready`, `${app.metadata.uid}:Ready@${after?.reason}@${after?.message}`);
      }
    } else if (
      before?.reason !== after?.reason &&
      after &&
      after.reason !== "Stopping" &&
      // Billing's stop under way: the stop's own Event (above) says it once it is done.
      !(after.reason === "PaymentRequired" && full.phase === "Stopping") &&
      !firstDeploy(before, after) &&
      !awaitingApi(after, input.entitlement)
    ) {
      // The cached app can lag this write, and the next pass would announce the same change
      // again: once per reason and message until another is announced.
      const said = `${app.metadata.uid}:Ready@${after.reason}@${after.message}`;
      if (input.announced?.get(`${appKey}/ready`) !== said) {
        input.announced?.set(`${appKey}/ready`, said);
        const type = after.status === "True" || NORMAL_READY_REASONS.has(after.reason) ? "Normal" : "Warning";
        deps.record(app, type, after.reason, after.message);
      }
    }
  }
  return;
}

/**
 * A new app's first status says Deploying, and Ready (or a Warning saying why not) follows
 * within moments: an Event for that routine step would double the app's Events for nothing
 * `kubectl describe` needs. A later Deploying (a new version rolling out) is still told.
 */
const firstDeploy = (before: Condition | undefined, after: Condition) => !before && after.reason === "Deploying";

/**
 * A paid app waits for the API's first word (a trial, a subscription or a refusal), which an
 * install publishes moments after it creates the app: an Event for that wait would come with
 * every paid install. Ready says so meanwhile; what the API then says is told.
 */
const awaitingApi = (after: Condition, entitlement: EntitlementDecision | undefined) =>
  after.reason === "PaymentRequired" && entitlement?.reason === "AwaitingSubscription";

/** Ready reasons on the way somewhere, not failures: their Events are Normal, the others Warnings. */
const NORMAL_READY_REASONS: ReadonlySet<string> = new Set(["Deploying", "Stopped", "Starting"]);

/** The scale-to-zero part of status: stopsAt / stoppedAt / reasons, and the Idle and Waking conditions. */
function idleStatus(app: App, input: ReportInput, phase: string | undefined, now: Date) {
  const idle = input.idle;
  const fields: Record<string, string> = {};
  if (input.startedAt) fields.startedAt = input.startedAt;
  if (input.wokenAt) fields.wokenAt = input.wokenAt;
  if (idle?.stopsAt) fields.stopsAt = isoSeconds(idle.stopsAt);
  if (idle?.replicas === 0) {
    fields.stoppedAt = app.status?.phase === "Stopped" && app.status.stoppedAt ? app.status.stoppedAt : isoSeconds(now);
    fields.stoppedReason =
      idle.stopReason === "PaymentRequired" || idle.stopReason === "ResumesOnRequest"
        ? billingStopText(idle.stopReason, input.entitlement)
        : idle.stopReason === "PolicyStopped"
          ? "Stopped by policy (spec.idle.policy: Stopped); the volume is kept"
          : idle.stopReason === ORG_DELETING
            ? "The organization is scheduled for deletion; restoring it lets the app run again (the volume is kept)"
            : `No traffic for ${app.spec.idle?.timeout ?? DEFAULT_IDLE_TIMEOUT}; scaled to zero, the volume is kept`;
  }
  const conditions: ConditionInput[] = [
    !idle
      ? // Failed before anything runs: idle stop has nothing to act on, whatever the policy.
        { type: "Idle", status: "False", reason: "NotRunning", message: `Not running (${phase ?? "Failed"})` }
      : idle.replicas === 0
        ? { type: "Idle", status: "True", reason: idle.stopReason ?? "Idle", message: fields.stoppedReason ?? "" }
        : {
            type: "Idle",
            status: "False",
            reason: idle.stopsAt ? "Active" : "AlwaysOn",
            message: idle.stopsAt
              ? `Stops at ${fields.stopsAt} unless traffic comes first`
              : "Never stopped for idleness (spec.idle.policy: AlwaysOn)",
          },
    phase === "Starting"
      ? { type: "Waking", status: "True", reason: "TrafficArrived", message: "Starting on demand" }
      : { type: "Waking", status: "False", reason: "NotWaking", message: "" },
  ];
  return { fields, conditions };
}
