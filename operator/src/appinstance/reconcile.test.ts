// The AppInstance reconcile against in-memory caches and a recording client: which writes and
// Events a new app costs on its way to Running (the reconcile-1000 benchmark counts them).
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

function harness() {
  const caches = Object.fromEntries(
    ["appTemplates", "appInstances", "deployments", "services", "pvcs", "secrets", "pods"].map((k) => [
      k,
      new FakeCache(),
    ]),
  ) as unknown as Record<string, FakeCache>;
  const writes: Write[] = [];
  const events: string[] = [];
  const deps = {
    caches: caches as unknown as Caches,
    client: {
      apply: async (t: ResourceType, object: KubeObject, options: { subresource?: string } = {}) => {
        writes.push({ resource: t.plural, object, subresource: options.subresource });
        return object;
      },
    },
    record: (_o: KubeObject, type: string, reason: string) => events.push(`${type} ${reason}`),
    metrics: {},
    config: defaultConfig({}),
    log: () => {},
    now: () => new Date("2026-06-01T00:00:00Z"),
  } as unknown as Deps;
  // No secrets, no volume: a Service and a Deployment, like the benchmark's template.
  const tpl = template();
  caches.appTemplates?.put({ ...tpl, spec: { ...tpl.spec, env: [], storage: undefined } } as KubeObject);
  const instance = { ...app({ env: [], idle: { policy: "AlwaysOn", timeout: "1h" } }) } as KubeObject;
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
          ? { ...(live as KubeObject), status: w.object.status }
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
  return { pass, deploymentShows, events };
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
