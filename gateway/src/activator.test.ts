import { describe, expect, it } from "vitest";
import { probedApp, routeOfIdentity } from "./activator.ts";

describe("the data plane's identity header", () => {
  it("names the app, whatever the Host; the path is the request's own", () => {
    expect(routeOfIdentity("acme/docs", "/a/b?c=1")).toEqual({ org: "acme", app: "docs", path: "/a/b?c=1" });
    expect(routeOfIdentity(" Acme/Docs ", "")).toEqual({ org: "acme", app: "docs", path: "/" });
  });

  it("is ignored when absent, sent twice (joined) or not one <org>/<app>", () => {
    for (const bad of [undefined, "", "acme", "acme/docs, evil/app", "acme/docs/x", "../x/y", "acme/do cs"])
      expect(routeOfIdentity(bad, "/")).toBeUndefined();
  });
});

describe("the operator's stop probe", () => {
  it("is answered naming the app of the route it came through", () => {
    expect(probedApp({ probe: "activator", identity: "acme/docs" })).toBe("acme/docs");
    expect(probedApp({ probe: "activator", identity: " Acme/Docs" })).toBe("acme/docs");
  });

  it("is not a probe without the probe value or without one valid identity (then served as any request)", () => {
    expect(probedApp({ probe: undefined, identity: "acme/docs" })).toBeUndefined();
    expect(probedApp({ probe: "other", identity: "acme/docs" })).toBeUndefined();
    expect(probedApp({ probe: ["activator", "activator"], identity: "acme/docs" })).toBeUndefined();
    expect(probedApp({ probe: "activator", identity: undefined })).toBeUndefined();
    expect(probedApp({ probe: "activator", identity: "acme" })).toBeUndefined();
  });
});
