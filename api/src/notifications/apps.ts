// App news from the Installs watch, as notices: pure. The watch delivers many updates per app
// (status churns); a transition is keyed by the app's uid and the time the operator wrote for it
// (stoppedAt, wokenAt, the Ready condition's lastTransitionTime for a failure), so every update
// that shows the same transition gives the same key and reaches each person once, on every
// replica and after a restart.
import type { AppInstance } from "@atrium/crds";
import type { Notice } from "./notifications.ts";

type Transition = { kind: "failed" | "stopped" | "woken"; at: string };

/** The transition the app's status shows now, if any. */
export function appTransition(app: AppInstance): Transition | undefined {
  const status = app.status;
  if (!status?.phase) return undefined;
  if (status.phase === "Failed") {
    const ready = status.conditions?.find((c) => c.type === "Ready");
    const at = ready?.lastTransitionTime ?? status.startedAt;
    return at ? { kind: "failed", at } : undefined;
  }
  if (status.phase === "Stopped" && status.stoppedAt) return { kind: "stopped", at: status.stoppedAt };
  if ((status.phase === "Running" || status.phase === "Starting") && status.wokenAt) {
    // A wake that came before the last stop is an old one.
    if (status.stoppedAt && Date.parse(status.stoppedAt) > Date.parse(status.wokenAt)) return undefined;
    return { kind: "woken", at: status.wokenAt };
  }
  return undefined;
}

/**
 * The notice for the app's current transition, or undefined when there is none or it is older
 * than `newsMs` (seen again after an API restart: history, not news).
 */
export function appTransitionNotice(org: string, app: AppInstance, now: number, newsMs: number): Notice | undefined {
  const t = appTransition(app);
  if (!t) return undefined;
  const at = Date.parse(t.at);
  if (!Number.isFinite(at) || now - at > newsMs) return undefined;
  const name = app.metadata.name as string;
  const uid = app.metadata.uid ?? `${org}/${name}`;
  const reason = app.status?.stoppedReason;
  const texts = {
    failed: {
      event: "app.failed" as const,
      title: `App ${name} failed in ${org}`,
      body: `The app "${name}" in the organization "${org}" failed${conditionMessage(app)}. Open it to see its status, events and logs.`,
    },
    stopped: {
      event: "app.stopped" as const,
      title: `App ${name} stopped`,
      body: `The app "${name}" in "${org}" stopped${reason ? `: ${reason}` : ""}.`,
    },
    woken: {
      event: "app.woken" as const,
      title: `App ${name} woke up`,
      body: `The app "${name}" in "${org}" started again on a request.`,
    },
  }[t.kind];
  return {
    key: `app:${uid}:${t.kind}:${t.at}`,
    event: texts.event,
    org,
    title: texts.title,
    body: texts.body,
    link: `/orgs/${org}/apps/${name}`,
  };
}

function conditionMessage(app: AppInstance): string {
  const message = app.status?.conditions?.find((c) => c.type === "Ready")?.message;
  return message ? `: ${message}` : "";
}

/**
 * Whether `key` states again a transition already told as `previous` (the key of the app's latest
 * notice): the same kind within `windowMs`. The operator writes stoppedAt / wokenAt from its
 * cache, which can lag its own status write, so one stop may show two stoppedAt a second apart;
 * a real new stop always has another transition (a wake, a start) between the two.
 */
export function restatesTransition(previous: string | undefined, key: string, windowMs: number): boolean {
  const parse = (k: string) => /^app:([^:]+):(failed|stopped|woken):(.+)$/.exec(k);
  const a = previous ? parse(previous) : null;
  const b = parse(key);
  if (!a || !b || a[1] !== b[1] || a[2] !== b[2]) return false;
  return Math.abs(Date.parse(a[3] as string) - Date.parse(b[3] as string)) <= windowMs;
}
