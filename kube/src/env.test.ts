import { describe, expect, it } from "vitest";
import { envDataPlanePods, envList, envNumber, envUrl } from "./env.ts";

describe("envNumber", () => {
  it("reads numbers and falls back when unset", () => {
    expect(envNumber({ X: "250" }, "X", 1)).toBe(250);
    expect(envNumber({}, "X", 7)).toBe(7);
  });
  it("refuses what is not a number in range, naming the variable", () => {
    expect(() => envNumber({ X: "5s" }, "X", 1)).toThrow('X must be a number >= 0, got "5s"');
    expect(() => envNumber({ X: "0" }, "X", 1, 1)).toThrow("X must be a number >= 1");
  });
});

describe("envUrl", () => {
  it("reads http(s) URLs and gives undefined when unset", () => {
    expect(envUrl({ U: "https://api.example:8443/api/auth/login" }, "U")?.href).toBe(
      "https://api.example:8443/api/auth/login",
    );
    expect(envUrl({ U: "" }, "U")).toBeUndefined();
    expect(envUrl({}, "U")).toBeUndefined();
  });
  it("refuses what is not an http(s) URL, naming the variable", () => {
    expect(() => envUrl({ U: "api.example/login" }, "U")).toThrow('U: "api.example/login" is not an http(s) URL');
    expect(() => envUrl({ U: "ftp://api.example/" }, "U")).toThrow("U:");
  });
});

describe("envList", () => {
  it("trims items and drops empty ones", () => {
    expect(envList({ L: " /healthz, /readyz,,/livez , " }, "L")).toEqual(["/healthz", "/readyz", "/livez"]);
    expect(envList({ L: "a" }, "L")).toEqual(["a"]);
  });
  it("gives the fallback when unset, and nothing when set but empty (a default turned off)", () => {
    expect(envList({}, "L", ["/healthz"])).toEqual(["/healthz"]);
    expect(envList({ L: "" }, "L", ["/healthz"])).toEqual([]);
    expect(envList({ L: " , " }, "L", ["/healthz"])).toEqual([]);
    expect(envList({}, "L")).toEqual([]);
  });
  it("never hands out the fallback itself, so a caller's change cannot alter the default", () => {
    const fallback = ["/healthz"] as const;
    const list = envList({}, "L", fallback);
    list.push("/x");
    expect(fallback).toEqual(["/healthz"]);
  });
});

describe("envDataPlanePods", () => {
  const ns = { ATRIUM_DATA_PLANE_NAMESPACE: "envoy-gateway-system" };
  it("reads the namespace and key=value labels, or undefined when neither is set", () => {
    expect(envDataPlanePods({ ...ns, ATRIUM_DATA_PLANE_POD_LABELS: "a.io/gw=public, tier=edge" })).toEqual({
      namespace: "envoy-gateway-system",
      podLabels: { "a.io/gw": "public", tier: "edge" },
    });
    expect(envDataPlanePods({})).toBeUndefined();
  });
  it("refuses one without the other, or labels that are not labels, naming the variable", () => {
    expect(() => envDataPlanePods(ns)).toThrow(/ATRIUM_DATA_PLANE_POD_LABELS/);
    expect(() => envDataPlanePods({ ATRIUM_DATA_PLANE_POD_LABELS: "a=b" })).toThrow(/ATRIUM_DATA_PLANE_NAMESPACE/);
    for (const labels of ["a", "a=b=c", "a b=c", "=b"])
      expect(() => envDataPlanePods({ ...ns, ATRIUM_DATA_PLANE_POD_LABELS: labels })).toThrow(
        /ATRIUM_DATA_PLANE_POD_LABELS/,
      );
  });
});
