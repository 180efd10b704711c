// The usage series' arithmetic: UTC days, zero-filling, sums over apps and status classes.
import { describe, expect, it } from "vitest";
import { idleStopsPerApp } from "./dashboard.ts";
import { type DayValue, dayKey, lastDays, SeriesSums, usageSeries, utcDay } from "./series.ts";

const d = (s: string) => new Date(`${s}T00:00:00.000Z`);
const NOW = Date.parse("2026-03-15T12:34:56Z");

describe("lastDays", () => {
  it("ends with today (UTC), oldest first", () => {
    expect(lastDays(NOW, 7).map(dayKey)).toEqual([
      "2026-03-09",
      "2026-03-10",
      "2026-03-11",
      "2026-03-12",
      "2026-03-13",
      "2026-03-14",
      "2026-03-15",
    ]);
  });
  it("crosses months and leap days", () => {
    const days = lastDays(Date.parse("2028-03-01T00:00:00Z"), 3).map(dayKey);
    expect(days).toEqual(["2028-02-28", "2028-02-29", "2028-03-01"]);
    expect(lastDays(NOW, 90)).toHaveLength(90);
    expect(dayKey(lastDays(NOW, 90)[0] as Date)).toBe("2025-12-16");
  });
  it("a moment just before midnight UTC belongs to that day", () => {
    expect(dayKey(utcDay(Date.parse("2026-03-15T23:59:59.999Z")))).toBe("2026-03-15");
    expect(dayKey(utcDay(Date.parse("2026-03-16T00:00:00Z")))).toBe("2026-03-16");
  });
});

describe("usageSeries", () => {
  const days = lastDays(NOW, 7);
  const rows: DayValue[] = [
    { app: "wiki", metric: "requests", day: d("2026-03-10"), value: 100 },
    { app: "chat", metric: "requests", day: d("2026-03-10"), value: 23 },
    { app: "chat", metric: "requests", day: d("2026-03-15"), value: 7 }, // today so far
    { app: "chat", metric: "requests", day: d("2026-03-08"), value: 999 }, // before the window
    { app: "wiki", metric: "wakes", day: d("2026-03-11"), value: 2 },
    { app: "wiki", metric: "errors_5xx", day: d("2026-03-12"), value: 5 },
    { app: "wiki", metric: "running_seconds", day: d("2026-03-09"), value: 5400 }, // 1.5 h
    { app: "old", metric: "running_seconds", day: d("2026-03-14"), value: 1000 }, // 0.2777… → 0.28 h
    { app: "", metric: "api_calls:session:2xx", day: d("2026-03-13"), value: 10 },
    { app: "", metric: "api_calls:session:4xx", day: d("2026-03-13"), value: 3 },
    { app: "", metric: "api_calls:AI_AGENT:5xx", day: d("2026-03-14"), value: 1 },
    { app: "", metric: "api_calls:STANDARD:2xx", day: d("2026-03-15"), value: 4 },
    { app: "", metric: "members_active", day: d("2026-03-15"), value: 3 },
    { app: "wiki", metric: "stopped_idle_seconds", day: d("2026-03-10"), value: 3600 }, // not charted
  ];
  const s = usageSeries(days, rows, ["chat", "wiki", "idle"]);

  it("sums requests, wakes and 5xx over apps per day, zero elsewhere", () => {
    expect(s.days).toEqual(days.map(dayKey));
    expect(s.requests).toEqual([0, 123, 0, 0, 0, 0, 7]);
    expect(s.wakes).toEqual([0, 0, 2, 0, 0, 0, 0]);
    expect(s.errors5xx).toEqual([0, 0, 0, 5, 0, 0, 0]);
  });
  it("gives running hours per app: installed ones in order (even without data), then others by name", () => {
    expect(s.runningHoursByApp).toEqual([
      { app: "chat", hours: [0, 0, 0, 0, 0, 0, 0] },
      { app: "wiki", hours: [1.5, 0, 0, 0, 0, 0, 0] },
      { app: "idle", hours: [0, 0, 0, 0, 0, 0, 0] },
      { app: "old", hours: [0, 0, 0, 0, 0, 0.28, 0] },
    ]);
  });
  it("sums API calls per key type over status classes, and members active", () => {
    expect(s.apiCallsByKeyType).toEqual({
      session: [0, 0, 0, 0, 13, 0, 0],
      STANDARD: [0, 0, 0, 0, 0, 0, 4],
      AI_AGENT: [0, 0, 0, 0, 0, 1, 0],
    });
    expect(s.membersActive).toEqual([0, 0, 0, 0, 0, 0, 3]);
  });
  it("is all zeros without rows, every array as long as the days", () => {
    const empty = usageSeries(lastDays(NOW, 30), [], []);
    for (const series of [
      empty.requests,
      empty.wakes,
      empty.errors5xx,
      empty.membersActive,
      empty.apiCallsByKeyType.AI_AGENT,
    ])
      expect(series).toEqual(new Array(30).fill(0));
    expect(empty.runningHoursByApp).toEqual([]);
  });
});

describe("SeriesSums", () => {
  const days = lastDays(NOW, 7);
  const settled: DayValue[] = [
    { app: "wiki", metric: "running_seconds", day: d("2026-03-10"), value: 3600 },
    { app: "old", metric: "running_seconds", day: d("2026-03-11"), value: 1800 },
    { app: "wiki", metric: "requests", day: d("2026-03-12"), value: 10 },
    { app: "", metric: "api_calls:session:2xx", day: d("2026-03-13"), value: 2 },
  ];
  const recent: DayValue[] = [
    { app: "wiki", metric: "requests", day: d("2026-03-14"), value: 5 },
    { app: "wiki", metric: "running_seconds", day: d("2026-03-15"), value: 900 },
    { app: "new", metric: "running_seconds", day: d("2026-03-15"), value: 360 },
    { app: "", metric: "members_active", day: d("2026-03-15"), value: 3 },
  ];
  it("answers from kept sums plus recent rows as from all the rows at once, the kept sums unchanged", () => {
    const kept = new SeriesSums(days).add(settled);
    const before = kept.series(["wiki"]);
    expect(kept.clone().add(recent).series(["wiki"])).toEqual(usageSeries(days, [...settled, ...recent], ["wiki"]));
    expect(
      kept
        .clone()
        .add(recent)
        .series(["wiki"])
        .runningHoursByApp.map((r) => r.app),
    ).toEqual(["wiki", "new", "old"]);
    expect(kept.series(["wiki"])).toEqual(before);
    expect(before.runningHoursByApp.map((r) => r.app)).toEqual(["wiki", "old"]);
  });
});

describe("idleStopsPerApp", () => {
  it("gathers the three idle metrics per app", () => {
    const day = d("2026-03-15");
    expect(
      idleStopsPerApp([
        { app: "x", metric: "stopped_idle_seconds", value: 36_000 },
        { app: "x", metric: "stopped_idle_cpu_core_seconds", value: 18_000 },
        { app: "y", metric: "stopped_idle_gib_seconds", value: 7 },
        { app: "x", metric: "stopped_idle_seconds", value: 1 },
        { app: "x", metric: "requests", value: 5, day } as never,
      ]),
    ).toEqual([
      { app: "x", stoppedSeconds: 36_001, cpuCoreSeconds: 18_000, gibSeconds: 0 },
      { app: "y", stoppedSeconds: 0, cpuCoreSeconds: 0, gibSeconds: 7 },
    ]);
  });
});
