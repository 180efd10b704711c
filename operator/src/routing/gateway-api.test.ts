import { describe, expect, it } from "vitest";
import { app, template } from "../appinstance/fixtures.ts";
import {
  ANNOTATION_PROXY_SINCE,
  CHECK_AGAIN_MS,
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
  stopChecks: {
    probeUrls: ["http://10.96.0.80"],
    statsUrls: ["http://10.0.3.7:19001"],
    drainMs: 60_000,
    unconfirmed: false,
  },
  excludePaths: ["/healthz", "/ping"],
};

/** The health rule's last match: the operator's stop probe, any path with the probe header. */
const probeMatch = {
  path: { type: "PathPrefix", value: "/" },
  headers: [{ type: "Exact", name: "x-atrium-probe", value: "activator" }],
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
    // A Members app (the default): its access check names the caller, so only the probe token
    // is taken off (after the check read it).
    const marked = {
      type: "RequestHeaderModifier",
      requestHeaderModifier: {
        set: [{ name: "x-atrium-app", value: "acme/docs" }],
        remove: ["x-atrium-probe-token"],
      },
    };
    const backend = [{ group: "", kind: "Service", name: "docs-route", port: 3000 }];
    expect(spec.rules.at(-1)).toEqual({
      name: "app",
      matches: [{ path: { type: "PathPrefix", value: "/" } }],
      filters: [marked],
      backendRefs: backend,
    });
    // Health checks (the platform's and the app's own) and the stop probe on their own rule,
    // same backend and mark: never the app rule's statistics, so never activity.
    expect(spec.rules[0]).toEqual({
      name: "health-checks",
      matches: [
        { path: { type: "Exact", value: "/healthz" } },
        { path: { type: "Exact", value: "/ping" } },
        probeMatch,
      ],
      filters: [marked],
      backendRefs: backend,
    });
  });

  it("takes a client's own X-Atrium-User off a Public app's requests only: no access check replaces it there", () => {
    const modifiers = (policy: "Public" | "Members" | "Roles") => {
      const route = desiredHttpRoute(
        app({ access: { policy, roles: ["admin"] } }),
        template(),
        routing,
        "apps.example",
      );
      return (route.spec as any).rules.map((r: any) => r.filters[0].requestHeaderModifier.remove);
    };
    expect(modifiers("Public")).toEqual([
      ["x-atrium-probe-token", "x-atrium-user"],
      ["x-atrium-probe-token", "x-atrium-user"],
    ]);
    // Envoy applies a route's header changes after the external authorization: removing the
    // header there would drop the caller the check set.
    for (const policy of ["Members", "Roles"] as const)
      expect(modifiers(policy)).toEqual([["x-atrium-probe-token"], ["x-atrium-probe-token"]]);
  });

  it("gives a Public app a third rule for requests carrying Atrium's credentials, the only ones its filter runs on", () => {
    const extAuth = { namespace: "atrium", name: "atrium-api", port: 8080 };
    const rules = (policy: "Public" | "Members", r: GatewayApiRouting = { ...routing, extAuth }) =>
      (desiredHttpRoute(app({ access: { policy } }), template(), r, "apps.example").spec as any).rules;
    expect(rules("Members").map((r: any) => r.name)).toEqual(["health-checks", "app"]);
    // No external authorization configured (not Envoy Gateway): no filter, so no rule for it.
    expect(rules("Public", routing).map((r: any) => r.name)).toEqual(["health-checks", "app"]);
    const pub = rules("Public");
    expect(pub.map((r: any) => r.name)).toEqual(["health-checks", "app", "atrium-credentials"]);
    expect(pub[2].backendRefs).toEqual(pub[1].backendRefs);
    expect(pub[2].filters).toEqual(pub[1].filters);
    expect(pub[2].matches).toEqual([
      {
        path: { type: "PathPrefix", value: "/" },
        headers: [{ type: "RegularExpression", name: "Cookie", value: ".*atrium_(?:session|csrf)=.*" }],
      },
      {
        path: { type: "PathPrefix", value: "/" },
        headers: [{ type: "RegularExpression", name: "Authorization", value: "(?i).*atr_(?:sk|ai)_.*" }],
      },
    ]);
  });

  it("names a listener when configured, and keeps the probe's rule (before the app's) when nothing is excluded", () => {
    const route = desiredHttpRoute(
      app(),
      template(),
      { ...routing, parent: { ...routing.parent, sectionName: "https" }, excludePaths: [] },
      "apps.example",
    );
    const spec = route.spec as any;
    expect(spec.parentRefs[0].sectionName).toBe("https");
    expect(spec.rules.map((r: any) => r.name)).toEqual(["health-checks", "app"]);
    expect(spec.rules[0].matches).toEqual([probeMatch]);
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
    confirmedAt: undefined,
    activeRequests: undefined,
    lastActivity: t0 - 60_000,
    now: t0,
    graceMs: 30_000,
    drainMs: 60_000,
  };
  /** Switched at t0, the probe answered at t0 + 2 s: the grace ends at t0 + 32 s. */
  const confirmed = { ...base, proxySince: t0, confirmedAt: t0 + 2000 };

  it("while the app should run: pods serve once one is ready, the activator until then", () => {
    expect(stopStep({ ...base, wantStop: false })).toEqual({ replicas: 1, mode: "serve" });
    expect(stopStep({ ...base, wantStop: false, readyPods: 0 })).toEqual({ replicas: 1, mode: "proxy" });
  });

  it("first points the endpoints at the activator, keeps the pods and asks for the probe", () => {
    expect(stopStep(base)).toEqual({
      replicas: 1,
      mode: "proxy",
      proxySince: t0,
      probe: true,
      requeueAfterMs: CHECK_AGAIN_MS,
      stopsAt: t0 + 30_000,
    });
  });

  it("does not count the grace until the probe saw the activator, however long that takes", () => {
    for (const now of [t0 + 1000, t0 + 30_000, t0 + 3_600_000])
      expect(stopStep({ ...base, proxySince: t0, now })).toEqual({
        replicas: 1,
        mode: "proxy",
        proxySince: t0,
        probe: true,
        requeueAfterMs: CHECK_AGAIN_MS,
        stopsAt: t0 + 30_000,
      });
  });

  it("counts the grace from the confirmation, keeping the pods", () => {
    expect(stopStep({ ...confirmed, now: t0 + 30_000 })).toEqual({
      replicas: 1,
      mode: "proxy",
      proxySince: t0,
      requeueAfterMs: 2000,
      stopsAt: t0 + 32_000,
    });
  });

  it("re-checks the requests under way when the grace is over, and waits for a reading", () => {
    expect(stopStep({ ...confirmed, now: t0 + 32_000 })).toEqual({
      replicas: 1,
      mode: "proxy",
      proxySince: t0,
      recheck: true,
      requeueAfterMs: CHECK_AGAIN_MS,
      stopsAt: t0 + 32_000,
    });
  });

  it("scales to zero once the grace is over with no request under way", () => {
    expect(stopStep({ ...confirmed, activeRequests: 0, now: t0 + 32_000 })).toEqual({
      replicas: 0,
      mode: "proxy",
      proxySince: t0,
    });
  });

  it("waits while requests are under way on the pods, at most the drain bound, then cancels an idle stop", () => {
    expect(stopStep({ ...confirmed, activeRequests: 2, now: t0 + 50_000 })).toMatchObject({
      replicas: 1,
      mode: "proxy",
      recheck: true,
    });
    expect(stopStep({ ...confirmed, activeRequests: 0, now: t0 + 50_000 })).toMatchObject({ replicas: 0 });
    expect(stopStep({ ...confirmed, activeRequests: 1, now: t0 + 92_000 })).toEqual({
      replicas: 1,
      mode: "serve",
      cancelled: "busy",
    });
    // An unreadable count is not zero: the same wait and the same end.
    expect(stopStep({ ...confirmed, activeRequests: undefined, now: t0 + 91_000 })).toMatchObject({ recheck: true });
    expect(stopStep({ ...confirmed, activeRequests: undefined, now: t0 + 92_000 })).toMatchObject({
      cancelled: "busy",
    });
  });

  it("is cancelled by a request that reached the activator during the grace, confirmed or not", () => {
    for (const s of [confirmed, { ...base, proxySince: t0 }])
      expect(stopStep({ ...s, lastActivity: t0 + 1, now: t0 + 32_000, activeRequests: 0 })).toEqual({
        replicas: 1,
        mode: "serve",
        cancelled: "traffic",
      });
  });

  it("stops a hold (policy Stopped, billing, org deletion) whatever the traffic, within grace + drain at most", () => {
    const hold = { ...base, cancellable: false, proxySince: t0, lastActivity: t0 + 1 };
    expect(stopStep({ ...hold, confirmedAt: t0, activeRequests: 0, now: t0 + 30_000 })).toMatchObject({ replicas: 0 });
    // Waiting for the probe and for requests under way as an idle stop does, up to the bound…
    expect(stopStep({ ...hold, now: t0 + 60_000 })).toMatchObject({ replicas: 1, probe: true });
    expect(stopStep({ ...hold, confirmedAt: t0, activeRequests: 3, now: t0 + 60_000 })).toMatchObject({
      replicas: 1,
      recheck: true,
    });
    // …then zero, told as unconfirmed: a hold must not be kept running by a data plane that does not answer.
    expect(stopStep({ ...hold, now: t0 + 90_000 })).toEqual({
      replicas: 0,
      mode: "proxy",
      proxySince: t0,
      unconfirmed: true,
    });
    expect(stopStep({ ...hold, confirmedAt: t0 + 50_000, activeRequests: 3, now: t0 + 90_000 })).toEqual({
      replicas: 0,
      mode: "proxy",
      proxySince: t0,
      unconfirmed: true,
    });
  });

  it("goes to zero at once with nothing ready to drain", () => {
    expect(stopStep({ ...base, readyPods: 0 })).toEqual({ replicas: 0, mode: "proxy", proxySince: undefined });
    expect(stopStep({ ...base, readyPods: 0, proxySince: t0 })).toEqual({ replicas: 0, mode: "proxy", proxySince: t0 });
  });
});
