import { describe, expect, it } from "vitest";
import { freshFlight, recentReads } from "./fresh-flight.ts";

/** A load whose reads finish when the test says, each returning the "database" value at its start. */
function controlledLoad() {
  let value = 0;
  const reads: Array<{ key: string; seen: number; finish: () => void; fail: (e: Error) => void }> = [];
  const load = (key: string) =>
    new Promise<number>((resolve, reject) => {
      const seen = value;
      reads.push({ key, seen, finish: () => resolve(seen), fail: reject });
    });
  return {
    load,
    reads,
    write: () => {
      value++;
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("freshFlight", () => {
  it("never answers a caller with a read that started before it arrived", async () => {
    const db = controlledLoad();
    const get = freshFlight(db.load);
    const first = get("org");
    await tick();
    db.write(); // a trial is granted while the first read is in flight
    const second = get("org");
    const third = get("org");
    db.reads[0]?.finish();
    expect(await first).toBe(0);
    await tick();
    // The callers that arrived during the first read share one new read, which sees the write.
    expect(db.reads).toHaveLength(2);
    db.reads[1]?.finish();
    expect([await second, await third]).toEqual([1, 1]);
  });

  it("reads once per wave of callers, per key (callers before a read is sent share it)", async () => {
    const db = controlledLoad();
    const get = freshFlight(db.load);
    const wave = [get("a"), get("a"), get("b")];
    await tick();
    expect(db.reads.map((r) => r.key)).toEqual(["a", "b"]);
    const later = [get("a"), get("a"), get("a")];
    for (const r of db.reads.splice(0)) r.finish();
    await Promise.all(wave);
    await tick();
    expect(db.reads.map((r) => r.key)).toEqual(["a"]);
    db.reads[0]?.finish();
    await Promise.all(later);
  });

  it("passes a failed read to its callers, and the next caller reads again", async () => {
    const db = controlledLoad();
    const get = freshFlight(db.load);
    const first = get("org");
    await tick();
    const second = get("org");
    db.reads[0]?.fail(new Error("database down"));
    await expect(first).rejects.toThrow("database down");
    await tick();
    db.reads[1]?.fail(new Error("still down"));
    await expect(second).rejects.toThrow("still down");
    const third = get("org");
    await tick();
    db.reads[2]?.finish();
    expect(await third).toBe(0);
  });
});

describe("recentReads", () => {
  function setup(options: { refreshAfterMs?: number } = {}) {
    let clock = 0;
    let value = 0;
    let reads = 0;
    let failNext = false;
    const cache = recentReads(
      async (_org: string) => {
        reads++;
        if (failNext) {
          failNext = false;
          throw new Error("database down");
        }
        return value;
      },
      { maxAgeMs: 1000, now: () => clock, ...options },
    );
    return {
      cache,
      reads: () => reads,
      advance: (ms: number) => {
        clock += ms;
      },
      write: () => {
        value++;
      },
      failNext: () => {
        failNext = true;
      },
    };
  }

  it("keeps a read for its maximum age, then reads again", async () => {
    const t = setup({ refreshAfterMs: 1000 });
    expect(await t.cache.get("org")).toBe(0);
    t.write();
    t.advance(999);
    expect([await t.cache.get("org"), t.reads()]).toEqual([0, 1]);
    t.advance(1);
    expect([await t.cache.get("org"), t.reads()]).toEqual([1, 2]);
  });

  it("reads again at once after forget", async () => {
    const t = setup();
    await t.cache.get("org");
    t.write();
    t.cache.forget("org");
    expect([await t.cache.get("org"), t.reads()]).toEqual([1, 2]);
  });

  it("keeps no failed read", async () => {
    const t = setup();
    t.failNext();
    await expect(t.cache.get("org")).rejects.toThrow("database down");
    expect([await t.cache.get("org"), t.reads()]).toEqual([0, 2]);
  });

  it("past half its age, answers from the kept read and reads a newer one in the background", async () => {
    const t = setup();
    expect(await t.cache.get("org")).toBe(0);
    t.write();
    t.advance(499);
    expect([await t.cache.get("org"), t.reads()]).toEqual([0, 1]);
    t.advance(1);
    // Answered at once from the kept read; the newer read starts behind it.
    expect(await t.cache.get("org")).toBe(0);
    await tick();
    expect(t.reads()).toBe(2);
    // The newer read replaced the kept one; its age counts from when it was asked for.
    expect([await t.cache.get("org"), t.reads()]).toEqual([1, 2]);
    t.advance(499);
    expect([await t.cache.get("org"), t.reads()]).toEqual([1, 2]);
  });

  it("never serves a read past its maximum age, even when the newer read failed", async () => {
    const t = setup();
    await t.cache.get("org");
    t.write();
    t.failNext();
    t.advance(500);
    expect(await t.cache.get("org")).toBe(0);
    await tick();
    expect(t.reads()).toBe(2);
    t.advance(500);
    expect([await t.cache.get("org"), t.reads()]).toEqual([1, 3]);
  });

  it("does not keep a background read that lands after forget", async () => {
    const db = controlledLoad();
    let clock = 0;
    const cache = recentReads(db.load, { maxAgeMs: 1000, now: () => clock });
    const first = cache.get("org");
    await tick();
    db.reads[0]?.finish();
    expect(await first).toBe(0);
    clock = 600;
    expect(await cache.get("org")).toBe(0); // starts a background read
    await tick();
    expect(db.reads).toHaveLength(2);
    db.write(); // the org's installs change while it is in flight
    cache.forget("org");
    const after = cache.get("org");
    db.reads[1]?.finish(); // the background read, which started before the change
    await tick();
    await tick();
    db.reads[2]?.finish();
    expect(await after).toBe(1);
    expect(await cache.get("org")).toBe(1);
    expect(db.reads).toHaveLength(3);
  });
});
