import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { backoffDelay, sleep } from "./backoff.ts";

describe("sleep", () => {
  it("leaves no abort listener behind on a long-lived signal", async () => {
    const stop = new AbortController();
    for (let i = 0; i < 200; i++) await sleep(0, stop.signal);
    expect(getEventListeners(stop.signal, "abort")).toHaveLength(0);
  });

  it("wakes at once when the signal aborts, and removes its listener", async () => {
    const stop = new AbortController();
    const slept = sleep(60_000, stop.signal);
    expect(getEventListeners(stop.signal, "abort")).toHaveLength(1);
    stop.abort();
    await slept;
    expect(getEventListeners(stop.signal, "abort")).toHaveLength(0);
  });

  it("returns at once on a signal already aborted", async () => {
    const stop = new AbortController();
    stop.abort();
    await sleep(60_000, stop.signal);
    expect(getEventListeners(stop.signal, "abort")).toHaveLength(0);
  });
});

describe("backoffDelay", () => {
  it("doubles from the base up to the cap, within ±20 %", () => {
    expect(backoffDelay(0, 100, 1000, () => 0.5)).toBe(100);
    expect(backoffDelay(3, 100, 1000, () => 0.5)).toBe(800);
    expect(backoffDelay(10, 100, 1000, () => 1)).toBe(1200);
    expect(backoffDelay(10, 100, 1000, () => 0)).toBe(800);
  });
});
