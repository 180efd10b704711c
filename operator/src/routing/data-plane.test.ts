// The AppInstance reconcile in Gateway API mode against in-memory caches and a recording
// client: what it writes, in which order, through a stop's grace and a cancelled stop.
import { KubeError, type KubeObject, keyOf, type ResourceType } from "@atrium/kube";
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
  ATRIUM_STOP_DRAIN_TIMEOUT: "1m",
  ATRIUM_DATA_PLANE_URLS: "http://10.96.0.80",
  ATRIUM_DATAPLANE_STATS_URLS: "http://10.0.3.7:19001",
};

/** The data plane as the stop's checks see it (stop-checks.ts), set by each test. */
class FakeDataPlane {
  /** Whether the activator answers the probe (the data plane has the new endpoints). */
  activator = true;
  /** Requests under way on the app's route (undefined: the statistics cannot be read). */
  active: number | undefined = 0;
  readonly probes: { url: string; host: string; app: string }[] = [];
  readings = 0;
  probe = async (url: string, host: string, app: string) => {
    this.probes.push({ url, host, app });
    if (!this.activator) throw new Error("answered 200 without the activator's mark");
  };
  activeRequests = async () => {
    this.readings++;
    if (this.active === undefined) throw new Error("HTTP 503");
    return this.active;
  };
}

function harness(timeout = "1h") {
  const names = ["organizations", "appTemplates", "appInstances", "deployments", "services", "pvcs", "secrets", "pods"];
  const caches = Object.fromEntries([...names, "httpRoutes", "routeSlices"].map((k) => [k, new FakeCache()])) as Record<
    string,
    FakeCache
  >;
  const writes: { resource: string; object: KubeObject; subresource?: string }[] = [];
  let now = T0;
  const dataPlane = new FakeDataPlane();
  const events: string[] = [];
  const deps = {
    dataPlaneChecks: dataPlane,
    caches: caches as unknown as Caches,
    client: {
      apply: async (t: ResourceType, object: KubeObject, options: { subresource?: string } = {}) => {
        writes.push({ resource: t.plural, object, subresource: options.subresource });
        return object;
      },
    },
    record: (_o: KubeObject, type: string, reason: string) => events.push(`${type} ${reason}`),
    metrics: { appStops: { inc: () => {} }, appStarts: { inc: () => {} } },
    config: defaultConfig(env),
    log: () => {},
    now: () => new Date(now),
  } as unknown as Deps;
  const tpl = template();
  caches.appTemplates?.put({ ...tpl, spec: { ...tpl.spec, env: [], storage: undefined } } as KubeObject);
  // Started an hour ago, last used 59 minutes ago: with the 1 h timeout, it stops in a minute.
  // Public: no external authorization to configure here (data-plane-access.test.ts has that).
  const instance = app({ env: [], idle: { policy: "Auto", timeout }, access: { policy: "Public" } }) as KubeObject;
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
    await new Promise((r) => setImmediate(r)); // the checks it started answer
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
  /** The app's access policy (no external authorization is configured here: Members gets no route). */
  const access = (policy: string) => {
    const live = caches.appInstances?.get("org-acme/docs") as KubeObject;
    caches.appInstances?.put({ ...live, spec: { ...(live.spec as object), access: { policy } } });
  };
  return {
    dataPlane,
    events,
    access,
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
    // Back soon for the probe's answer; once it saw the activator, at the grace's end.
    expect(start.outcome?.requeueAfterMs).toBeLessThanOrEqual(1000);
    expect((await h.pass()).outcome?.requeueAfterMs).toBeGreaterThanOrEqual(30_000);

    // Within the grace, a pass that sees an older copy of the slice (its watch event not yet
    // delivered) keeps the grace that began: nothing moves.
    h.at(T0 + 75_000);
    const within = await h.pass();
    expect(within.made.filter((w) => w.resource !== "appinstances")).toEqual([]);
    expect(h.deployment().spec.replicas).toBe(1);

    h.at(T0 + 91_000);
    const recheck = await h.pass(); // the grace is over: the requests under way are read…
    expect(h.deployment().spec.replicas).toBe(1);
    expect(recheck.outcome?.requeueAfterMs).toBeLessThanOrEqual(1000);
    h.at(T0 + 91_500);
    await h.pass(); // …none: zero
    expect(h.deployment().spec.replicas).toBe(0);
    expect(h.slice().metadata.labels?.["atrium.dev/endpoints"]).toBe("proxy");
    // The probe went through the data plane with the app's Host, after the switch.
    expect(h.dataPlane.probes).toEqual([
      { url: "http://10.96.0.80", host: "docs.acme.atrium.localhost", app: "acme/docs" },
    ]);
  });

  it("keeps the stop sequence across an operator restart (the slice's annotation), confirming it again", async () => {
    const h = harness();
    await h.pass();
    h.deploymentReady();
    await h.pass();
    h.at(T0 + 61_000);
    await h.pass();
    h.restart();
    h.at(T0 + 80_000);
    await h.pass(); // the same sequence (no new switch), probed again: its grace counts from now
    expect(h.slice().metadata.annotations?.["atrium.dev/proxy-since"]).toBe(new Date(T0 + 61_000).toISOString());
    expect(h.dataPlane.probes).toHaveLength(2);
    h.at(T0 + 92_000);
    await h.pass();
    await h.pass();
    expect(h.deployment().spec.replicas).toBe(1); // later than before the restart, never earlier
    h.at(T0 + 110_000);
    await h.pass();
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

describe("the stop's checks through the data plane (Knative's order)", () => {
  /** Running, ready, and past its idle deadline at T0 + 61 s: the stop sequence begins then. */
  const stopping = async () => {
    const h = harness();
    await h.pass();
    h.deploymentReady();
    await h.pass();
    h.at(T0 + 61_000);
    return h;
  };

  it("keeps the pods and does not start the grace while the probe does not see the activator", async () => {
    const h = await stopping();
    h.dataPlane.activator = false; // the data plane still sends the app's requests to its pod
    await h.pass();
    expect(h.slice().metadata.labels?.["atrium.dev/endpoints"]).toBe("proxy");
    // Long past the grace (and the drain bound), still running; the probe retried with backoff.
    for (let t = T0 + 62_000; t <= T0 + 200_000; t += 1000) {
      h.at(t);
      await h.pass();
    }
    expect(h.deployment().spec.replicas).toBe(1);
    expect(h.dataPlane.readings).toBe(0);
    expect(h.dataPlane.probes.length).toBeGreaterThan(5);
    expect(h.dataPlane.probes.length).toBeLessThan(60); // backoff, not one a pass
    expect(h.events).toContain("Warning StopNotConfirmed");
    // Once the activator answers, the grace counts from then.
    h.dataPlane.activator = true;
    let confirmedAt = 0;
    for (let t = T0 + 201_000; !confirmedAt || t < confirmedAt + 29_000; t += 1000) {
      h.at(t);
      await h.pass();
      if (!confirmedAt && h.dataPlane.probes.length && h.dataPlane.activator) confirmedAt = t;
    }
    expect(h.deployment().spec.replicas).toBe(1);
    h.at(T0 + 260_000);
    await h.pass();
    await h.pass();
    expect(h.deployment().spec.replicas).toBe(0);
  });

  it("waits for requests under way on the pods at the end of the grace, then scales to zero", async () => {
    const h = await stopping();
    h.dataPlane.active = 2; // a slow answer, an open stream
    await h.pass();
    for (const t of [T0 + 91_000, T0 + 91_500, T0 + 100_000, T0 + 140_000]) {
      h.at(t);
      await h.pass();
      expect(h.deployment().spec.replicas).toBe(1);
    }
    expect(h.dataPlane.readings).toBeGreaterThanOrEqual(3);
    h.dataPlane.active = 0;
    h.at(T0 + 141_000);
    await h.pass();
    await h.pass();
    expect(h.deployment().spec.replicas).toBe(0);
  });

  it("cancels an idle stop whose requests are still under way (or cannot be counted) past the drain bound", async () => {
    for (const active of [1, undefined]) {
      const h = await stopping();
      h.dataPlane.active = active;
      await h.pass();
      h.at(T0 + 91_000);
      await h.pass();
      await h.pass();
      expect(h.deployment().spec.replicas).toBe(1);
      h.at(T0 + 151_000); // grace (30 s) + drain (1 m) after the confirmation
      await h.pass();
      expect(h.deployment().spec.replicas).toBe(1);
      expect(h.slice().metadata.labels?.["atrium.dev/endpoints"]).toBe("serve");
      expect(h.events).toContain("Normal StopCancelled");
    }
  });
});

describe("the stop's checks for an app the data plane has no route for", () => {
  it("are skipped: nothing reaches the app through the data plane", async () => {
    const h = harness();
    h.access("Members"); // access that cannot be enforced without external authorization: no route
    await h.pass();
    h.deploymentReady();
    await h.pass();
    h.dataPlane.activator = false;
    h.dataPlane.active = undefined;
    h.at(T0 + 61_000);
    await h.pass();
    h.at(T0 + 91_000);
    await h.pass();
    expect(h.deployment().spec.replicas).toBe(0);
    expect(h.dataPlane.probes).toEqual([]);
    expect(h.dataPlane.readings).toBe(0);
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
          throw new KubeError(404, "NotFound", "the server could not find the requested resource");
        }),
      ),
    ).rejects.toThrow(
      /ATRIUM_ROUTING=gateway-api needs the Gateway API CRDs \(HTTPRoute gateway.networking.k8s.io\/v1\)/,
    );
    expect(asked).toEqual(["gateway.networking.k8s.io/httproutes", "gateway.networking.k8s.io/httproutes"]);
  });

  it("waits out an apiserver still setting up a new CRD's storage, then goes on", async () => {
    const { requireGatewayApi } = await import("./data-plane.ts");
    let calls = 0;
    const client = {
      list: async () => {
        calls++;
        if (calls < 3) throw new KubeError(503, "ServiceUnavailable", "storage is (re)initializing");
        return { items: [] };
      },
    } as never;
    await expect(requireGatewayApi(client, undefined, 5000)).resolves.toBeUndefined();
    expect(calls).toBe(3);
    const never = {
      list: async () => {
        throw new KubeError(503, "ServiceUnavailable", "storage is (re)initializing");
      },
    } as never;
    await expect(requireGatewayApi(never, undefined, 600)).rejects.toThrow(/storage is \(re\)initializing/);
  });
});
