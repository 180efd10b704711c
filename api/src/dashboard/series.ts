// The usage charts' series: UTC days oldest first with today last, every array as long as the
// days and zero where no row exists (the rollups store no row for a day without data). Pure.
import { DAY_MS } from "../billing/domain.ts";

export const USAGE_WINDOWS = [7, 30, 90] as const;
export type UsageWindow = (typeof USAGE_WINDOWS)[number];
export const KEY_TYPES = ["session", "STANDARD", "AI_AGENT"] as const;
export const STATUS_CLASSES = ["2xx", "3xx", "4xx", "5xx"] as const;

/** The metrics of UsageHour / UsageDay the charts read (names: CONTRACTS2.md, "Usage data"). */
export const METRIC = {
  requests: "requests",
  errors5xx: "errors_5xx",
  wakes: "wakes",
  runningSeconds: "running_seconds",
  stoppedIdleSeconds: "stopped_idle_seconds",
  stoppedIdleCpuCoreSeconds: "stopped_idle_cpu_core_seconds",
  stoppedIdleGibSeconds: "stopped_idle_gib_seconds",
  membersActive: "members_active",
} as const;
export const API_CALL_METRICS = KEY_TYPES.flatMap((k) => STATUS_CLASSES.map((c) => `api_calls:${k}:${c}`));

/** Midnight UTC of the day of `t`. */
export const utcDay = (t: number | Date): Date => {
  const d = new Date(t);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
};

/** "YYYY-MM-DD" of a UTC day. */
export const dayKey = (d: Date): string => d.toISOString().slice(0, 10);

/** The last `count` UTC days up to and including today's, oldest first. */
export function lastDays(now: number, count: number): Date[] {
  const today = utcDay(now).getTime();
  return Array.from({ length: count }, (_, i) => new Date(today - (count - 1 - i) * DAY_MS));
}

/** A value of one metric on one day (a rollup row, or today's hours added up). */
export type DayValue = { app: string; metric: string; day: Date; value: number };

export type UsageSeries = {
  days: string[];
  requests: number[];
  wakes: number[];
  errors5xx: number[];
  runningHoursByApp: { app: string; hours: number[] }[];
  apiCallsByKeyType: Record<(typeof KEY_TYPES)[number], number[]>;
  membersActive: number[];
};

const round2 = (x: number) => Math.round(x * 100) / 100;

/**
 * The charts of `days` from rows of any apps and metrics (others are ignored): requests, wakes
 * and 5xx answers summed over apps; running hours per app (`apps` always listed, in that order,
 * then any other app with running time, by name; hours to 0.01); API calls per key type summed
 * over status classes; members active per day.
 */
export function usageSeries(days: readonly Date[], rows: Iterable<DayValue>, apps: readonly string[]): UsageSeries {
  return new SeriesSums(days).add(rows).series(apps);
}

/**
 * The sums behind usageSeries, added to row by row: the rows of settled days are added once and
 * kept, and each answer adds the few recent rows to a copy (a copy is an array per app, not a
 * pass over 90 days of rows).
 */
export class SeriesSums {
  private readonly days: readonly Date[];
  private readonly index: Map<number, number>;
  private readonly requests: number[];
  private readonly wakes: number[];
  private readonly errors5xx: number[];
  private readonly membersActive: number[];
  private readonly apiCalls: Record<(typeof KEY_TYPES)[number], number[]>;
  /** Running seconds per app per day; an app is here once a row of it fell in the days. */
  private readonly running: Map<string, number[]>;

  constructor(days: readonly Date[], from?: SeriesSums) {
    this.days = days;
    this.index = from?.index ?? new Map(days.map((d, i) => [d.getTime(), i]));
    const copy = (xs: number[] | undefined) => (xs ? [...xs] : new Array<number>(days.length).fill(0));
    this.requests = copy(from?.requests);
    this.wakes = copy(from?.wakes);
    this.errors5xx = copy(from?.errors5xx);
    this.membersActive = copy(from?.membersActive);
    this.apiCalls = {
      session: copy(from?.apiCalls.session),
      STANDARD: copy(from?.apiCalls.STANDARD),
      AI_AGENT: copy(from?.apiCalls.AI_AGENT),
    };
    this.running = new Map([...(from?.running ?? [])].map(([app, seconds]) => [app, [...seconds]]));
  }

  /** A copy to add to, this one unchanged. */
  clone(): SeriesSums {
    return new SeriesSums(this.days, this);
  }

  add(rows: Iterable<DayValue>): this {
    for (const row of rows) {
      const i = this.index.get(row.day.getTime());
      if (i === undefined) continue;
      switch (row.metric) {
        case METRIC.requests:
          (this.requests[i] as number) += row.value;
          break;
        case METRIC.wakes:
          (this.wakes[i] as number) += row.value;
          break;
        case METRIC.errors5xx:
          (this.errors5xx[i] as number) += row.value;
          break;
        case METRIC.membersActive:
          (this.membersActive[i] as number) += row.value;
          break;
        case METRIC.runningSeconds: {
          if (!row.app) break;
          let series = this.running.get(row.app);
          if (!series) {
            series = new Array<number>(this.days.length).fill(0);
            this.running.set(row.app, series);
          }
          (series[i] as number) += row.value;
          break;
        }
        default: {
          const m = /^api_calls:(session|STANDARD|AI_AGENT):/.exec(row.metric);
          if (m) (this.apiCalls[m[1] as (typeof KEY_TYPES)[number]][i] as number) += row.value;
        }
      }
    }
    return this;
  }

  series(apps: readonly string[]): UsageSeries {
    const listed = new Set(apps);
    const others = [...this.running.keys()].filter((a) => !listed.has(a)).sort();
    const none = new Array<number>(this.days.length).fill(0);
    return {
      days: this.days.map(dayKey),
      requests: [...this.requests],
      wakes: [...this.wakes],
      errors5xx: [...this.errors5xx],
      runningHoursByApp: [...apps, ...others].map((app) => ({
        app,
        hours: (this.running.get(app) ?? none).map((seconds) => round2(seconds / 3600)),
      })),
      apiCallsByKeyType: {
        session: [...this.apiCalls.session],
        STANDARD: [...this.apiCalls.STANDARD],
        AI_AGENT: [...this.apiCalls.AI_AGENT],
      },
      membersActive: [...this.membersActive],
    };
  }
}
