import { describe, expect, it } from "vitest";
import { isOperatorProbe, probeTokenFrom } from "../auth/probe-token.ts";
import {
  appTargetOf,
  appUrlAsked,
  credentialsStripped,
  dataPlaneCheckPath,
  loginRedirect,
  PROBE_REMOVES,
} from "./forward-auth.ts";

describe("what the data plane takes off a request the API let through", () => {
  it("keeps the app's cookies and drops Atrium's session cookies", () => {
    expect(credentialsStripped({ cookie: "theme=dark; atrium_session=s1; atrium_csrf=c1; lang=fr" })).toEqual({
      cookie: "theme=dark; lang=fr",
      remove: [],
    });
    expect(credentialsStripped({ cookie: "atrium_session=s1; theme=dark" })).toEqual({
      cookie: "theme=dark",
      remove: [],
    });
  });

  it("removes a Cookie that held only Atrium's, and an Authorization that held an Atrium key", () => {
    expect(credentialsStripped({ cookie: "atrium_session=s1", authorization: "Bearer atr_sk_abc_def" })).toEqual({
      remove: ["cookie", "authorization"],
    });
    expect(credentialsStripped({ authorization: "bearer ATR_AI_x" })).toEqual({ remove: ["authorization"] });
  });

  it("leaves the app's own credentials alone", () => {
    expect(credentialsStripped({ cookie: "theme=dark", authorization: "Basic dXNlcjpwdw==" })).toEqual({ remove: [] });
    expect(credentialsStripped({ authorization: "Bearer app-token" })).toEqual({ remove: [] });
    expect(credentialsStripped({})).toEqual({ remove: [] });
  });
});

describe("the operator's stop probe at the data plane's check (ADR 0024)", () => {
  const TOKEN = "k".repeat(32);
  const probe = { "x-atrium-probe": "activator", "x-atrium-probe-token": TOKEN };

  it("is a GET with the probe header and the shared token", () => {
    expect(isOperatorProbe(TOKEN, "GET", probe)).toBe(true);
  });

  it("is an ordinary request without the token, with another, with a method but GET, or without the probe header", () => {
    expect(isOperatorProbe(TOKEN, "GET", { "x-atrium-probe": "activator" })).toBe(false);
    expect(isOperatorProbe(TOKEN, "GET", { ...probe, "x-atrium-probe-token": `${TOKEN}x` })).toBe(false);
    expect(isOperatorProbe(TOKEN, "GET", { ...probe, "x-atrium-probe-token": "k".repeat(31) })).toBe(false);
    expect(isOperatorProbe(TOKEN, "GET", { ...probe, "x-atrium-probe-token": [TOKEN, TOKEN] })).toBe(false);
    expect(isOperatorProbe(TOKEN, "POST", probe)).toBe(false);
    expect(isOperatorProbe(TOKEN, "GET", { "x-atrium-probe-token": TOKEN })).toBe(false);
  });

  it("never is when the API has no token (fail closed): not even with an empty one presented", () => {
    expect(isOperatorProbe(undefined, "GET", probe)).toBe(false);
    expect(isOperatorProbe(undefined, "GET", { ...probe, "x-atrium-probe-token": "" })).toBe(false);
  });

  it("has Envoy take the token off (and any identity nobody checked), never hand it to the app", () => {
    expect(PROBE_REMOVES).toEqual(["x-atrium-probe-token", "x-atrium-user"]);
  });

  it("refuses a token too short to start with", () => {
    expect(probeTokenFrom({})).toBeUndefined();
    expect(probeTokenFrom({ ATRIUM_PROBE_TOKEN: TOKEN })).toBe(TOKEN);
    expect(() => probeTokenFrom({ ATRIUM_PROBE_TOKEN: "short" })).toThrow(/ATRIUM_PROBE_TOKEN.*32/);
  });
});

describe("a browser without a login at the data plane's check: to the login and back to the app", () => {
  const CHECK = "/api/forward-auth/acme/docs/data-plane";
  const vault = { org: "acme", name: "docs", statusUrl: "https://docs.acme.apps.example" };
  const sites = { publicUrl: "https://atrium.example", baseDomain: "apps.example" };
  const page = {
    method: "GET",
    url: `${CHECK}/wiki/Start?lang=fr&q=a%20b`,
    host: "docs.acme.apps.example",
    accept: "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
    forwardedProto: "https",
  };

  it("takes the app's path and query from what Envoy appended to the check path", () => {
    expect(appTargetOf(`${CHECK}/wiki/Start?lang=fr`)).toBe("/wiki/Start?lang=fr");
    expect(appTargetOf(`${CHECK}/`)).toBe("/");
    expect(appTargetOf(CHECK)).toBe("/");
    expect(appTargetOf(`${CHECK}?x=1`)).toBe("/?x=1");
    // Kept as sent: never decoded (a stray % is the app's business), a second check path is the app's path.
    expect(appTargetOf(`${CHECK}/a%zz/${CHECK.slice(1)}`)).toBe(`/a%zz/${CHECK.slice(1)}`);
    expect(appTargetOf(`${CHECK}x/y`)).toBeUndefined();
    expect(appTargetOf("/api/forward-auth/acme/docs")).toBeUndefined();
  });

  it("routes the check by its own path: what Envoy appended is cut off before routing, other URLs are left alone", () => {
    const routed = (url: string) => {
      const req = { url } as { url: string };
      let nexts = 0;
      dataPlaneCheckPath(req as never, {} as never, () => {
        nexts++;
      });
      expect(nexts).toBe(1);
      return req.url;
    };
    expect(routed(`${CHECK}/wiki/a%zz?limit=-1&x[=1`)).toBe(CHECK);
    expect(routed(`${CHECK}?q=1`)).toBe(CHECK);
    expect(routed(CHECK)).toBe(CHECK);
    expect(routed(`${CHECK}-not/x`)).toBe(`${CHECK}-not/x`);
    expect(routed("/api/forward-auth/acme/docs?x=1")).toBe("/api/forward-auth/acme/docs?x=1");
    expect(routed("/api/orgs/acme/apps?limit=5")).toBe("/api/orgs/acme/apps?limit=5");
  });

  it("builds the app URL from the scheme the browser used, the app's host (with its port) and the path and query", () => {
    expect(appUrlAsked(page, vault, sites.baseDomain)).toBe(
      "https://docs.acme.apps.example/wiki/Start?lang=fr&q=a%20b",
    );
    expect(
      appUrlAsked(
        { ...page, host: "Docs.Acme.apps.example:8443", forwardedProto: "http", url: CHECK },
        vault,
        "apps.example",
      ),
    ).toBe("http://docs.acme.apps.example:8443/");
    // As the login reads it back: a default port dropped; a path that looks like another host stays a path.
    expect(appUrlAsked({ ...page, host: "docs.acme.apps.example:443" }, vault, "apps.example")).toBe(
      "https://docs.acme.apps.example/wiki/Start?lang=fr&q=a%20b",
    );
    expect(appUrlAsked({ ...page, url: `${CHECK}//evil.example/x` }, vault, "apps.example")).toBe(
      "https://docs.acme.apps.example//evil.example/x",
    );
    // Without X-Forwarded-Proto: the scheme of the app's URL as the console links it, else https.
    expect(
      appUrlAsked({ ...page, forwardedProto: undefined }, { ...vault, statusUrl: "http://x" }, "apps.example"),
    ).toMatch(/^http:\/\//);
    expect(appUrlAsked({ ...page, forwardedProto: "gopher" }, { org: "acme", name: "docs" }, "apps.example")).toMatch(
      /^https:\/\//,
    );
  });

  it("has no app URL for a Host that is not the app's own under the base domain, or without a base domain", () => {
    expect(appUrlAsked({ ...page, host: "other.acme.apps.example" }, vault, "apps.example")).toBeUndefined();
    expect(appUrlAsked({ ...page, host: "docs.acme.apps.example.evil.test" }, vault, "apps.example")).toBeUndefined();
    expect(appUrlAsked({ ...page, host: "docs.acme.apps.example/evil" }, vault, "apps.example")).toBeUndefined();
    expect(appUrlAsked({ ...page, host: undefined }, vault, "apps.example")).toBeUndefined();
    expect(appUrlAsked(page, vault, undefined)).toBeUndefined();
  });

  it("sends a page request to the API's login with the app URL as returnTo", () => {
    const login = loginRedirect(page, vault, sites) as string;
    const url = new URL(login);
    expect(`${url.origin}${url.pathname}`).toBe("https://atrium.example/api/auth/login");
    expect(url.searchParams.get("returnTo")).toBe("https://docs.acme.apps.example/wiki/Start?lang=fr&q=a%20b");
    expect([...url.searchParams.keys()]).toEqual(["returnTo"]);
  });

  it("leaves the 401 to API and XHR callers, HEAD and writes, and to a request at another host", () => {
    expect(loginRedirect({ ...page, accept: "application/json" }, vault, sites)).toBeUndefined();
    expect(loginRedirect({ ...page, accept: undefined }, vault, sites)).toBeUndefined();
    expect(loginRedirect({ ...page, method: "HEAD" }, vault, sites)).toBeUndefined();
    expect(loginRedirect({ ...page, method: "POST" }, vault, sites)).toBeUndefined();
    expect(loginRedirect({ ...page, host: "elsewhere.example" }, vault, sites)).toBeUndefined();
  });
});
