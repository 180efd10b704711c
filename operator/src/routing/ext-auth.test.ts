import { describe, expect, it } from "vitest";
import { app } from "../appinstance/fixtures.ts";
import { routingConfig } from "./config.ts";
import {
  desiredReferenceGrant,
  desiredSecurityPolicy,
  type ExtAuthBackend,
  needsExtAuth,
  parseExtAuthService,
  unenforceableAccess,
} from "./ext-auth.ts";

const backend: ExtAuthBackend = { namespace: "atrium-system", name: "atrium-api", port: 8080 };

describe("the app's SecurityPolicy (external authorization in the data plane)", () => {
  it("has Envoy ask the API's forward-auth about every request to the app's route, with Atrium's cookie only", () => {
    const policy = desiredSecurityPolicy(app({ access: { policy: "Members" } }), backend);
    expect(policy).toMatchObject({
      apiVersion: "gateway.envoyproxy.io/v1alpha1",
      kind: "SecurityPolicy",
      metadata: {
        name: "docs-access",
        namespace: "org-acme",
        labels: { "app.kubernetes.io/managed-by": "atrium-operator", "app.kubernetes.io/instance": "docs" },
      },
    });
    expect(policy.metadata.ownerReferences?.[0]).toMatchObject({ kind: "AppInstance", name: "docs", uid: "app-uid" });
    expect(policy.spec).toEqual({
      targetRefs: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "docs" }],
      extAuth: {
        http: {
          backendRefs: [{ group: "", kind: "Service", name: "atrium-api", namespace: "atrium-system", port: 8080 }],
          // path, not pathOverride: a prefix to which Envoy appends the app's own path and query
          // (the API sends a browser without a login back there after the login).
          path: "/api/forward-auth/acme/docs/data-plane",
          headersToBackend: ["x-atrium-user", "cookie"],
        },
        // The operator's stop probe (header and token) too: the API lets it through (ADR 0024).
        // Accept and the scheme: a browser's page request without a login is sent to log in.
        headersToExtAuth: ["cookie", "x-atrium-probe", "x-atrium-probe-token", "accept", "x-forwarded-proto"],
        timeout: "5s",
        failOpen: false,
      },
    });
  });

  it("is wanted for every policy but Public (Members by default)", () => {
    expect(needsExtAuth(app())).toBe(true);
    expect(needsExtAuth(app({ access: { policy: "Members" } }))).toBe(true);
    expect(needsExtAuth(app({ access: { policy: "Roles", roles: ["admin"] } }))).toBe(true);
    expect(needsExtAuth(app({ access: { policy: "Public" } }))).toBe(false);
  });
});

describe("the ReferenceGrant in the API's namespace", () => {
  it("lets one org namespace's SecurityPolicies reach the API's Service, owned by the Organization", () => {
    const org = {
      apiVersion: "atrium.dev/v1alpha1",
      kind: "Organization",
      metadata: { name: "acme", uid: "org-uid" },
    };
    const grant = desiredReferenceGrant("org-acme", backend, org);
    expect(grant).toMatchObject({
      apiVersion: "gateway.networking.k8s.io/v1beta1",
      kind: "ReferenceGrant",
      metadata: { name: "atrium-ext-auth-org-acme", namespace: "atrium-system" },
      spec: {
        from: [{ group: "gateway.envoyproxy.io", kind: "SecurityPolicy", namespace: "org-acme" }],
        to: [{ group: "", kind: "Service", name: "atrium-api" }],
      },
    });
    expect(grant.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: "Organization", uid: "org-uid" })]);
  });
});

describe("ATRIUM_EXT_AUTH_SERVICE", () => {
  it("names the API's Service and port", () => {
    expect(parseExtAuthService("atrium-system/atrium-api:8080")).toEqual(backend);
    expect(parseExtAuthService(undefined)).toBeUndefined();
    expect(parseExtAuthService("")).toBeUndefined();
  });

  it.each([
    "atrium-api:8080",
    "atrium-system/atrium-api",
    "atrium-system/atrium-api:0",
    "atrium-system/atrium-api:70000",
    "Atrium/api:8080",
    "a/b/c:80",
  ])("refuses %s, naming the setting", (text) => {
    expect(() => parseExtAuthService(text)).toThrow(/ATRIUM_EXT_AUTH_SERVICE must be <namespace>\/<name>:<port>/);
  });

  it("is part of Gateway API mode's routing settings", () => {
    const routing = routingConfig({
      ATRIUM_ROUTING: "gateway-api",
      ATRIUM_STOP_UNCONFIRMED: "true", // no data plane to confirm a stop through (routing/stop-checks.ts)
      ATRIUM_GATEWAY_API_PARENT: "edge/public",
      ATRIUM_ACTIVATOR_ADDRESSES: "10.96.0.20",
      ATRIUM_EXT_AUTH_SERVICE: "atrium-system/atrium-api:8080",
    });
    expect(routing.mode === "gateway-api" && routing.extAuth).toEqual(backend);
  });
});

describe("fail closed without external authorization", () => {
  it("refuses to route an app that needs a login, saying which setting is missing", () => {
    expect(unenforceableAccess(app({ access: { policy: "Members" } }), undefined)).toMatch(
      /^Access policy Members needs the data plane's external authorization: set ATRIUM_EXT_AUTH_SERVICE/,
    );
    expect(unenforceableAccess(app(), undefined)).toMatch(/^Access policy Members/);
    expect(unenforceableAccess(app({ access: { policy: "Roles", roles: ["admin"] } }), undefined)).toMatch(
      /^Access policy Roles/,
    );
  });

  it("routes Public apps, and every app once external authorization is configured", () => {
    expect(unenforceableAccess(app({ access: { policy: "Public" } }), undefined)).toBeUndefined();
    expect(unenforceableAccess(app({ access: { policy: "Members" } }), backend)).toBeUndefined();
  });
});
