import { describe, expect, it } from "vitest";
import type { KubeClient, KubeObject } from "./client.ts";
import { checkTimings, LeaderElector } from "./leader.ts";

/**
 * An apiserver holding one Lease that can be cut off: while `partitioned`, requests hang
 * until their signal aborts (as on a real partition), and without a signal, forever.
 */
function fakeLeaseServer() {
  let lease: KubeObject | undefined;
  let rv = 0;
  const state = { partitioned: false, requests: 0 };
  const answer = <T>(value: () => T, options?: { signal?: AbortSignal }) =>
    new Promise<T>((resolve, reject) => {
      state.requests++;
      if (!state.partitioned) return resolve(value());
      options?.signal?.addEventListener("abort", () => reject(options.signal?.reason), { once: true });
    });
  const store = (o: KubeObject) => {
    lease = structuredClone({ ...o, metadata: { ...o.metadata, resourceVersion: String(++rv) } });
    return structuredClone(lease);
  };
  const client = {
    get: (_t: unknown, _n: string, _ns: string, options?: { signal?: AbortSignal }) =>
      answer(() => (lease ? structuredClone(lease) : undefined), options),
    create: (_t: unknown, o: KubeObject, options?: { signal?: AbortSignal }) => answer(() => store(o), options),
    replace: (_t: unknown, o: KubeObject, options?: { signal?: AbortSignal }) => answer(() => store(o), options),
  } as unknown as KubeClient;
  return { client, state };
}

const timings = { leaseDurationMs: 600, renewDeadlineMs: 400, retryPeriodMs: 100 };

describe("LeaderElector", () => {
  it("ends the term by the renew deadline when renewals hang, before the lease can expire for others", async () => {
    const { client, state } = fakeLeaseServer();
    const elector = new LeaderElector(client, {
      namespace: "ns",
      name: "lease",
      identity: "a",
      log: () => {},
      ...timings,
    });
    const acquiredFrom = Date.now();
    expect(await elector.acquire()).toBe(true);
    const renewing = elector.renewUntilLost();
    await new Promise((r) => setTimeout(r, 250));
    // Renewals went through until now; from here the apiserver is unreachable.
    const cutAt = Date.now();
    state.partitioned = true;
    expect(await renewing).toBe("lost");
    const lostAt = Date.now();
    expect(elector.isLeader).toBe(false);
    // The deadline runs from the last renewal SENT, at most one retry period before the cut.
    expect(lostAt - cutAt).toBeLessThanOrEqual(timings.renewDeadlineMs + 50);
    // Others can take over no sooner than lease duration after they saw that renewal.
    expect(lostAt - Math.max(acquiredFrom, cutAt - timings.retryPeriodMs)).toBeLessThan(timings.leaseDurationMs);
    await elector.release();
  });

  it("refuses timings whose renew deadline is not shorter than the lease", () => {
    expect(() => checkTimings({ leaseDurationMs: 1000, renewDeadlineMs: 1000, retryPeriodMs: 100 })).toThrow(
      /renew deadline/,
    );
    expect(() => checkTimings({ leaseDurationMs: 1000, renewDeadlineMs: 600, retryPeriodMs: 600 })).toThrow(
      /retry period/,
    );
    expect(() => checkTimings({ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2000 })).not.toThrow();
  });
});
