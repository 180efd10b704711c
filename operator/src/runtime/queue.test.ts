import { afterEach, describe, expect, it, vi } from "vitest";
import { LATER_SHARE, MAX_TIMER_MS, WorkQueue } from "./queue.ts";

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe("WorkQueue", () => {
  it("queues a key once however often it is added while waiting", async () => {
    const seen: string[] = [];
    const q = new WorkQueue(
      async (k) => {
        seen.push(k);
        return undefined;
      },
      { concurrency: 1 },
    );
    // The first add starts processing at once; the next three collapse into one dirty re-run.
    q.add("a");
    q.add("a");
    q.add("a");
    q.add("a");
    await q.idle();
    expect(seen).toEqual(["a", "a"]);
  });

  it("never runs one key twice at once, and reruns a key that changed while running", async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const q = new WorkQueue(
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        runs++;
        await tick(20);
        running--;
        return undefined;
      },
      { concurrency: 4 },
    );
    q.add("a");
    await tick();
    q.add("a"); // while processing: dirty
    await q.idle();
    await tick(30);
    await q.idle();
    expect(maxRunning).toBe(1);
    expect(runs).toBe(2);
  });

  it("runs different keys in parallel up to the concurrency", async () => {
    let running = 0;
    let maxRunning = 0;
    const q = new WorkQueue(
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await tick(10);
        running--;
        return undefined;
      },
      { concurrency: 3 },
    );
    for (const k of ["a", "b", "c", "d", "e"]) q.add(k);
    await q.idle();
    expect(maxRunning).toBe(3);
  });

  it("retries failures with growing delays and stops on a terminal error", async () => {
    const attempts: number[] = [];
    const started = Date.now();
    const q = new WorkQueue(
      async () => {
        attempts.push(Date.now() - started);
        throw new Error(attempts.length < 3 ? "transient" : "terminal");
      },
      { concurrency: 1, baseDelayMs: 20, maxDelayMs: 1000, onError: (_k, e) => (e as Error).message === "terminal" },
    );
    q.add("a");
    await tick(400);
    expect(attempts).toHaveLength(3);
    const [first, second, third] = attempts as [number, number, number];
    expect(second - first).toBeGreaterThanOrEqual(15); // ~20 ms ±20 %
    expect(third - second).toBeGreaterThanOrEqual(30); // ~40 ms ±20 %
  });

  it("requeues after the delay a reconcile asks for, keeping the earliest", async () => {
    const seen: number[] = [];
    const started = Date.now();
    let first = true;
    const q = new WorkQueue(
      async () => {
        seen.push(Date.now() - started);
        if (first) {
          first = false;
          return { requeueAfterMs: 50 };
        }
        return undefined;
      },
      { concurrency: 1 },
    );
    q.add("a");
    q.addAfter("b", 1000);
    q.addAfter("b", 10_000); // later: ignored, the earlier timer stands
    await tick(120);
    expect(seen).toHaveLength(2);
    expect(seen[1]).toBeGreaterThanOrEqual(45);
    q.shutdown();
  });

  describe("a delay past Node's timer limit (2^31 - 1 ms)", () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it("does not run the key at once (setTimeout would fire after 1 ms)", async () => {
      const seen: string[] = [];
      const q = new WorkQueue(
        async (k) => {
          seen.push(k);
          return undefined;
        },
        { concurrency: 1 },
      );
      q.addAfter("far", 30 * 24 * 3_600_000); // a 30-day deadline
      q.addAfter("farther", 2 ** 31); // one past the limit
      await tick(50);
      expect(seen).toEqual([]);
      q.shutdown();
    });

    it("runs the key at the deadline, re-arming the timer in steps the timer can hold", async () => {
      vi.useFakeTimers();
      const seen: string[] = [];
      const q = new WorkQueue(
        async (k) => {
          seen.push(k);
          return undefined;
        },
        { concurrency: 1 },
      );
      q.addAfter("far", MAX_TIMER_MS + 60_000);
      await vi.advanceTimersByTimeAsync(MAX_TIMER_MS);
      expect(seen).toEqual([]);
      await vi.advanceTimersByTimeAsync(59_000);
      expect(seen).toEqual([]);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(seen).toEqual(["far"]);
      q.shutdown();
    });
  });

  describe("addWhenQuiet", () => {
    afterEach(() => {
      vi.useRealTimers();
    });
    const recording = () => {
      const seen: number[] = [];
      const started = Date.now();
      const q = new WorkQueue(
        async () => {
          seen.push(Date.now() - started);
          return undefined;
        },
        { concurrency: 1 },
      );
      return { q, seen };
    };

    it("runs a lone change once the quiet period passes", async () => {
      vi.useFakeTimers();
      const { q, seen } = recording();
      q.addWhenQuiet("org", 2_000, 10_000);
      expect(q.dueWithin(0)).toBe(1); // waiting for quiet counts as about to run
      await vi.advanceTimersByTimeAsync(1_999);
      expect(seen).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      expect(seen).toEqual([2_000]);
      expect(q.dueWithin(0)).toBe(0);
      q.shutdown();
    });

    it("folds a burst that goes on into one pass per maxMs, and a pause ends it sooner", async () => {
      vi.useFakeTimers();
      const { q, seen } = recording();
      // A change every second for 25 s: passes at 10 s and 20 s (a window each), none between.
      for (let t = 0; t < 25; t++) {
        q.addWhenQuiet("org", 2_000, 10_000);
        await vi.advanceTimersByTimeAsync(1_000);
      }
      expect(seen).toEqual([10_000, 20_000]);
      // The burst stops at 24 s: the last window closes 2 s after its last change.
      await vi.advanceTimersByTimeAsync(10_000);
      expect(seen).toEqual([10_000, 20_000, 26_000]);
      q.shutdown();
    });

    it("leaves a sooner delay of another kind (a retry, a requeue) in place, and keeps to it", async () => {
      vi.useFakeTimers();
      const { q, seen } = recording();
      q.addAfter("org", 500);
      q.addWhenQuiet("org", 2_000, 10_000);
      await vi.advanceTimersByTimeAsync(500);
      expect(seen).toEqual([500]);
      // A requeue asked for while waiting for quiet: later changes no longer push past it.
      q.addWhenQuiet("org", 2_000, 10_000);
      q.addAfter("org", 3_000);
      await vi.advanceTimersByTimeAsync(1_000);
      q.addWhenQuiet("org", 2_000, 10_000);
      await vi.advanceTimersByTimeAsync(1_500);
      expect(seen).toEqual([500, 2_500]);
      q.shutdown();
    });
  });

  it("coalesces keys asked for repeatedly while their delay runs into one pass", async () => {
    const seen: string[] = [];
    const q = new WorkQueue(
      async (k) => {
        seen.push(k);
        return undefined;
      },
      { concurrency: 1 },
    );
    for (let i = 0; i < 20; i++) q.addAfter("org", 30);
    await tick(10);
    q.addAfter("org", 30); // still waiting on the first timer: no second pass
    await tick(60);
    await q.idle();
    expect(seen).toEqual(["org"]);
    q.shutdown();
  });

  describe("the later line (a new object's first pass)", () => {
    /** A queue running one key at a time, with the first key held until `release`. */
    const held = () => {
      const seen: string[] = [];
      let release = () => {};
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const q = new WorkQueue(
        async (k) => {
          if (seen.length === 0) await gate;
          seen.push(k);
          return undefined;
        },
        { concurrency: 1 },
      );
      return { q, seen, release };
    };

    it("runs keys added later behind the ordinary line, whichever came first", async () => {
      const { q, seen, release } = held();
      q.add("busy");
      q.add("new-1", "later");
      q.add("new-2", "later");
      q.add("running-1");
      q.add("running-2");
      release();
      await q.idle();
      expect(seen).toEqual(["busy", "running-1", "running-2", "new-1", "new-2"]);
    });

    it("gives the later line one turn in LATER_SHARE while both wait, so creations go on", async () => {
      const { q, seen, release } = held();
      q.add("busy");
      for (let i = 0; i < 3; i++) q.add(`new-${i}`, "later");
      for (let i = 0; i < 2 * LATER_SHARE; i++) q.add(`now-${i}`);
      release();
      await q.idle();
      const turns = seen.slice(1).map((k) => (k.startsWith("new") ? "L" : "n"));
      const round = `${"n".repeat(LATER_SHARE - 1)}L`;
      expect(turns.join("")).toBe(`${round}${round}nnL`);
    });

    it("moves a key waiting later to the ordinary line when it is added again for now", async () => {
      const { q, seen, release } = held();
      q.add("busy");
      q.add("new-1", "later");
      q.add("app", "later");
      q.add("other");
      q.add("app"); // a change that needs the app now (a wake)
      q.add("other", "later"); // already waiting now: stays
      release();
      await q.idle();
      expect(seen).toEqual(["busy", "other", "app", "new-1"]);
    });

    it("drops the later line with clear(), and counts it in depth", async () => {
      const { q, seen, release } = held();
      q.add("busy");
      q.add("new-1", "later");
      q.add("now-1");
      expect(q.depth).toBe(2);
      q.clear();
      expect(q.depth).toBe(0);
      release();
      await q.idle();
      expect(seen).toEqual(["busy"]);
    });
  });
});
