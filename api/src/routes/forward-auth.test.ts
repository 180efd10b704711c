import { describe, expect, it } from "vitest";
import { isOperatorProbe, probeTokenFrom } from "../auth/probe-token.ts";
import { credentialsStripped, PROBE_REMOVES } from "./forward-auth.ts";

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
