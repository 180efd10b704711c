import { describe, expect, it } from "vitest";
import { app, template } from "../appinstance/fixtures.ts";
import {
  ANNOTATION_PROXY_SINCE,
  desiredEndpointSlice,
  desiredHttpRoute,
  desiredRouteService,
  exclusionMatches,
  type GatewayApiRouting,
  readyPodAddresses,
  type StopInput,
  stopStep,
} from "./gateway-api.ts";

const routing: GatewayApiRouting = {
  mode: "gateway-api",
  parent: { namespace: "edge", name: "public" },
  activator: { addresses: ["10.96.0.20", "10.96.0.21"], port: 8081 },
  stopGraceMs: 30_000,
  excludePaths: ["/healthz", "/ping"],
};

describe("the app's HTTPRoute", () => {
  it("sends <app>.<org>.<domain> on the configured Gateway to the selector-less Service, marked with the app", () => {
    const route = desiredHttpRoute(app(), template(), routing, "apps.example");
    expect(route.metadata).toMatchObject({ name: "docs", namespace: "org-acme" });
    expect(route.metadata.ownerReferences?.[0]).toMatchObject({ kind: "AppInstance", name: "docs", controller: true });
    const spec = route.spec as any;
    expect(spec.parentRefs).toEqual([
      { group: "gateway.networking.k8s.io", kind: "Gateway", namespace: "edge", name: "public" },
    ]);
    expect(spec.hostnames).toEqual(["docs.acme.apps.example"]);
    const marked = {
      type: "RequestHeaderModifier",
      requestHeaderModifier: { set: [{ name: "x-atrium-app", value: "acme/docs" }] },
    };
    const backend = [{ group: "", kind: "Service", name: "docs-route", port: 3000 }];
    expect(spec.rules.at(-1)).toEqual({
      name: "app",
      matches: [{ path: { type: "PathPrefix", value: "/" } }],
      filters: [marked],
      backendRefs: backend,
    });
    // Health checks (the platform's and the app's own) on their own rule, same backend and mark.
    expect(spec.rules[0]).toEqual({
      name: "health-checks",
      matches: [{ path: { type: "Exact", value: "/healthz" } }, { path: { type: "Exact", value: "/ping" } }],
      filters: [marked],
      backendRefs: backend,
    });
  });

  it("names a listener when configured, and has no health rule when nothing is excluded", () => {
    const route = desiredHttpRoute(
      app(),
      template(),
      { ...routing, parent: { ...routing.parent, sectionName: "https" }, excludePaths: [] },
      "apps.example",
    );
    const spec = route.spec as any;
    expect(spec.parentRefs[0].sectionName).toBe("https");
    expect(spec.rules.map((r: any) => r.name)).toEqual(["app"]);
  });

  it("does not depend on whether the app runs: a stop or a wake leaves it as it is", () => {
    const running = app();
    const stopped = { ...app(), status: { phase: "Stopped", lastActivity: "2026-06-01T00:00:00Z" } } as typeof running;
    expect(desiredHttpRoute(stopped, template(), routing, "d")).toEqual(
      desiredHttpRoute(running, template(), routing, "d"),
    );
  });
});

describe("exclusion paths as route matches", () => {
  it("maps exact paths and prefixes, dropping what the Gateway API refuses and duplicates", () => {
    expect(
      exclusionMatches([
        "/status",
        "/api/health/*",
        "/metrics*",
        "relative",
        "/a//b",
        "/*",
        "/x#y",
        "/status",
        "/%2fz",
      ]),
    ).toEqual([
      { path: { type: "Exact", value: "/status" } },
      { path: { type: "PathPrefix", value: "/api/health" } },
      { path: { type: "PathPrefix", value: "/metrics" } },
    ]);
  });
});

describe("the route's Service and endpoints", () => {
  it("is a Service without a selector on the app's http port", () => {
    const svc = desiredRouteService(app(), template());
    expect(svc.metadata.name).toBe("docs-route");
    expect(svc.spec).toEqual({
      type: "ClusterIP",
      ports: [{ name: "http", port: 3000, targetPort: 3000, protocol: "TCP" }],
    });
  });

  it("serves: the ready pods on the app's port; proxies: the activator on its port, with when the stop began", () => {
    const serve = desiredEndpointSlice(app(), template(), routing, { mode: "serve", pods: ["198.18.0.7"] });
    expect(serve.metadata.labels).toMatchObject({
      "kubernetes.io/service-name": "docs-route",
      "endpointslice.kubernetes.io/managed-by": "atrium-operator.atrium.dev",
      "app.kubernetes.io/managed-by": "atrium-operator",
      "app.kubernetes.io/instance": "docs",
      "atrium.dev/endpoints": "serve",
    });
    expect(serve.metadata.annotations).toBeUndefined();
    expect(serve).toMatchObject({
      addressType: "IPv4",
      ports: [{ name: "http", port: 3000, protocol: "TCP" }],
      endpoints: [{ addresses: ["198.18.0.7"], conditions: { ready: true } }],
    });
    const since = Date.parse("2026-06-01T10:00:00Z");
    const proxy = desiredEndpointSlice(app(), template(), routing, {
      mode: "proxy",
      pods: ["198.18.0.7"],
      proxySince: since,
    });
    expect(proxy.metadata.labels?.["atrium.dev/endpoints"]).toBe("proxy");
    expect(proxy.metadata.annotations).toEqual({ [ANNOTATION_PROXY_SINCE]: "2026-06-01T10:00:00.000Z" });
    expect(proxy).toMatchObject({
      ports: [{ name: "http", port: 8081, protocol: "TCP" }],
      endpoints: [
        { addresses: ["10.96.0.20"], conditions: { ready: true } },
        { addresses: ["10.96.0.21"], conditions: { ready: true } },
      ],
    });
  });

  it("counts only running, Ready pods with an address that are not on their way out", () => {
    const pod = (ip: string, extra: Record<string, unknown> = {}, ready = "True") => ({
      metadata: { ...extra },
      status: { phase: "Running", podIP: ip, conditions: [{ type: "Ready", status: ready }] },
    });
    expect(
      readyPodAddresses([
        pod("198.18.0.9"),
        pod("198.18.0.3"),
        pod("198.18.0.4", {}, "False"),
        pod("198.18.0.5", { deletionTimestamp: "2026-06-01T00:00:00Z" }),
        { metadata: {}, status: { phase: "Pending", conditions: [] } },
        pod("198.18.0.9"),
      ]),
    ).toEqual(["198.18.0.3", "198.18.0.9"]);
  });
});

describe("the stop sequence (Knative's order)", () => {
  const t0 = Date.parse("2026-06-01T10:00:00Z");
  const base: StopInput = {
    wantStop: true,
    cancellable: true,
    readyPods: 1,
    proxySince: undefined,
    lastActivity: t0 - 60_000,
    now: t0,
    graceMs: 30_000,
  };

  it("while the app should run: pods serve once one is ready, the activator until then", () => {
    expect(stopStep({ ...base, wantStop: false })).toEqual({ replicas: 1, mode: "serve" });
    expect(stopStep({ ...base, wantStop: false, readyPods: 0 })).toEqual({ replicas: 1, mode: "proxy" });
  });

  it("first points the endpoints at the activator and keeps the pods for the grace", () => {
    expect(stopStep(base)).toEqual({
      replicas: 1,
      mode: "proxy",
      proxySince: t0,
      requeueAfterMs: 30_000,
      stopsAt: t0 + 30_000,
    });
    expect(stopStep({ ...base, proxySince: t0, now: t0 + 10_000 })).toMatchObject({
      replicas: 1,
      mode: "proxy",
      requeueAfterMs: 20_000,
    });
  });

  it("scales to zero once the grace is over without traffic", () => {
    expect(stopStep({ ...base, proxySince: t0, now: t0 + 30_000 })).toEqual({
      replicas: 0,
      mode: "proxy",
      proxySince: t0,
    });
  });

  it("is cancelled by a request that reached the activator during the grace", () => {
    expect(stopStep({ ...base, proxySince: t0, lastActivity: t0 + 1, now: t0 + 30_000 })).toEqual({
      replicas: 1,
      mode: "serve",
      cancelled: true,
    });
  });

  it("is not cancelled for a hold (policy Stopped, billing, org deletion)", () => {
    expect(
      stopStep({ ...base, cancellable: false, proxySince: t0, lastActivity: t0 + 1, now: t0 + 30_000 }),
    ).toMatchObject({ replicas: 0 });
  });

  it("goes to zero at once with nothing ready to drain", () => {
    expect(stopStep({ ...base, readyPods: 0 })).toEqual({ replicas: 0, mode: "proxy", proxySince: undefined });
  });
});
