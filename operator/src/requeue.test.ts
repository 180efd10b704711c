import type { AppInstance } from "@atrium/crds";
import { describe, expect, it } from "vitest";
import { idleState, parseDuration } from "./appinstance/idle.ts";
import { MAX_REQUEUE_MS, requeueAfter } from "./requeue.ts";
import { WorkQueue } from "./runtime/queue.ts";

describe("requeueAfter", () => {
  it("clamps to [0, a day], far below Node's timer limit (2^31 - 1 ms)", () => {
    expect(MAX_REQUEUE_MS).toBeLessThan(2 ** 31 - 1);
    expect(requeueAfter(5_000)).toEqual({ requeueAfterMs: 5_000 });
    expect(requeueAfter(-3)).toEqual({ requeueAfterMs: 0 });
    expect(requeueAfter(parseDuration("720h"))).toEqual({ requeueAfterMs: MAX_REQUEUE_MS });
    expect(requeueAfter(Number.POSITIVE_INFINITY)).toEqual({ requeueAfterMs: MAX_REQUEUE_MS });
  });

  it("keeps a 30-day idle deadline from spinning the queue (an overflowing timer fires after 1 ms)", async () => {
    const now = new Date("2026-01-01T00:00:00Z");
    const app: AppInstance = {
      apiVersion: "atrium.dev/v1alpha1",
      kind: "AppInstance",
      metadata: { name: "a", creationTimestamp: now.toISOString() },
      spec: { template: "t", idle: { policy: "Auto", timeout: "720h" } },
    };
    const idle = idleState(app, now);
    expect(idle.requeueAfterMs).toBe(720 * 3_600_000); // the deadline itself is a month out
    let runs = 0;
    const queue = new WorkQueue(
      async () => {
        runs++;
        return requeueAfter(idle.requeueAfterMs as number);
      },
      { concurrency: 1 },
    );
    queue.add("org-a/a");
    await new Promise((r) => setTimeout(r, 200));
    queue.shutdown();
    expect(runs).toBe(1);
  });
});
