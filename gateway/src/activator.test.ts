import { describe, expect, it } from "vitest";
import { routeOfIdentity } from "./activator.ts";

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
