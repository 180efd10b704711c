// A list-and-watch cache of one resource type. It restarts itself: a failed or dropped watch
// resumes from the last resourceVersion with backoff (bookmarks keep that resourceVersion
// recent while nothing we watch changes); 410 Gone (history compacted) relists and reports
// the differences as events; a periodic resync replays every object so that a missed event
// can never leave an object unreconciled for long. A handler that throws is logged and
// counted; the cache, the watch and the other handlers carry on.

import { backoffDelay, sleep } from "./backoff.ts";
import { isGone, type KubeClient, type KubeObject } from "./client.ts";
import { errorMessage, type Logger } from "./log.ts";
import { keyOf, type ResourceType } from "./resources.ts";

export type Change<T> = { type: "added" | "updated" | "deleted" | "resync"; key: string; object: T; old?: T };
export type Handler<T> = (change: Change<T>) => void;

export type InformerOptions = {
  labelSelector?: string;
  /** Only this namespace's objects (a Role there will do); unset: every namespace. */
  namespace?: string;
  /**
   * Trims each object before it is cached. The default drops metadata.managedFields, which
   * is often half an object's size and never read by a reconciler (client-go does the same).
   */
  transform?: (object: KubeObject) => KubeObject;
  resyncMs?: number;
  /** How long the server keeps one watch open (default 5 to 10 minutes, randomly). */
  watchTimeoutSeconds?: number;
  onRestart?: (resource: string, reason: string) => void;
  /** Called when a handler throws (after the failure is logged). */
  onHandlerError?: (resource: string, error: unknown) => void;
  log?: Logger;
};

export class Informer<T extends KubeObject = KubeObject> {
  readonly type: ResourceType;
  private readonly store = new Map<string, T>();
  /** The same objects by namespace: reconcilers and the gateway ask per namespace on hot paths. */
  private readonly byNamespace = new Map<string, Map<string, T>>();
  private readonly handlers: Handler<T>[] = [];
  private readonly client: KubeClient;
  private readonly options: InformerOptions;
  private readonly stopController = new AbortController();
  private abortWatch: (() => void) | undefined;
  private syncedResolve!: () => void;
  /** Resolves after the first complete list. */
  readonly synced = new Promise<void>((resolve) => {
    this.syncedResolve = resolve;
  });
  hasSynced = false;
  private resourceVersion = "";

  constructor(client: KubeClient, type: ResourceType, options: InformerOptions = {}) {
    this.client = client;
    this.type = type;
    this.options = options;
  }

  on(handler: Handler<T>): this {
    this.handlers.push(handler);
    return this;
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(filter?: (o: T) => boolean): T[] {
    const all = [...this.store.values()];
    return filter ? all.filter(filter) : all;
  }

  inNamespace(namespace: string): T[] {
    return [...(this.byNamespace.get(namespace)?.values() ?? [])];
  }

  /** The resourceVersion the next watch resumes from ("" until listed, or when a relist is due). */
  get lastSyncResourceVersion(): string {
    return this.resourceVersion;
  }

  start(): this {
    void this.run();
    if (this.options.resyncMs) {
      const timer = setInterval(() => {
        for (const [key, object] of this.store) this.emit({ type: "resync", key, object });
      }, this.options.resyncMs);
      timer.unref();
      this.stopController.signal.addEventListener("abort", () => clearInterval(timer));
    }
    return this;
  }

  stop(): void {
    this.stopController.abort();
    this.abortWatch?.();
  }

  /**
   * Hands a change to every handler. One handler's failure is its own: were it to escape,
   * it would end the watch (and, during a relist, the relist) over and over, and the other
   * handlers would miss the change.
   */
  private emit(change: Change<T>): void {
    for (const handler of this.handlers) {
      try {
        handler(change);
      } catch (error) {
        this.options.log?.(
          "Informer handler failed",
          {
            resource: this.type.plural,
            key: change.key,
            change: change.type,
            error: errorMessage(error),
          },
          "error",
        );
        this.options.onHandlerError?.(this.type.plural, error);
      }
    }
  }

  private async run(): Promise<void> {
    const signal = this.stopController.signal;
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (!this.resourceVersion) {
          this.resourceVersion = await this.relist();
          if (!this.hasSynced) {
            this.hasSynced = true;
            this.syncedResolve();
          }
        }
        const watch = this.client.watch<T>(
          this.type,
          {
            resourceVersion: this.resourceVersion,
            namespace: this.options.namespace,
            labelSelector: this.options.labelSelector,
            // The server ends each watch after 5 to 10 minutes; we resume from where it stopped.
            timeoutSeconds: this.options.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300),
            // Bookmarks arrive about once a minute; silence far beyond that means a dead stream.
            inactivityMs: 150_000,
          },
          (event) => {
            failures = 0;
            const rv = event.object?.metadata?.resourceVersion;
            if (rv) this.resourceVersion = rv;
            if (event.type !== "BOOKMARK") this.apply(event.type, event.object);
          },
        );
        this.abortWatch = watch.abort;
        await watch.done;
      } catch (error) {
        if (signal.aborted) return;
        const reason = isGone(error) ? "Gone" : errorMessage(error);
        this.options.onRestart?.(this.type.plural, isGone(error) ? "gone" : "error");
        this.options.log?.(
          "Watch failed; restarting",
          { resource: this.type.plural, reason, attempt: failures },
          isGone(error) ? "info" : "warn",
        );
        if (isGone(error)) this.resourceVersion = ""; // history compacted: only a relist is consistent
        await sleep(backoffDelay(failures++, 200, 30_000), signal);
        // After repeated failures relist anyway: the apiserver may have lost our history.
        if (failures > 5) this.resourceVersion = "";
      }
    }
  }

  /** Replaces the store with a fresh list and emits what changed while we were not watching. */
  private async relist(): Promise<string> {
    const { items, resourceVersion } = await this.client.list<T>(this.type, {
      namespace: this.options.namespace,
      labelSelector: this.options.labelSelector,
    });
    const seen = new Set<string>();
    for (const item of items) {
      const key = keyOf(item);
      seen.add(key);
      this.apply("ADDED", item);
    }
    for (const [key, object] of this.store) {
      if (!seen.has(key)) {
        this.remove(key, object);
        this.emit({ type: "deleted", key, object });
      }
    }
    return resourceVersion;
  }

  private apply(type: "ADDED" | "MODIFIED" | "DELETED" | "ERROR", raw: T): void {
    const object = (this.options.transform ?? dropManagedFields)(raw) as T;
    const key = keyOf(object);
    const old = this.store.get(key);
    if (type === "DELETED") {
      this.remove(key, object);
      this.emit({ type: "deleted", key, object });
      return;
    }
    const typed = { ...object, kind: object.kind ?? this.type.kind } as T;
    this.store.set(key, typed);
    const ns = typed.metadata.namespace ?? "";
    const inNs = this.byNamespace.get(ns) ?? new Map<string, T>();
    this.byNamespace.set(ns, inNs);
    inNs.set(key, typed);
    // resourceVersions are opaque strings: compare for equality only, never order.
    if (old?.metadata.resourceVersion === object.metadata.resourceVersion) return;
    this.emit({ type: old ? "updated" : "added", key, object: typed, ...(old ? { old } : {}) });
  }

  private remove(key: string, object: T): void {
    this.store.delete(key);
    const ns = object.metadata.namespace ?? "";
    const inNs = this.byNamespace.get(ns);
    inNs?.delete(key);
    if (inNs?.size === 0) this.byNamespace.delete(ns);
  }
}

export function dropManagedFields(object: KubeObject): KubeObject {
  if (!object.metadata?.managedFields) return object;
  const { managedFields: _dropped, ...metadata } = object.metadata;
  return { ...object, metadata };
}
