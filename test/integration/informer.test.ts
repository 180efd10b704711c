// The informer (kube/src/informer.ts) on the real apiserver, in the cases that only show up
// in production: a watch that drops and resumes, bookmarks while nothing we watch changes,
// history compacted in etcd (410 Gone, then a relist), and a handler that throws.
// A private control plane: these tests compact etcd and restart the apiserver.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Change,
  Informer,
  type InformerOptions,
  KubeClient,
  type KubeObject,
  type ResourceType,
} from "@atrium/kube";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiProxy, startApiProxy } from "../cluster/api-proxy.ts";
import { type ControlPlane, startControlPlane } from "../cluster/controlplane.ts";
import { unique, until } from "./kube.ts";

const configMaps: ResourceType = {
  group: "",
  version: "v1",
  plural: "configmaps",
  kind: "ConfigMap",
  namespaced: true,
};
const NS = "default";

let cp: ControlPlane;
let direct: KubeClient;
const proxies: ApiProxy[] = [];
const informers: Informer[] = [];

/** A KubeClient that counts its lists: a relist is what "resume" must avoid. */
class CountingClient extends KubeClient {
  lists = 0;
  override list<T extends KubeObject>(...args: Parameters<KubeClient["list"]>) {
    this.lists++;
    return super.list<T>(...args);
  }
}

const clientFor = (kubeconfig: string) => {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return new CountingClient(kc, { fieldManager: "informer-test" });
};

/** An informer on this test's ConfigMaps (by label) through its own proxy, recording everything. */
async function watched(label: string, options: InformerOptions = {}) {
  const proxy = await startApiProxy({ kubeconfig: cp.kubeconfig, dir: cp.dir, name: unique("informer") });
  proxies.push(proxy);
  const client = clientFor(proxy.kubeconfig);
  const seen: Change<KubeObject>[] = [];
  const restarts: string[] = [];
  const logged: { message: string; level?: string }[] = [];
  const informer = new Informer(client, configMaps, {
    labelSelector: `test=${label}`,
    onRestart: (_resource, reason) => restarts.push(reason),
    log: (message, _fields, level) => logged.push({ message, level }),
    ...options,
  });
  informer.on((change) => seen.push(change));
  informers.push(informer);
  return { proxy, client, informer, seen, restarts, logged };
}

const configMap = (name: string, label: string) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: NS, labels: { test: label } },
  data: { at: new Date().toISOString() },
});
const create = (name: string, label: string) => direct.create(configMaps, configMap(name, label));
const names = (changes: Change<KubeObject>[], type: Change<KubeObject>["type"]) =>
  changes.filter((c) => c.type === type).map((c) => c.object.metadata.name);

/** Compacts etcd's history up to its current revision, through etcd's v3 HTTP gateway. */
async function compactEtcd(): Promise<number> {
  const etcd = `http://127.0.0.1:${cp.ports[0]}`;
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${etcd}${path}`, { method: "POST", body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`etcd ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as { header: { revision: string } };
  };
  const { header } = await post("/v3/kv/range", { key: Buffer.from("/").toString("base64") });
  await post("/v3/kv/compaction", { revision: header.revision, physical: true });
  return Number(header.revision);
}

beforeAll(async () => {
  cp = await startControlPlane({ dir: mkdtempSync(join(tmpdir(), "atrium-informer-")) });
  direct = clientFor(cp.kubeconfig);
});
afterAll(async () => {
  for (const i of informers) i.stop();
  for (const p of proxies) await p.close();
  await cp?.stop();
});

describe("informer on the real apiserver", () => {
  it("resumes a dropped watch from its resourceVersion, without a relist, and misses nothing", async () => {
    const label = unique("resume");
    await create(`${label}-a`, label);
    const { proxy, client, informer, seen } = await watched(label);
    informer.start();
    await informer.synced;
    expect(client.lists).toBe(1);
    const before = informer.lastSyncResourceVersion;
    const watchesBefore = proxy.log.filter((r) => r.url.includes("watch=true")).length;
    // The path drops and stays down while things change.
    proxy.partition();
    proxy.cut();
    await create(`${label}-b`, label);
    await direct.delete(configMaps, `${label}-a`, NS);
    proxy.heal();
    await until("the changes made while the watch was down", async () =>
      names(seen, "added").includes(`${label}-b`) && names(seen, "deleted").includes(`${label}-a`) ? true : undefined,
    );
    expect(client.lists).toBe(1);
    // The watch that resumed asked for the history after what it had seen.
    const resumed = proxy.log.filter((r) => r.url.includes("watch=true")).slice(watchesBefore);
    expect(resumed.length).toBeGreaterThan(0);
    expect(new URL(resumed[0]?.url ?? "", "http://x").searchParams.get("resourceVersion")).toBe(before);
    expect(informer.list().map((o) => o.metadata.name)).toEqual([`${label}-b`]);
  });

  it("moves its resourceVersion forward on bookmarks while nothing it watches changes", async () => {
    const label = unique("bookmark");
    // Short watches: the apiserver sends a bookmark shortly before each one ends.
    const { proxy, client, informer, seen, restarts } = await watched(label, { watchTimeoutSeconds: 5 });
    informer.start();
    await informer.synced;
    const listed = Number(informer.lastSyncResourceVersion);
    // Others' changes move the collection's resourceVersion; none matches our selector.
    const other = (await create(unique("unrelated"), unique("other"))) as KubeObject;
    const otherRv = Number(other.metadata.resourceVersion);
    expect(otherRv).toBeGreaterThan(listed);
    // A bookmark carries the watch cache's newest revision when it is sent (about 2 s before a
    // watch ends); on a busy machine one was sometimes missed in a minute, so others keep
    // changing things until one arrives.
    const others = setInterval(() => void create(unique("unrelated"), unique("other")).catch(() => {}), 2_000);
    await until(
      "a bookmark at or past the unrelated change",
      async () => (Number(informer.lastSyncResourceVersion) >= otherRv ? true : undefined),
      60_000,
    )
      .finally(() => clearInterval(others))
      .catch((error) => {
        throw new Error(
          `${error.message}; at ${informer.lastSyncResourceVersion}, listed ${listed}, unrelated ${otherRv}; restarts: ${restarts.join(" ")}; requests: ${JSON.stringify(proxy.log)}`,
        );
      });
    expect(seen).toEqual([]);
    expect(client.lists).toBe(1);
    // The next watch starts from the bookmark, not from the list.
    await until("a watch resumed from the bookmark", async () =>
      proxy.log.some(
        (r) =>
          r.url.includes("watch=true") &&
          Number(new URL(r.url, "http://x").searchParams.get("resourceVersion")) >= otherRv,
      )
        ? true
        : undefined,
    );
    expect(proxy.log.some((r) => r.url.includes("allowWatchBookmarks=true"))).toBe(true);
  });

  it("relists after 410 Gone when etcd has compacted the history it would resume from", async () => {
    const label = unique("gone");
    await create(`${label}-kept`, label);
    await create(`${label}-deleted`, label);
    const { proxy, client, informer, seen, restarts } = await watched(label);
    informer.start();
    await informer.synced;
    const stale = informer.lastSyncResourceVersion;
    // Cut off; meanwhile objects change, etcd compacts past our resourceVersion, and the
    // apiserver restarts (its watch cache, which could still serve the old revision, with it).
    proxy.partition();
    proxy.cut();
    await direct.delete(configMaps, `${label}-deleted`, NS);
    await create(`${label}-new`, label);
    const compactedAt = await compactEtcd();
    expect(compactedAt).toBeGreaterThan(Number(stale));
    await cp.restart("kube-apiserver");
    proxy.heal();
    await until("a relist after 410 Gone", async () => (restarts.includes("gone") ? true : undefined), 60_000);
    await until("the relist's differences reported", async () =>
      names(seen, "deleted").includes(`${label}-deleted`) && names(seen, "added").includes(`${label}-new`)
        ? true
        : undefined,
    );
    expect(client.lists).toBe(2);
    expect(
      informer
        .list()
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual([`${label}-kept`, `${label}-new`]);
    // Watching goes on from the relist.
    await create(`${label}-after`, label);
    await until("an event after the relist", async () =>
      names(seen, "added").includes(`${label}-after`) ? true : undefined,
    );
  });

  it("keeps going when a handler throws: the failure is logged and counted, other handlers get every change", async () => {
    const label = unique("throws");
    await create(`${label}-bad-listed`, label);
    const handlerErrors: unknown[] = [];
    const { informer, seen, restarts, logged, client } = await watched(label, {
      onHandlerError: (_resource, error) => handlerErrors.push(error),
    });
    // `seen` records before the throwing handler, `after` after it: an escaping throw
    // would rob `after` of the change (and end the watch, or the list, under both).
    informer.on((change) => {
      if (change.object.metadata.name.includes("-bad-")) throw new Error(`cannot handle ${change.key}`);
    });
    const after: Change<KubeObject>[] = [];
    informer.on((change) => after.push(change));
    informer.start();
    await informer.synced; // the throwing handler ran during the first list
    await create(`${label}-bad-watched`, label);
    await create(`${label}-good`, label);
    await until("both watched objects seen by the later handler", async () =>
      names(after, "added").includes(`${label}-good`) && names(after, "added").includes(`${label}-bad-watched`)
        ? true
        : undefined,
    );
    expect(names(after, "added")).toContain(`${label}-bad-listed`);
    expect(names(seen, "added").sort()).toEqual([`${label}-bad-listed`, `${label}-bad-watched`, `${label}-good`]);
    expect(handlerErrors).toHaveLength(2);
    expect(logged.filter((l) => l.message === "Informer handler failed" && l.level === "error")).toHaveLength(2);
    expect(restarts).toEqual([]);
    expect(client.lists).toBe(1);
  });
});
