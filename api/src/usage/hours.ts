// The arithmetic of usage: UTC hours and days, running and stopped-for-idleness time from an
// app's transitions, split at hour boundaries. Pure, so every case is a table test (hours.test.ts).

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
const GIB = 2 ** 30;

/** The UTC hour (or day) that holds t, as its first millisecond. */
export const hourOf = (t: number) => Math.floor(t / HOUR_MS) * HOUR_MS;
export const dayOf = (t: number) => Math.floor(t / DAY_MS) * DAY_MS;

/** One start or stop of an app, as recorded in AppTransition. */
export type Transition = {
  kind: "start" | "stop";
  cause: string;
  at: number;
  cpuMillis: number;
  memoryBytes: number;
};

/** The metrics derived from transitions (UsageDay's names; columns of UsageAppHour). */
export const STATE_METRICS = [
  "running_seconds",
  "stopped_idle_seconds",
  "stopped_idle_cpu_core_seconds",
  "stopped_idle_gib_seconds",
] as const;
export type StateMetric = (typeof STATE_METRICS)[number];
export type StateSeconds = Record<StateMetric, number>;

const zero = (): StateSeconds => ({
  running_seconds: 0,
  stopped_idle_seconds: 0,
  stopped_idle_cpu_core_seconds: 0,
  stopped_idle_gib_seconds: 0,
});

/**
 * Seconds running and stopped for idleness in every UTC hour of [from, to), from an app's
 * transitions in time order (with the last one before `from`, which says the state at `from`).
 * Each transition holds until the next: after a start the app runs, after a stop for
 * idleness it is stopped-idle at the CPU and memory requests it had at that stop (what
 * auto-stop saves), after any other stop it counts as neither. Before the first transition
 * nothing is known and nothing is counted. Every hour of the range is in the answer, zeros
 * included, so that a recomputation can overwrite what an earlier one wrote.
 */
export function stateHours(transitions: readonly Transition[], from: number, to: number): Map<number, StateSeconds> {
  const hours = new Map<number, StateSeconds>();
  for (let h = hourOf(from); h < to; h += HOUR_MS) hours.set(h, zero());
  for (let i = 0; i < transitions.length; i++) {
    const t = transitions[i] as Transition;
    const next = transitions[i + 1];
    const start = Math.max(t.at, from);
    const end = Math.min(next ? next.at : to, to);
    if (end <= start) continue;
    const idle = t.kind === "stop" && t.cause === "idle";
    if (t.kind === "stop" && !idle) continue;
    for (let h = hourOf(start); h < end; h += HOUR_MS) {
      const seconds = (Math.min(end, h + HOUR_MS) - Math.max(start, h)) / 1000;
      const s = hours.get(h) as StateSeconds;
      if (!idle) s.running_seconds += seconds;
      else {
        s.stopped_idle_seconds += seconds;
        s.stopped_idle_cpu_core_seconds += (seconds * t.cpuMillis) / 1000;
        s.stopped_idle_gib_seconds += (seconds * t.memoryBytes) / GIB;
      }
    }
  }
  return hours;
}

/**
 * An app's metrics and their columns in UsageAppHour (one row per app and hour, ADR 0022); the
 * names are those of UsageDay's `metric`.
 */
export const APP_METRIC_COLUMNS = {
  requests: "requests",
  errors_5xx: "errors5xx",
  wakes: "wakes",
  running_seconds: "runningSeconds",
  stopped_idle_seconds: "stoppedIdleSeconds",
  stopped_idle_cpu_core_seconds: "stoppedIdleCpuCoreSeconds",
  stopped_idle_gib_seconds: "stoppedIdleGibSeconds",
} as const;
export type AppMetric = keyof typeof APP_METRIC_COLUMNS;
export type AppHourColumn = (typeof APP_METRIC_COLUMNS)[AppMetric];
export const APP_METRICS = Object.keys(APP_METRIC_COLUMNS) as AppMetric[];
export const isAppMetric = (metric: string): metric is AppMetric => Object.hasOwn(APP_METRIC_COLUMNS, metric);
/** Every metric column of UsageAppHour, for a groupBy's `_sum`. */
export const SUM_APP_COLUMNS = Object.fromEntries(Object.values(APP_METRIC_COLUMNS).map((c) => [c, true])) as Record<
  AppHourColumn,
  true
>;

/** A UsageAppHour row's (or a sum of them) metrics as one MetricRow each; absent columns are 0. */
export function appMetricRows(
  org: string,
  app: string,
  at: number,
  columns: Partial<Record<AppHourColumn, number | null>>,
  metrics: readonly AppMetric[] = APP_METRICS,
): MetricRow[] {
  return metrics.map((metric) => ({ org, app, metric, at, value: columns[APP_METRIC_COLUMNS[metric]] ?? 0 }));
}

/** The state seconds of an hour as UsageAppHour's columns (a set: every one is written). */
export const stateColumns = (s: StateSeconds): Record<(typeof APP_METRIC_COLUMNS)[StateMetric], number> => ({
  runningSeconds: s.running_seconds,
  stoppedIdleSeconds: s.stopped_idle_seconds,
  stoppedIdleCpuCoreSeconds: s.stopped_idle_cpu_core_seconds,
  stoppedIdleGibSeconds: s.stopped_idle_gib_seconds,
});

/** A row of UsageHour or UsageDay (value per org, app, metric and hour or day). */
export type MetricRow = { org: string; app: string; metric: string; at: number; value: number };

/**
 * A day's rollup from its hours: per org, app and metric, the sum. Rows of other days are
 * ignored, so a caller may pass a wider read.
 */
export function rollupDay(day: number, hours: readonly MetricRow[]): MetricRow[] {
  const sums = new Map<string, MetricRow>();
  for (const h of hours) {
    if (dayOf(h.at) !== day) continue;
    const k = `${h.org}\0${h.app}\0${h.metric}`;
    const row = sums.get(k);
    if (row) row.value += h.value;
    else sums.set(k, { org: h.org, app: h.app, metric: h.metric, at: day, value: h.value });
  }
  return [...sums.values()];
}

/**
 * What to write so that `stored` becomes `wanted` (set, not increment: a rerun changes
 * nothing): rows whose value differs or that are new (zeros are not created), and the stored
 * rows `wanted` no longer has (to delete, or to set to zero).
 */
export function changes(
  stored: readonly MetricRow[],
  wanted: readonly MetricRow[],
): { write: MetricRow[]; remove: MetricRow[] } {
  const key = (r: MetricRow) => `${r.org}\0${r.app}\0${r.metric}\0${r.at}`;
  const have = new Map(stored.map((r) => [key(r), r]));
  const write: MetricRow[] = [];
  for (const w of wanted) {
    const s = have.get(key(w));
    have.delete(key(w));
    if (s ? !sameValue(s.value, w.value) : w.value !== 0) write.push(w);
  }
  return { write, remove: [...have.values()] };
}

/** Float sums differ in their last bits depending on the order they were added in. */
const sameValue = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));

/** Kubernetes quantities (500m, 2, 1.5, 512Mi, 1G, 1e3) as numbers of the base unit. */
export function parseQuantity(text: string | undefined): number {
  if (!text) return 0;
  const m = /^([+-]?[0-9.]+)(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/.exec(text.trim());
  if (!m) return 0;
  const n = Number(m[1]);
  if (!Number.isFinite(n)) return 0;
  if (m[2]) return n * 10 ** Number(m[2].slice(1));
  const factor: Record<string, number> = {
    n: 1e-9,
    u: 1e-6,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    P: 1e15,
    E: 1e18,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    Pi: 2 ** 50,
    Ei: 2 ** 60,
  };
  return m[3] ? n * (factor[m[3]] as number) : n;
}
