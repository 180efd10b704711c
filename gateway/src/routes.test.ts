import { describe, expect, it } from "vitest";
import { isExcluded, routeOf, wantsHtml } from "./routes.ts";

describe("routeOf", () => {
  it("reads <app>.<org>.<base domain>, with or without a port", () => {
    expect(routeOf("files.acme.atrium.example:8443", "/a?b=1", "atrium.example")).toEqual({
      app: "files",
      org: "acme",
      path: "/a?b=1",
    });
  });
  it("reads /apps/<org>/<app>/... on any host and strips the prefix", () => {
    expect(routeOf("localhost:8081", "/apps/acme/files/index.php", "atrium.example")).toEqual({
      org: "acme",
      app: "files",
      path: "/index.php",
    });
    expect(routeOf("localhost", "/apps/acme/files", "x")?.path).toBe("/");
  });
  it("names no app for other hosts and paths", () => {
    expect(routeOf("atrium.example", "/", "atrium.example")).toBeUndefined();
    expect(routeOf("a.b.c.atrium.example", "/", "atrium.example")).toBeUndefined();
    expect(routeOf("evil.com", "/x", "atrium.example")).toBeUndefined();
  });
});

describe("isExcluded", () => {
  const global = { paths: ["/healthz", "/metrics*"], userAgents: ["kube-probe"] };
  it("matches exact paths, prefix patterns and user-agent substrings", () => {
    expect(isExcluded("/healthz", undefined, global)).toBe(true);
    expect(isExcluded("/healthz?x=1", undefined, global)).toBe(true);
    expect(isExcluded("/healthz/deep", undefined, global)).toBe(false);
    expect(isExcluded("/metrics/app", undefined, global)).toBe(true);
    expect(isExcluded("/", "Kube-Probe/1.34", global)).toBe(true);
    expect(isExcluded("/", "Mozilla/5.0", global)).toBe(false);
  });
  it("adds each app's own exclusions", () => {
    expect(isExcluded("/status.php", "curl", global, { paths: ["/status.php"], userAgents: [] })).toBe(true);
  });
});

it("treats only GET navigations that accept HTML as browsers", () => {
  expect(wantsHtml("GET", "text/html,application/xhtml+xml")).toBe(true);
  expect(wantsHtml("POST", "text/html")).toBe(false);
  expect(wantsHtml("GET", "application/json")).toBe(false);
});
