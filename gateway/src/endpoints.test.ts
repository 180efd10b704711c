import { describe, expect, it } from "vitest";
import { type SliceEndpoint, usableEndpoints } from "./endpoints.ts";

/** The addresses chosen, and whether they are the terminating fallback. */
const usableAddresses = (endpoints: SliceEndpoint[]) => {
  const { use, terminating } = usableEndpoints(endpoints);
  return { addresses: use.flatMap((e) => e.addresses), terminating };
};

const ep = (address: string, conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean }) => ({
  addresses: [address],
  ...(conditions ? { conditions } : {}),
});

describe("usableEndpoints", () => {
  it("takes ready endpoints, unknown conditions counting as ready (as kube-proxy reads them)", () => {
    expect(usableAddresses([ep("10.0.0.1", { ready: true }), ep("10.0.0.2"), ep("10.0.0.3", {})])).toEqual({
      addresses: ["10.0.0.1", "10.0.0.2", "10.0.0.3"],
      terminating: false,
    });
  });

  it("never takes a terminating endpoint while one that is ready and not terminating exists", () => {
    // A deleted pod whose slice still says ready (or says nothing about it) and serving.
    const deleted = [
      ep("10.0.0.9", { ready: true, serving: true, terminating: true }),
      ep("10.0.0.8", { serving: true, terminating: true }),
      ep("10.0.0.7", { ready: false, serving: true, terminating: true }),
    ];
    expect(usableAddresses([...deleted, ep("10.0.0.1", { ready: true, serving: true, terminating: false })])).toEqual({
      addresses: ["10.0.0.1"],
      terminating: false,
    });
  });

  it("falls back to serving and terminating endpoints only when nothing else is there", () => {
    expect(
      usableAddresses([
        ep("10.0.0.7", { ready: false, serving: true, terminating: true }),
        ep("10.0.0.6", { ready: false, serving: false, terminating: true }),
        ep("10.0.0.5", { ready: false, serving: false, terminating: false }),
      ]),
    ).toEqual({ addresses: ["10.0.0.7"], terminating: true });
    // Serving unknown: ready's value decides, as in kube-proxy.
    expect(usableAddresses([ep("10.0.0.4", { terminating: true })])).toEqual({
      addresses: ["10.0.0.4"],
      terminating: true,
    });
    expect(usableAddresses([ep("10.0.0.3", { ready: false, terminating: true })])).toEqual({
      addresses: [],
      terminating: false,
    });
  });

  it("takes none of not ready, not terminating endpoints (a pod starting): the app is waking", () => {
    expect(usableAddresses([ep("10.0.0.5", { ready: false, serving: false })])).toEqual({
      addresses: [],
      terminating: false,
    });
    expect(usableAddresses([])).toEqual({ addresses: [], terminating: false });
  });
});
