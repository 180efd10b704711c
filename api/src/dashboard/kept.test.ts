import { describe, expect, it } from "vitest";
import { Kept } from "./kept.ts";

describe("Kept", () => {
  const setup = () => {
    let now = 0;
    let loads = 0;
    let release: (() => void) | undefined;
    const kept = new Kept<number>(1000, () => now, 2);
    const load = () => {
      loads++;
      const n = loads;
      return new Promise<number>((resolve) => {
        release = () => resolve(n);
      });
    };
    return {
      kept,
      load,
      loads: () => loads,
      release: () => release?.(),
      at: (t: number) => {
        now = t;
      },
    };
  };

  it("reads once for requests that ask at the same moment", async () => {
    const t = setup();
    const a = t.kept.get("k", t.load);
    const b = t.kept.get("k", t.load);
    t.release();
    expect(await a).toBe(1);
    expect(await b).toBe(1);
    expect(t.loads()).toBe(1);
  });

  it("serves the kept value, refreshes it in the background after half its life, never older than its life", async () => {
    const t = setup();
    const first = t.kept.get("k", t.load);
    t.release();
    await first;
    t.at(400);
    expect(await t.kept.get("k", t.load)).toBe(1);
    expect(t.loads()).toBe(1);
    t.at(600); // past half: still served, one refresh starts
    expect(await t.kept.get("k", t.load)).toBe(1);
    expect(await t.kept.get("k", t.load)).toBe(1);
    expect(t.loads()).toBe(2);
    t.release();
    await new Promise((r) => setTimeout(r, 0));
    expect(await t.kept.get("k", t.load)).toBe(2);
    t.at(1700); // the refreshed value (read at 600) is too old: read again and wait for it
    const late = t.kept.get("k", t.load);
    t.release();
    expect(await late).toBe(3);
  });

  it("serves the old value while a slow refresh is under way, up to three lifetimes", async () => {
    const t = setup();
    const first = t.kept.get("k", t.load);
    t.release();
    await first;
    t.at(600); // the refresh starts and does not finish
    expect(await t.kept.get("k", t.load)).toBe(1);
    t.at(2900); // expired, but its refresh is under way: still the old value, no second read
    expect(await t.kept.get("k", t.load)).toBe(1);
    expect(t.loads()).toBe(2);
    t.at(3000); // three lifetimes: read again and wait
    const late = t.kept.get("k", t.load);
    expect(t.loads()).toBe(3);
    t.release();
    expect(await late).toBe(3);
  });

  it("keeps no failure", async () => {
    let n = 0;
    const kept = new Kept<number>(1000, () => 0);
    const failing = () => (n++ === 0 ? Promise.reject(new Error("down")) : Promise.resolve(n));
    await expect(kept.get("k", failing)).rejects.toThrow("down");
    expect(await kept.get("k", failing)).toBe(2);
  });

  it("holds at most maxKeys keys, dropping the oldest", async () => {
    const t = setup();
    for (const k of ["a", "b", "c"]) {
      const p = t.kept.get(k, t.load);
      t.release();
      await p;
    }
    const a = t.kept.get("a", t.load); // "a" was dropped: read again
    t.release();
    expect(await a).toBe(4);
  });
});
