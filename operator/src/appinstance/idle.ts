// When an app runs and when it stops: pure, so every case is a unit test.
import { type AppInstance, DEFAULT_IDLE_TIMEOUT } from "@atrium/crds";

/** Go-style durations as the CRD allows them: 90s, 30m, 12h, 1h30m, 500ms. */
export function parseDuration(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = text;
  while (rest.length) {
    const m = rest.match(/^(\d+)(ms|s|m|h)/);
    if (!m) throw new Error(`not a duration: ${text}`);
    total += Number(m[1]) * (units[m[2] as string] as number);
    rest = rest.slice(m[0].length);
  }
  return total;
}

export type IdleState = {
  replicas: 0 | 1;
  /** When the app stops unless traffic comes first (Auto policy, running). */
  stopsAt?: Date;
  /** Why it is (or should be) at zero (billing's reasons: billing.ts). */
  stopReason?: "Idle" | "PolicyStopped" | "PaymentRequired" | "ResumesOnRequest" | "OrganizationDeleting";
  requeueAfterMs?: number;
};

const time = (iso: string | undefined) => (iso ? Date.parse(iso) : 0);

/**
 * How long an app woken by traffic runs at least, whatever its timeout: the browser that woke
 * it is shown a "Starting…" page that reloads every 2 s, and a 1 s timeout would stop the app
 * again before the reload reaches it (or a real container finishes starting).
 */
export const WAKE_GRACE_MS = 5 * 60_000;

/**
 * Auto: run until `timeout` after the latest of last activity, the last start (install or
 * spec change: the grace a new version gets) and creation, and at least WAKE_GRACE_MS after
 * the last wake. The deadline is recomputed from
 * durable status on every pass, so restarting the operator or the gateway never resets it.
 */
export function idleState(app: AppInstance, now: Date): IdleState {
  const policy = app.spec.idle?.policy ?? "Auto";
  if (policy === "AlwaysOn") return { replicas: 1 };
  if (policy === "Stopped") return { replicas: 0, stopReason: "PolicyStopped" };
  const timeout = parseDuration(app.spec.idle?.timeout ?? DEFAULT_IDLE_TIMEOUT);
  const since = Math.max(
    time(app.status?.lastActivity),
    time(app.status?.startedAt),
    time(app.metadata.creationTimestamp),
  );
  const deadline = Math.max(since + timeout, time(app.status?.wokenAt) + WAKE_GRACE_MS);
  if (now.getTime() < deadline)
    return { replicas: 1, stopsAt: new Date(deadline), requeueAfterMs: deadline - now.getTime() };
  return { replicas: 0, stopReason: "Idle" };
}
