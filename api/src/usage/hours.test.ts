import { describe, expect, it } from "vitest";
import {
  APP_METRIC_COLUMNS,
  appMetricRows,
  changes,
  DAY_MS,
  dayOf,
  HOUR_MS,
  hourOf,
  type MetricRow,
  parseQuantity,
  rollupDay,
  stateColumns,
  stateHours,
  type Transition,
} from "./hours.ts";

const T0 = Date.UTC(2026, 11, 1, 10, 0, 0); // 10:00 UTC
const at = (h: number, m = 0, s = 0) => T0 + h * HOUR_MS + m * 60_000 + s * 1000;
const start = (t: number, cause = "install"): Transition => ({
  kind: "start",
  cause,
  at: t,
  cpuMillis: 0,
  memoryBytes: 0,
});
const stop = (t: number, cause = "idle", cpuMillis = 500, memoryBytes = 2 ** 30): Transition => ({
  kind: "stop",
  cause,
  at: t,
  cpuMillis,
  memoryBytes,
});

/** The hours as a compact table: "HH: running/idle/cpu/gib". */
const table = (transitions: Transition[], from: number, to: number) =>
  [...stateHours(transitions, from, to)].map(
    ([h, s]) =>
      `${new Date(h).toISOString().slice(11, 13)}: ${s.running_seconds}/${s.stopped_idle_seconds}/${s.stopped_idle_cpu_core_seconds}/${s.stopped_idle_gib_seconds}`,
  );

describe("hourOf / dayOf", () => {
  it("floors to the UTC hour and day", () => {
    expect(hourOf(at(0, 59, 59))).toBe(T0);
    expect(hourOf(at(1))).toBe(at(1));
    expect(dayOf(at(13, 59))).toBe(Date.UTC(2026, 11, 1));
    expect(dayOf(Date.UTC(2026, 11, 1) - 1)).toBe(Date.UTC(2026, 10, 30));
  });
});

describe("stateHours", () => {
  it.each<[string, Transition[], number, number, string[]]>([
    ["nothing known: nothing counted", [], at(0), at(2), ["10: 0/0/0/0", "11: 0/0/0/0"]],
    ["running the whole range", [start(at(-5))], at(0), at(2), ["10: 3600/0/0/0", "11: 3600/0/0/0"]],
    ["a partial last hour (up to now)", [start(at(-1))], at(0), at(0, 30), ["10: 1800/0/0/0"]],
    [
      "a start mid-hour, an idle stop across the next hour boundary",
      [start(at(0, 15)), stop(at(1, 45))],
      at(0),
      at(3),
      // idle from 11:45: 900 s in 11h, 3600 s in 12h; 0.5 core and 1 GiB at the stop
      ["10: 2700/0/0/0", "11: 2700/900/450/900", "12: 0/3600/1800/3600"],
    ],
    [
      "a wake after an idle stop",
      [start(at(-2)), stop(at(0, 10)), start(at(0, 40), "wake")],
      at(0),
      at(1),
      ["10: 1800/1800/900/1800"], // running 10:00-10:10 and 10:40-11:00
    ],
    [
      "a stop that is not for idleness counts as neither",
      [start(at(-1)), stop(at(0, 30), "manual"), start(at(1, 30), "manual")],
      at(0),
      at(2),
      ["10: 1800/0/0/0", "11: 1800/0/0/0"],
    ],
    [
      "payment and failure stops are not savings",
      [start(at(-1)), stop(at(0, 20), "payment"), start(at(0, 40), "wake"), stop(at(0, 50), "failure")],
      at(0),
      at(1),
      ["10: 1800/0/0/0"],
    ],
    [
      "transitions twice (two replicas' starts) count once",
      [start(at(0)), start(at(0, 30)), stop(at(1), "idle", 0, 0), stop(at(1, 30), "idle", 0, 0)],
      at(0),
      at(2),
      ["10: 3600/0/0/0", "11: 0/3600/0/0"],
    ],
    [
      "the state before the range comes from the last transition before it",
      [stop(at(-30), "idle", 250, 2 ** 29)],
      at(0),
      at(1),
      ["10: 0/3600/900/1800"],
    ],
    ["transitions after the range end are ignored", [start(at(0)), stop(at(5))], at(0), at(1), ["10: 3600/0/0/0"]],
  ])("%s", (_name, transitions, from, to, expected) => {
    expect(table(transitions, from, to)).toEqual(expected);
  });

  it("never counts more than an hour per hour, whatever the transitions", () => {
    const transitions = Array.from({ length: 50 }, (_, i) => (i % 2 ? stop(at(0, i)) : start(at(0, i))));
    for (const s of stateHours(transitions, at(0), at(3)).values())
      expect(s.running_seconds + s.stopped_idle_seconds).toBeLessThanOrEqual(3600);
  });
});

const row = (org: string, app: string, metric: string, t: number, value: number): MetricRow => ({
  org,
  app,
  metric,
  at: t,
  value,
});

describe("rollupDay", () => {
  it("sums a day's hours per org, app and metric, and ignores other days", () => {
    const day = dayOf(T0);
    const hours = [
      row("acme", "wiki", "requests", at(0), 10),
      row("acme", "wiki", "requests", at(5), 5),
      row("acme", "wiki", "errors_5xx", at(5), 1),
      row("acme", "blog", "requests", at(1), 7),
      row("acme", "", "api_calls:session:2xx", at(2), 3),
      row("acme", "wiki", "requests", day + DAY_MS, 1000), // the next day
      row("acme", "wiki", "requests", day - 1, 1000), // the day before
    ];
    expect(rollupDay(day, hours)).toEqual([
      row("acme", "wiki", "requests", day, 15),
      row("acme", "wiki", "errors_5xx", day, 1),
      row("acme", "blog", "requests", day, 7),
      row("acme", "", "api_calls:session:2xx", day, 3),
    ]);
  });
});

describe("changes", () => {
  it("writes new and changed values only, never new zeros, and names what is no longer wanted", () => {
    const stored = [
      row("a", "x", "requests", T0, 5),
      row("a", "x", "wakes", T0, 1),
      row("a", "y", "requests", T0, 2),
      row("a", "z", "running_seconds", T0, 10),
    ];
    const wanted = [
      row("a", "x", "requests", T0, 5), // same: nothing
      row("a", "x", "wakes", T0, 2), // changed
      row("a", "z", "running_seconds", T0, 0), // now zero: written as zero
      row("a", "w", "requests", T0, 0), // new zero: nothing
      row("a", "v", "requests", T0, 3), // new
    ];
    expect(changes(stored, wanted)).toEqual({
      write: [row("a", "x", "wakes", T0, 2), row("a", "z", "running_seconds", T0, 0), row("a", "v", "requests", T0, 3)],
      remove: [row("a", "y", "requests", T0, 2)],
    });
  });

  it("is idempotent: what it wrote, applied, leaves nothing to write", () => {
    const wanted = [row("a", "x", "requests", T0, 0.1 + 0.2)];
    const { write } = changes([], wanted);
    expect(changes(write, [row("a", "x", "requests", T0, 0.3)])).toEqual({ write: [], remove: [] });
  });
});

describe("parseQuantity", () => {
  it.each<[string | undefined, number]>([
    ["500m", 0.5],
    ["2", 2],
    ["1.5", 1.5],
    ["512Mi", 512 * 2 ** 20],
    ["1Gi", 2 ** 30],
    ["1G", 1e9],
    ["128974848", 128974848],
    ["1e3", 1000],
    ["250k", 250_000],
    [undefined, 0],
    ["garbage", 0],
  ])("%s is %d", (text, value) => {
    expect(parseQuantity(text)).toBeCloseTo(value, 9);
  });
});

describe("UsageAppHour's columns", () => {
  it("gives one MetricRow per metric of a wide row, absent or null columns as 0", () => {
    expect(appMetricRows("o", "a", T0, { requests: 5, wakes: null, runningSeconds: 60 })).toEqual([
      { org: "o", app: "a", metric: "requests", at: T0, value: 5 },
      { org: "o", app: "a", metric: "errors_5xx", at: T0, value: 0 },
      { org: "o", app: "a", metric: "wakes", at: T0, value: 0 },
      { org: "o", app: "a", metric: "running_seconds", at: T0, value: 60 },
      { org: "o", app: "a", metric: "stopped_idle_seconds", at: T0, value: 0 },
      { org: "o", app: "a", metric: "stopped_idle_cpu_core_seconds", at: T0, value: 0 },
      { org: "o", app: "a", metric: "stopped_idle_gib_seconds", at: T0, value: 0 },
    ]);
    expect(appMetricRows("o", "a", T0, { errors5xx: 2 }, ["errors_5xx"])).toEqual([
      { org: "o", app: "a", metric: "errors_5xx", at: T0, value: 2 },
    ]);
  });
  it("writes the four state seconds of an hour to their columns", () => {
    const columns = stateColumns({
      running_seconds: 1,
      stopped_idle_seconds: 2,
      stopped_idle_cpu_core_seconds: 3,
      stopped_idle_gib_seconds: 4,
    });
    expect(columns).toEqual({
      runningSeconds: 1,
      stoppedIdleSeconds: 2,
      stoppedIdleCpuCoreSeconds: 3,
      stoppedIdleGibSeconds: 4,
    });
    // Each column named for the metric it holds.
    for (const [metric, column] of Object.entries(APP_METRIC_COLUMNS))
      if (metric.startsWith("running") || metric.startsWith("stopped")) expect(columns).toHaveProperty(column);
  });
});
