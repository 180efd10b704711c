// The AppInstance reconcile against in-memory caches and a recording client: which writes and
// Events a new app costs on its way to Running (the reconcile-1000 benchmark counts them).
import type { AppInstance } from "@atrium/crds";
import { type KubeObject, keyOf, type ResourceType } from "@atrium/kube";
import { describe, expect, it } from "vitest";
import { defaultConfig } from "../config.ts";
import type { Caches, Deps } from "../deps.ts";
import { app, template } from "./fixtures.ts";
import { reconcileAppInstance } from "./reconcile.ts";

/** The part of an Informer the reconcilers read. */
class FakeCache {
  readonly store = new Map<string, KubeObject>();
  get = (key: string) => this.store.get(key);
  list = (filter: (o: KubeObject) => boolean = () => true) => [...this.store.values()].filter(filter);
  inNamespace = (ns: string) => this.list((o) => o.metadata.namespace === ns);
  put = (o: KubeObject) => this.store.set(keyOf(o), o);
}

type Write = { resource: string; object: KubeObject; subresource?: string };

/** Status fields other writers own (the API, the gateway): an operator status apply leaves them be. */
const othersStatus = (status: Record<string, unknown> = {}) => {
  const { entitlement, lastActivity } = status;
  return { ...(entitlement ? { entitlement } : {}), ...(lastActivity ? { lastActivity } : {}) };
};

function harness(options: { paid?: boolean; spec?: Partial<AppInstance["spec"]>; now?: () => Date } = {}) {
  const caches = Object.fromEntries(
    ["organizations", "appTemplates", "appInstances", "deployments", "services", "pvcs", "secrets", "pods"].map((k) => [
      k,
      new FakeCache(),
    ]),
  ) as unknown as Record<string, FakeCache>;
  const writes: Write[] = [];
  const events: string[] = [];
  const counted: string[] = [];
  const counter = (name: string) => ({
    inc: (labels?: Record<string, string>) => counted.push(`${name}${labels ? JSON.stringify(labels) : ""}`),
  });
  const deps = {
    caches: caches as unknown as Caches,
    client: {
      apply: async (t: ResourceType, object: KubeObject, options: { subresource?: string } = {}) => {
        writes.push({ resource: t.plural, object, subresource: options.subresource });
        return object;
      },
    },
    record: (_o: KubeObject, type: string, reason: string) => events.push(`${type} ${reason}`),
    metrics: { appStops: counter("stops"), appStarts: counter("wakes") },
    config: defaultConfig({}),
    log: () => {},
    now: options.now ?? (() => new Date("2026-06-01T00:00:00Z")),
  } as unknown as Deps;
  // No secrets, no volume: a Service and a Deployment, like the benchmark's template.
  const tpl = template();
  const pricing = { trialDays: 30, plans: [{ id: "monthly", interval: "monthly", amount: 900, currency: "EUR" }] };
  caches.appTemplates?.put({
    ...tpl,
    spec: { ...tpl.spec, env: [], storage: undefined, ...(options.paid ? { pricing } : {}) },
  } as KubeObject);
  const instance = {
    ...app({ env: [], idle: { policy: "AlwaysOn", timeout: "1h" }, ...options.spec }),
  } as KubeObject;
  caches.appInstances?.put(instance);
  const reconcile = reconcileAppInstance(deps);
  /** One pass; returns what it wrote, and puts it in the caches as the watches would. */
  const pass = async () => {
    const from = writes.length;
    const outcome = await reconcile(keyOf(instance));
    const made = writes.slice(from);
    for (const w of made) {
      const cache = caches[w.resource === "appinstances" ? "appInstances" : w.resource] as FakeCache;
      const live = cache.get(keyOf(w.object));
      cache.put(
        w.subresource === "status"
          ? {
              ...(live as KubeObject),
              status: { ...othersStatus(live?.status as never), ...(w.object.status as object) },
            }
          : { ...w.object, metadata: { ...w.object.metadata, generation: 1 } },
      );
    }
    return { outcome, made };
  };
  /** What the deployment controller and kubelet report. */
  const deploymentShows = (status: Record<string, unknown>) => {
    const d = caches.deployments?.get("org-acme/docs") as KubeObject;
    caches.deployments?.put({ ...d, status: { observedGeneration: 1, ...status } });
  };
  /** What another writer (the API, the gateway) put into the app's status. */
  const statusShows = (status: Record<string, unknown>) => {
    const live = caches.appInstances?.get(keyOf(instance)) as KubeObject;
    caches.appInstances?.put({ ...live, status: { ...(live.status as object), ...status } });
  };
  const current = () => caches.appInstances?.get(keyOf(instance)) as KubeObject & { status: any };
  /** The app's Organization as the cache shows it (absent unless a test puts one). */
  const orgShows = (spec: Record<string, unknown>) =>
    caches.organizations?.put({
      apiVersion: "atrium.dev/v1alpha1",
      kind: "Organization",
      metadata: { name: "acme" },
      spec: { displayName: "Acme", ...spec },
    } as KubeObject);
  return { pass, deploymentShows, statusShows, orgShows, current, events, counted, writes };
}

describe("a new app on its way to Running", () => {
  it("writes its status once it can report the Deployment it created, not before", async () => {
    const { pass, deploymentShows } = harness();
    const first = await pass();
    expect(first.made.map((w) => w.resource)).toEqual(["services", "deployments"]);
    // The cached Deployment predates this pass's apply: its watch event (or, failing that,
    // the requeue) brings the app back to report it.
    expect(first.outcome?.requeueAfterMs).toBeLessThanOrEqual(5000);

    deploymentShows({
      replicas: 1,
      updatedReplicas: 1,
      readyReplicas: 1,
      conditions: [{ type: "Available", status: "True" }],
    });
    const second = await pass();
    expect(second.made).toHaveLength(1);
    expect(second.made[0]).toMatchObject({ resource: "appinstances", subresource: "status" });
    expect(second.made[0]?.object.status).toMatchObject({ phase: "Running", health: "Healthy" });

    expect((await pass()).made).toEqual([]); // and then nothing
  });

  it("records no Event for its first Deploying, and a Normal one when it is Ready", async () => {
    const { pass, deploymentShows, events } = harness();
    await pass();
    deploymentShows({ replicas: 1, updatedReplicas: 1, readyReplicas: 0 });
    const deploying = await pass();
    expect(deploying.made[0]?.object.status).toMatchObject({ phase: "Deploying", health: "Unknown" });
    expect(events).toEqual([]);

    deploymentShows({
      replicas: 1,
      updatedReplicas: 1,
      readyReplicas: 1,
      conditions: [{ type: "Available", status: "True" }],
    });
    await pass();
    expect(events).toEqual(["Normal Running"]);
  });
});

describe("an app billing stops and lets run again", () => {
  const RUNNING = {
    replicas: 1,
    updatedReplicas: 1,
    readyReplicas: 1,
    conditions: [{ type: "Available", status: "True" }],
  };
  const AT_ZERO = { replicas: 0, updatedReplicas: 0, readyReplicas: 0 };
  const trial = (until: string) => ({ allowed: true, reason: "Trialing", until, message: "Trial" });

  /** A paid app that runs in its trial, with a clock the test moves. */
  async function runningInTrial() {
    let now = new Date("2026-06-01T00:00:00Z");
    const h = harness({ paid: true, spec: { idle: { policy: "Auto", timeout: "12h" } }, now: () => now });
    h.statusShows({ entitlement: trial("2026-06-01T00:10:00Z") });
    await h.pass();
    h.deploymentShows(RUNNING);
    const running = await h.pass();
    expect(h.current().status.phase).toBe("Running");
    h.statusShows({ lastActivity: "2026-06-01T00:05:00Z" });
    return { ...h, running, setNow: (iso: string) => (now = new Date(iso)) };
  }
  const replicas = (h: { writes: { resource: string; object: KubeObject }[] }) =>
    (h.writes.filter((w) => w.resource === "deployments").at(-1)?.object.spec as { replicas?: number } | undefined)
      ?.replicas;

  it("comes back when the trial ends, though nothing else happens", async () => {
    const { running } = await runningInTrial();
    // The trial ends at 00:10, the idle deadline is 12 h away: the trial's end comes first.
    expect(running.outcome?.requeueAfterMs).toBe(10 * 60_000 + 50);
  });

  it("scales it to zero at the trial's end with PaymentRequired, and never sends the API's field", async () => {
    const h = await runningInTrial();
    h.setNow("2026-06-01T00:10:00Z");
    await h.pass();
    expect(replicas(h)).toBe(0);
    h.deploymentShows({ ...RUNNING, replicas: 1, updatedReplicas: 0 }); // the replica is going
    await h.pass();
    expect(h.current().status.phase).toBe("Stopping");
    h.deploymentShows(AT_ZERO);
    await h.pass();
    const status = h.current().status;
    expect(status.phase).toBe("Stopped");
    expect(status.stoppedReason).toBe(
      "PaymentRequired: scaled to zero, the volume is kept. The free trial has ended; subscribe to run the app again",
    );
    expect(status.conditions.find((c: { type: string }) => c.type === "Ready")).toMatchObject({
      status: "False",
      reason: "PaymentRequired",
      message: "The free trial has ended; subscribe to run the app again",
    });
    expect(status.conditions.find((c: { type: string }) => c.type === "Idle")).toMatchObject({
      reason: "PaymentRequired",
    });
    expect(h.counted).toEqual(['stops{"reason":"PaymentRequired"}']);
    expect(h.events.filter((e) => e !== "Normal Running")).toEqual(["Warning PaymentRequired"]);
    for (const w of h.writes.filter((w) => w.subresource === "status"))
      expect(Object.keys(w.object.status as object)).not.toContain("entitlement");
    expect((await h.pass()).made).toEqual([]); // once: no more writes, Events or counts
    expect(h.events.filter((e) => e !== "Normal Running")).toHaveLength(1);
  });

  it("stays stopped once paid, and the next request wakes it", async () => {
    const h = await runningInTrial();
    h.setNow("2026-06-01T00:10:00Z");
    await h.pass();
    h.deploymentShows(AT_ZERO);
    await h.pass();
    h.setNow("2026-06-01T00:20:00Z");
    h.statusShows({ entitlement: { allowed: true, reason: "Active", until: "2026-07-01T00:20:00Z" } });
    await h.pass();
    expect(replicas(h)).toBe(0); // paying alone starts nothing
    expect(h.current().status.phase).toBe("Stopped");
    expect(h.current().status.conditions.find((c: { type: string }) => c.type === "Idle")).toMatchObject({
      reason: "ResumesOnRequest",
    });
    await h.pass();
    expect(replicas(h)).toBe(0);
    // The gateway records the request that came for it.
    h.setNow("2026-06-01T00:30:00Z");
    h.statusShows({ lastActivity: "2026-06-01T00:30:00Z" });
    await h.pass();
    expect(replicas(h)).toBe(1);
    h.deploymentShows({ replicas: 1, updatedReplicas: 1, readyReplicas: 0 });
    await h.pass();
    expect(h.current().status.wokenAt).toBe("2026-06-01T00:30:00Z");
    expect(h.counted).toEqual(['stops{"reason":"PaymentRequired"}', "wakes"]);
  });

  it("never runs a paid app without a published entitlement, and starts it unasked when one comes", async () => {
    const h = harness({ paid: true, spec: { idle: { policy: "Auto", timeout: "12h" } } });
    await h.pass();
    expect(replicas(h)).toBe(0);
    h.deploymentShows(AT_ZERO);
    await h.pass();
    expect(h.current().status.conditions.find((c: { type: string }) => c.type === "Ready")).toMatchObject({
      reason: "PaymentRequired",
      message: "Waiting for Atrium's API to start a trial or record a subscription for this app",
    });
    // Nothing ran, so nothing stopped; and the wait for the API's first word is no Event.
    expect(h.counted).toEqual([]);
    expect(h.events).toEqual([]);
    // An install: nobody used it yet, so its trial starts it (no wake counted).
    h.statusShows({ entitlement: { allowed: true, reason: "Trialing", until: "2026-07-01T00:00:00Z" } });
    await h.pass();
    expect(replicas(h)).toBe(1);
    h.deploymentShows({ replicas: 1, updatedReplicas: 1, readyReplicas: 0 });
    await h.pass();
    expect(h.current().status.phase).toBe("Starting");
    expect(h.counted).toEqual([]);
    expect(h.current().status.wokenAt).toBeUndefined(); // no wake grace: nobody is waiting for it
  });
});

describe("a paid app the API refuses from the start", () => {
  it("says what the API said, once, as a Warning", async () => {
    const h = harness({ paid: true });
    h.statusShows({ entitlement: { allowed: false, reason: "PaymentRequired", message: "No trial left; subscribe" } });
    await h.pass();
    h.deploymentShows({ replicas: 0, updatedReplicas: 0, readyReplicas: 0 });
    await h.pass();
    await h.pass();
    expect(h.events).toEqual(["Warning PaymentRequired"]);
    expect(h.counted).toEqual([]); // it never ran: not a stop
  });
});

describe("an app of an organization scheduled for deletion", () => {
  it("is held at zero with OrganizationDeleting whatever its idle policy, and runs again after a restore", async () => {
    const { pass, deploymentShows, orgShows, current } = harness(); // AlwaysOn
    const replicas = (made: Write[]) =>
      (made.find((w) => w.resource === "deployments")?.object.spec as { replicas?: number } | undefined)?.replicas;
    expect(replicas((await pass()).made)).toBe(1);
    deploymentShows({
      replicas: 1,
      updatedReplicas: 1,
      readyReplicas: 1,
      conditions: [{ type: "Available", status: "True" }],
    });
    await pass();
    expect(current().status.phase).toBe("Running");

    orgShows({ deletion: { requestedAt: "2026-05-31T00:00:00Z", requestedBy: "admin@acme.example" } });
    expect(replicas((await pass()).made)).toBe(0);
    deploymentShows({ replicas: 0, updatedReplicas: 0, readyReplicas: 0 });
    await pass();
    const idle = current().status.conditions.find((c: { type: string }) => c.type === "Idle");
    expect(idle).toMatchObject({ status: "True", reason: "OrganizationDeleting" });
    expect(current().status.stoppedReason).toContain("scheduled for deletion");

    orgShows({}); // restored
    expect(replicas((await pass()).made)).toBe(1);
  });
});
