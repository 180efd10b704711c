// The activator's prompt activity writes (Gateway API mode): what cancels a stop in its grace.
import type { KubeClient } from "@atrium/kube";
import { describe, expect, it } from "vitest";
import { ActivityTracker } from "./activity.ts";

function tracker() {
  const writes: string[] = [];
  let release: (() => void) | undefined;
  let hold = false;
  const client = {
    apply: async (_t: unknown, object: { status: { lastActivity: string } }) => {
      writes.push(object.status.lastActivity);
      if (hold) await new Promise<void>((r) => (release = r));
      return object;
    },
  } as unknown as KubeClient;
  const app = { metadata: { name: "docs", namespace: "org-acme" }, spec: { template: "wiki" }, status: {} };
  const activity = new ActivityTracker(client, () => app as never, { flushIntervalMs: 60_000, log: () => {} });
  return {
    activity,
    writes,
    holdWrites: () => {
      hold = true;
    },
    release: () => {
      hold = false;
      release?.();
    },
  };
}

describe("prompt activity writes", () => {
  it("writes at once, without waiting for the flush interval", async () => {
    const t = tracker();
    await t.activity.flushPrompt("org-acme/docs");
    expect(t.writes).toHaveLength(1);
    // The periodic flush has nothing left to do within its interval.
    await t.activity.flushDue();
    expect(t.writes).toHaveLength(1);
  });

  it("keeps one write per app under way; activity meanwhile is written right after it", async () => {
    const t = tracker();
    t.holdWrites();
    const first = t.activity.flushPrompt("org-acme/docs");
    await new Promise((r) => setTimeout(r, 5));
    const more = Array.from({ length: 20 }, () => t.activity.flushPrompt("org-acme/docs"));
    await Promise.all(more);
    expect(t.writes).toHaveLength(1);
    t.release();
    await first;
    expect(t.writes).toHaveLength(2);
    expect(Date.parse(t.writes[1] as string)).toBeGreaterThanOrEqual(Date.parse(t.writes[0] as string));
  });
});
