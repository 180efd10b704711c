// An app's starts and stops, read from the status the operator writes (operator/src/appinstance:
// phase, stoppedAt, wokenAt, startedAt, the Idle and Ready conditions). Pure: given the app as
// the watch shows it and the last transition recorded for it, the transition to record now, if
// any. A transition's key names the one it follows ("<uid>:stop:after:<the start's time>"), so a
// relist, a restarted API or a second replica derive the same key for the same transition and
// the unique index keeps it once. (Not the status times themselves: the operator may write
// stoppedAt or wokenAt again a second later when its cache lags its own write.)
import type { AppInstance, AppTemplate } from "@atrium/crds";
import { parseQuantity } from "./hours.ts";

type Meta = { metadata: { uid?: string; creationTimestamp?: string; deletionTimestamp?: string } };
export type WatchedApp = AppInstance & Meta;

export type Last = { kind: "start" | "stop"; cause: string; at: number } | undefined;

const after = (last: NonNullable<Last>) => `after:${new Date(last.at).toISOString()}`;

export type TransitionDraft = { key: string; kind: "start" | "stop"; cause: string; at: number };

/**
 * Why an app is at zero, from the operator's Idle condition (its reason is the stop reason:
 * operator/src/appinstance/idle.ts) or, failing that, the words of stoppedReason.
 */
export function stopCause(app: AppInstance): "idle" | "manual" | "payment" | "deletion" {
  const idle = app.status?.conditions?.find((c) => c.type === "Idle" && c.status === "True");
  switch (idle?.reason) {
    case "Idle":
      return "idle";
    case "PolicyStopped":
      return "manual";
    case "PaymentRequired":
    case "ResumesOnRequest":
      return "payment";
    case "OrganizationDeleting":
      return "deletion";
  }
  const text = app.status?.stoppedReason ?? "";
  if (text.startsWith("No traffic")) return "idle";
  if (text.startsWith("PaymentRequired") || text.startsWith("ResumesOnRequest")) return "payment";
  if (text.startsWith("The organization is scheduled")) return "deletion";
  return "manual";
}

const time = (iso: string | undefined) => (iso ? Date.parse(iso) : Number.NaN);
const RUNNING = new Set(["Deploying", "Starting", "Running"]);

/**
 * The transition an app's current state shows, or undefined when it shows none new:
 * - Stopped: a stop at status.stoppedAt (which the operator keeps while the app stays stopped),
 *   with the cause from the Idle condition.
 * - Failed after it ran: a stop "failure" at the Ready condition's last transition.
 * - Deploying/Starting/Running after a stop (or never seen): a start. At status.wokenAt when
 *   the operator woke it since (cause wake; manual after a manual stop or an organization's
 *   restore; change when the wake is a spec change's, startedAt equal to wokenAt); the first
 *   one an install at startedAt; back from a failure once Ready: a change.
 * - Deleted while running: a stop "deletion".
 */
export function transitionOf(app: WatchedApp, last: Last, deleted: boolean, now: number): TransitionDraft | undefined {
  const uid = app.metadata.uid;
  if (!uid) return undefined;
  const s = app.status ?? {};
  if (deleted) {
    if (last?.kind !== "start") return undefined;
    const at = time(app.metadata.deletionTimestamp);
    return { key: `${uid}:stop:deleted`, kind: "stop", cause: "deletion", at: Number.isNaN(at) ? now : at };
  }
  if (s.phase === "Stopped") {
    const at = time(s.stoppedAt);
    if (Number.isNaN(at) || last?.kind === "stop") return undefined;
    const key = last ? `${uid}:stop:${after(last)}` : `${uid}:stop:first:${s.stoppedAt}`;
    return { key, kind: "stop", cause: stopCause(app), at };
  }
  if (s.phase === "Failed") {
    if (last?.kind !== "start") return undefined;
    const ready = s.conditions?.find((c) => c.type === "Ready");
    const at = time(ready?.lastTransitionTime);
    if (Number.isNaN(at)) return undefined;
    return { key: `${uid}:stop:${after(last)}`, kind: "stop", cause: "failure", at };
  }
  if (!s.phase || !RUNNING.has(s.phase) || last?.kind === "start") return undefined;
  const woken = time(s.wokenAt);
  if (!Number.isNaN(woken) && (!last || woken >= last.at)) {
    const cause =
      last && (last.cause === "manual" || last.cause === "deletion")
        ? "manual"
        : s.startedAt === s.wokenAt
          ? "change"
          : "wake";
    return {
      key: last ? `${uid}:start:${after(last)}` : `${uid}:start:first:${s.wokenAt}`,
      kind: "start",
      cause,
      at: woken,
    };
  }
  if (!last) {
    const at = time(s.startedAt ?? app.metadata.creationTimestamp);
    return { key: `${uid}:start:install`, kind: "start", cause: "install", at: Number.isNaN(at) ? now : at };
  }
  // Back without a wake (from a failure, or a billing stop its spec changed out of): once Ready,
  // at Ready's transition, a time every replica reads alike.
  const ready = s.conditions?.find((c) => c.type === "Ready" && c.status === "True");
  const at = time(ready?.lastTransitionTime);
  if (s.phase !== "Running" || Number.isNaN(at)) return undefined;
  return { key: `${uid}:start:${after(last)}`, kind: "start", cause: "change", at };
}

/**
 * The CPU (millicores) and memory (bytes) the app's container requests: the AppInstance's
 * resources, else its template's (as the operator's desiredDeployment takes them).
 */
export function requestsOf(
  app: AppInstance,
  template: AppTemplate | undefined,
): { cpuMillis: number; memoryBytes: number } {
  const cpu = app.spec.resources?.cpu ?? template?.spec.resources?.cpu;
  const memory = app.spec.resources?.memory ?? template?.spec.resources?.memory;
  return { cpuMillis: Math.round(parseQuantity(cpu) * 1000), memoryBytes: parseQuantity(memory) };
}
