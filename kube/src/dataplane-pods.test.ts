import { describe, expect, it } from "vitest";
import { type Pod, podListenerUrl, podStatsUrl, readyDataPlanePod } from "./dataplane-pods.ts";
import { envPort } from "./env.ts";

const pod = (ip: string | undefined, ready = true, deleting = false): Pod => ({
  metadata: {
    name: "envoy-a",
    namespace: "envoy-gateway-system",
    uid: "u1",
    ...(deleting ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}),
  },
  status: { ...(ip ? { podIP: ip } : {}), conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
});

describe("the data plane's ready pods", () => {
  it("are known by their identity, and reached at their address on either port", () => {
    const ready = readyDataPlanePod(pod("10.0.3.7"));
    expect(ready).toEqual({ key: "pod/envoy-gateway-system/envoy-a/u1", host: "10.0.3.7" });
    expect(podListenerUrl(ready as never, 10080)).toBe("http://10.0.3.7:10080");
    expect(podStatsUrl(ready as never, 19001)).toBe("http://10.0.3.7:19001/stats/prometheus");
    expect(podListenerUrl(readyDataPlanePod(pod("fd00::7")) as never, 10080)).toBe("http://[fd00::7]:10080");
  });

  it("leave out a pod not ready, terminating, or without an address", () => {
    expect(readyDataPlanePod(pod("10.0.3.7", false))).toBeUndefined();
    expect(readyDataPlanePod(pod("10.0.3.7", true, true))).toBeUndefined();
    expect(readyDataPlanePod(pod(undefined))).toBeUndefined();
  });
});

describe("a port setting", () => {
  it("is its default when unset, and refused naming the variable when not a port", () => {
    expect(envPort({}, "ATRIUM_X_PORT", 19001)).toBe(19001);
    expect(envPort({}, "ATRIUM_X_PORT")).toBeUndefined();
    expect(envPort({ ATRIUM_X_PORT: "10080" }, "ATRIUM_X_PORT")).toBe(10080);
    for (const bad of ["0", "65536", "80.5", "http"])
      expect(() => envPort({ ATRIUM_X_PORT: bad }, "ATRIUM_X_PORT")).toThrow(/ATRIUM_X_PORT must be a port number/);
  });
});
