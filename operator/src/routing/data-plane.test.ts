// The AppInstance reconcile in Gateway API mode against in-memory caches and a recording
// client: what it writes, in which order, through a stop's grace and a cancelled stop.
import { type KubeObject, keyOf, type ResourceType } from "@atrium/kube";
import { describe, expect, it } from "vitest";
import { app, template } from "../appinstance/fixtures.ts";
import { reconcileAppInstance } from "../appinstance/reconcile.ts";
import { defaultConfig } from "../config.ts";
import type { Caches, Deps } from "../deps.ts";

class FakeCache {
  readonly store = new Map<string, KubeObject>();
  get = (key: string) => this.store.get(key);
  list = (filter: (o: KubeObject) => boolean = () => true) => [...this.store.values()].filter(filter);
  inNamespace = (ns: string) => this.list((o) => o.metadata.namespace === ns);
  put = (o: KubeObject) => this.store.set(keyOf(o), o);
}

const CACHE_OF: Record<string, string> = {
  appinstances: "appInstances",
  httproutes: "httpRoutes",
  endpointslices: "routeSlices",
};
const T0 = Date.parse("2026-06-01T10:00:00Z");
const env = {
  ATRIUM_ROUTING: "gateway-api",
  ATRIUM_GATEWAY_API_PARENT: "edge/public",
  ATRIUM_ACTIVATOR_ADDRESSES: "10.96.0.20",
  ATRIUM_STOP_GRACE: "30s",
};

function harness(timeout = "1h") {
  const names = ["organizations", "appTemplates", "appInstances", "deployments", "services", "pvcs", "secrets", "pods"];
  const caches = Object.fromEntries([...names, "httpRoutes", "routeSlices"].map((k) => [k, new FakeCache()])) as Record<
    string,
    FakeCache
  >;
  const writes: { resource: string; object: KubeObject; subresource?: string }[] = [];
  let now = T0;
  const deps = {
    caches: caches as unknown as Caches,
    client: {
      apply: async (t: ResourceType, object: KubeObject, options: { subresource?: string } = {}) => {
        writes.push({ resource: t.plural, object, subresource: options.subresource });
        return object;
      },
    },
    record: () => {},
    metrics: { appStops: { inc: () => {} }, appStarts: { inc: () => {} } },
    config: defaultConfig(env),
    log: () => {},
    now: () => new Date(now),
  } as unknown as Deps;
  const tpl = template();
  caches.appTemplates?.put({ ...tpl, spec: { ...tpl.spec, env: [], storage: undefined } } as KubeObject);
  // Started an hour ago, last used 59 minutes ago: with the 1 h timeout, it stops in a minute.
  const instance = app({ env: [], idle: { policy: "Auto", timeout } }) as KubeObject;
  caches.appInstances?.put({
    ...instance,
    metadata: { ...instance.metadata, creationTimestamp: new Date(T0 - 3_600_000).toISOString() },
    status: {
      phase: "Running",
      observedGeneration: 1,
      startedAt: new Date(T0 - 3_600_000).toISOString(),
      lastActivity: new Date(T0 - 3_540_000).toISOString(),
    },
  } as KubeObject);
  caches.pods?.put({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "docs-1", namespace: "org-acme", labels: { "app.kubernetes.io/instance": "docs" } },
    status: { phase: "Running", podIP: "198.18.0.7", conditions: [{ type: "Ready", status: "True" }] },
  } as KubeObject);
  let reconcile = reconcileAppInstance(deps);
  /** One pass; what it wrote goes into the caches unless `lag` (a watch not yet delivered). */
  const pass = async (lag = false) => {
    const from = writes.length;
    const outcome = await reconcile("org-acme/docs");
    const made = writes.slice(from);
    if (!lag)
      for (const w of made) {
        const cache = caches[CACHE_OF[w.resource] ?? w.resource] as FakeCache;
        const live = cache.get(keyOf(w.object));
        cache.put(
          w.subresource === "status"
            ? { ...(live as KubeObject), status: { ...(live?.status as object), ...(w.object.status as object) } }
            : { ...w.object, metadata: { ...w.object.metadata, generation: 1 } },
        );
      }
    return { outcome, made };
  };
  const deployment = () => caches.deployments?.get("org-acme/docs") as KubeObject & { spec: { replicas: number } };
  const slice = () => caches.routeSlices?.get("org-acme/docs-route") as KubeObject & { endpoints: unknown[] };
  const deploymentReady = () =>
    caches.deployments?.put({
      ...deployment(),
      status: {
        observedGeneration: 1,
        replicas: 1,
        readyReplicas: 1,
        conditions: [{ type: "Available", status: "True" }],
      },
    } as KubeObject);
  const activity = (at: number) => {
    const live = caches.appInstances?.get("org-acme/docs") as KubeObject;
    caches.appInstances?.put({
      ...live,
      status: { ...(live.status as object), lastActivity: new Date(at).toISOString() },
    });
  };
  return {
    pass,
    deployment,
    slice,
    deploymentReady,
    activity,
    at: (t: number) => {
      now = t;
    },
    restart: () => {
      reconcile = reconcileAppInstance(deps);
    },
  };
}

describe("Gateway API mode in the AppInstance reconcile", () => {
  it("writes the route, its Service and endpoints before the Deployment, pods serving while it runs", async () => {
    const h = harness();
    const first = await h.pass();
    const order = first.made.filter((w) => !w.subresource).map((w) => `${w.resource}/${w.object.metadata.name}`);
    expect(order.slice(0, 3).sort()).toEqual(["endpointslices/docs-route", "httproutes/docs", "services/docs-route"]);
    expect(order.slice(3).sort()).toEqual(["deployments/docs", "services/docs"]);
    expect(h.slice().metadata.labels?.["atrium.dev/endpoints"]).toBe("serve");
    expect(h.slice().endpoints).toEqual([{ addresses: ["198.18.0.7"], conditions: { ready: true } }]);
    h.deploymentReady();
    await h.pass();
    expect((await h.pass()).made).toEqual([]); // settled: nothing more to write
  });

  it("points the endpoints at the activator, waits the grace with the pod, then scales to zero", async () => {
    const h = harness();
    await h.pass();
    h.deploymentReady();
    await h.pass();
    h.at(T0 + 61_000); // idle deadline passed
    const start = await h.pass();
    expect(h.slice().metadata.labels?.["atrium.dev/endpoints"]).toBe("proxy");
    expect(h.slice().metadata.annotations?.["atrium.dev/proxy-since"]).toBe(new Date(T0 + 61_000).toISOString());
    expect(h.deployment().spec.replicas).toBe(1);
    expect(start.outcome?.requeueAfterMs).toBeGreaterThanOrEqual(30_000);

    // Within the grace, a pass that sees an older copy of the slice (its watch event not yet
    // delivered) keeps the grace that began: nothing moves.
    h.at(T0 + 75_000);
    const within = await h.pass();
    expect(within.made.filter((w) => w.resource !== "appinstances")).toEqual([]);
    expect(h.deployment().spec.replicas).toBe(1);

    h.at(T0 + 91_000);
    await h.pass();
    expect(h.deployment().spec.replicas).toBe(0);
    expect(h.slice().metadata.labels?.["atrium.dev/endpoints"]).toBe("proxy");
  });

  it("keeps the grace across an operator restart (the slice's annotation)", async () => {
    const h = harness();
    await h.pass();
    h.deploymentReady();
    await h.pass();
    h.at(T0 + 61_000);
    await h.pass();
    h.restart();
    h.at(T0 + 80_000);
    await h.pass();
    expect(h.deployment().spec.replicas).toBe(1);
    h.at(T0 + 92_000);
    await h.pass();
    expect(h.deployment().spec.replicas).toBe(0);
  });

  it("does not restart the grace when the cache lags its own switch", async () => {
    const h = harness();
    await h.pass();
    h.deploymentReady();
    await h.pass();
    h.at(T0 + 61_000);
    await h.pass(true); // the slice write is not in the cache yet
    h.at(T0 + 92_000);
    await h.pass();
    expect(h.deployment().spec.replicas).toBe(0);
  });

  it.each([
    ["1h", "the activity alone keeps it running"],
    ["1s", "the idle deadline has passed again, but the stop is cancelled"],
  ])("cancels the stop when activity came after the switch (timeout %s: %s)", async (timeout) => {
    const h = harness(timeout);
    await h.pass();
    h.deploymentReady();
    await h.pass();
    h.at(T0 + 61_000);
    if (timeout === "1s") h.at(T0); // already idle: the sequence starts at once
    await h.pass();
    h.activity(T0 + 62_000); // a request reached the activator
    h.at(T0 + 91_000); // the grace is over, but that request came during it
    const cancelled = await h.pass();
    expect(h.deployment().spec.replicas).toBe(1);
    expect(h.slice().metadata.labels?.["atrium.dev/endpoints"]).toBe("serve");
    expect(h.slice().metadata.annotations?.["atrium.dev/proxy-since"]).toBeUndefined();
    expect(cancelled.outcome?.requeueAfterMs).toBeDefined();
  });
});

describe("starting in Gateway API mode", () => {
  it("stops at start, naming the missing CRDs, when the cluster has no HTTPRoute", async () => {
    const { requireGatewayApi } = await import("./data-plane.ts");
    const asked: string[] = [];
    const client = (answer: () => Promise<unknown>) =>
      ({
        list: (t: ResourceType) => {
          asked.push(`${t.group}/${t.plural}`);
          return answer();
        },
      }) as never;
    await expect(requireGatewayApi(client(async () => ({ items: [] })))).resolves.toBeUndefined();
    await expect(
      requireGatewayApi(
        client(async () => {
          throw new Error("404 the server could not find the requested resource");
        }),
      ),
    ).rejects.toThrow(
      /ATRIUM_ROUTING=gateway-api needs the Gateway API CRDs \(HTTPRoute gateway.networking.k8s.io\/v1\)/,
    );
    expect(asked).toEqual(["gateway.networking.k8s.io/httproutes", "gateway.networking.k8s.io/httproutes"]);
  });
});
