import { describe, expect, it } from "vitest";
import { app } from "../appinstance/fixtures.ts";
import {
  CREDENTIAL_FILTER_LUA,
  credentialFilterName,
  desiredCredentialFilter,
  filterRefusal,
  needsCredentialFilter,
} from "./credential-filter.ts";

// What the script does to requests is tested through a real Envoy
// (test/integration/dataplane-extauth.test.ts); here, the policy that carries it.
describe("the Public app's credential filter (an EnvoyExtensionPolicy with inline Lua)", () => {
  it("puts the Lua filter on the app route's health-checks and credentials rules only, owned by the app", () => {
    const policy = desiredCredentialFilter(app({ access: { policy: "Public" } }));
    expect(policy).toMatchObject({
      apiVersion: "gateway.envoyproxy.io/v1alpha1",
      kind: "EnvoyExtensionPolicy",
      metadata: {
        name: "docs-credentials",
        namespace: "org-acme",
        labels: { "app.kubernetes.io/managed-by": "atrium-operator", "app.kubernetes.io/instance": "docs" },
      },
    });
    expect(policy.metadata.ownerReferences?.[0]).toMatchObject({ kind: "AppInstance", name: "docs", uid: "app-uid" });
    expect(policy.spec).toEqual({
      targetRefs: [
        { group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "docs", sectionName: "health-checks" },
        { group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "docs", sectionName: "atrium-credentials" },
      ],
      lua: [{ type: "Inline", inline: CREDENTIAL_FILTER_LUA }],
    });
    expect(credentialFilterName("docs")).toBe("docs-credentials");
  });

  it("is for Public apps only: the others' external authorization strips Atrium's credentials", () => {
    expect(needsCredentialFilter(app({ access: { policy: "Public" } }))).toBe(true);
    expect(needsCredentialFilter(app({ access: { policy: "Members" } }))).toBe(false);
    expect(needsCredentialFilter(app({}))).toBe(false);
  });

  it("names exactly what the embedded gateway strips, and defines Envoy's request hook", () => {
    // The session and CSRF cookies by name, an Atrium key's two kinds, the identity header.
    expect(CREDENTIAL_FILTER_LUA).toContain('{ "atrium_session", "atrium_csrf" }');
    expect(CREDENTIAL_FILTER_LUA).toContain('"^bearer" .. WS .. "+atr_(%l%l)_"');
    expect(CREDENTIAL_FILTER_LUA).toContain('kind == "sk" or kind == "ai"');
    expect(CREDENTIAL_FILTER_LUA).toContain('headers:remove("x-atrium-user")');
    expect(CREDENTIAL_FILTER_LUA).toMatch(/^function envoy_on_request\(request_handle\)$/m);
    // NBSP as a byte escape Lua reads: JavaScript's \s covers it in a Latin-1 header.
    expect(CREDENTIAL_FILTER_LUA).toContain('local WS = "[%s\\160]"');
  });

  it("reads Envoy Gateway's refusal from the policy's status: any ancestor not Accepted", () => {
    const status = (...conditions: { type: string; status: string; message?: string }[]) => ({
      status: { ancestors: [{ conditions: [{ type: "Accepted", status: "True" }] }, { conditions }] },
    });
    expect(filterRefusal(undefined)).toBeUndefined();
    expect(filterRefusal({})).toBeUndefined();
    expect(filterRefusal(status({ type: "Accepted", status: "True" }))).toBeUndefined();
    expect(filterRefusal(status({ type: "Accepted", status: "False", message: "Lua is not enabled" }))).toBe(
      "Lua is not enabled",
    );
    expect(filterRefusal(status({ type: "Accepted", status: "False" }))).toBe("not accepted");
  });
});
