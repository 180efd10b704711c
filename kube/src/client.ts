// A thin REST client over the kubeconfig's credentials. client-node's generated APIs cannot
// server-side apply to a /status subresource or to any kind with one call, and (2.0.1) its
// kubeconfig builds a new undici Agent, so a new TLS connection pool, for every request:
// at 1,000 apps that cost hundreds of MB and a handshake per call. This client keeps one
// keep-alive pool and speaks the REST API directly: get, list, watch, apply, create, delete.
// Requests go through the pool's own request() rather than fetch(): fetch builds WHATWG
// Request, Headers and stream objects around every call, about three times the client CPU
// per request (measured: 230 against 70 µs for a 2 KB apply, client and server together),
// which at 1,000 apps runs to seconds on the cores the apiserver needs.
import { STATUS_CODES } from "node:http";
import { createInterface } from "node:readline";
import type { KubeConfig } from "@kubernetes/client-node";
import { Agent, type Dispatcher, fetch } from "undici";
import { apiVersionOf, type ResourceType, resourcePath } from "./resources.ts";

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    ownerReferences?: OwnerReference[];
    [key: string]: unknown;
  };
  [key: string]: unknown;
};

export type OwnerReference = {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
};

/** The apiserver's refusal, with its Status fields. */
export class KubeError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: unknown;
  constructor(code: number, reason: string, message: string, details?: unknown) {
    super(message);
    this.name = "KubeError";
    this.code = code;
    this.reason = reason;
    this.details = details;
  }
}
export const isNotFound = (e: unknown) => e instanceof KubeError && e.code === 404;
export const isConflict = (e: unknown) => e instanceof KubeError && e.code === 409;
export const isGone = (e: unknown) => e instanceof KubeError && e.code === 410;

/** A write refused before it was sent, or cut off in flight, because this client is fenced. */
export class FencedError extends Error {
  constructor(message = "writes are fenced: this replica does not lead") {
    super(message);
    this.name = "FencedError";
  }
}
export const isFenced = (e: unknown) => e instanceof FencedError;

/** Per-request options: a signal aborts the request (a timeout, a shutdown). */
export type RequestOptions = { signal?: AbortSignal };

/**
 * A write's options. `background`: under maxWritesInFlight, the write takes a turn only when
 * no other write waits for one (Events: best effort, and told after the state they describe).
 */
export type WriteOptions = RequestOptions & { background?: boolean };

export type ListResult<T> = { items: T[]; resourceVersion: string };
export type WatchEvent<T> = { type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR"; object: T };

export type KubeClientOptions = {
  fieldManager: string;
  /** Called for every request that changes state (for the writes metric and the zero-writes benchmark). */
  onWrite?: (verb: string, resource: string) => void;
  /**
   * At most this many writes in flight; later ones wait their turn (first come, first served).
   * Reads are never held back. Unset: no limit.
   */
  maxWritesInFlight?: number;
};

export class KubeClient {
  readonly kc: KubeConfig;
  readonly fieldManager: string;
  private readonly server: string;
  /** The server's scheme, host and port; and the path it is served under ("" at the root). */
  private readonly origin: string;
  private readonly basePath: string;
  private readonly onWrite: (verb: string, resource: string) => void;
  private dispatcher: Agent | undefined;
  private auth: Promise<{ headers: Record<string, string>; at: number }> | undefined;
  private writeFence: AbortSignal | undefined;
  private readonly writeTurns: Turns | undefined;

  constructor(kc: KubeConfig, options: KubeClientOptions) {
    this.kc = kc;
    this.fieldManager = options.fieldManager;
    this.onWrite = options.onWrite ?? (() => {});
    this.writeTurns = options.maxWritesInFlight ? new Turns(options.maxWritesInFlight) : undefined;
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error("the kubeconfig has no current cluster");
    this.server = cluster.server.replace(/\/$/, "");
    const url = new URL(this.server);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/$/, "");
  }

  /**
   * One keep-alive pool for every request. Auth headers (a service-account token rotates on
   * disk) are re-read once a minute; client certificates once.
   */
  private async connection(): Promise<{ dispatcher: Agent; headers: Record<string, string> }> {
    const current = this.auth && (await this.auth.catch(() => undefined));
    if (!this.auth || !current || Date.now() - current.at > 60_000) this.auth = this.loadAuth();
    const { headers } = await this.auth;
    return { dispatcher: this.dispatcher as Agent, headers };
  }

  private async loadAuth() {
    const opts: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean; headers?: object } = {};
    await this.kc.applyToHTTPSOptions(opts as never);
    this.dispatcher ??= new Agent({
      connect: { ca: opts.ca, cert: opts.cert, key: opts.key, rejectUnauthorized: opts.rejectUnauthorized },
      keepAliveTimeout: 30_000,
      connections: 64,
    });
    const headers = Object.fromEntries(Object.entries(opts.headers ?? {}).map(([k, v]) => [k, String(v)]));
    return { headers, at: Date.now() };
  }

  /** Request headers: the kubeconfig's credentials, JSON accepted, the body's type if any. */
  private static headersFor(auth: Record<string, string>, contentType?: string): Record<string, string> {
    return { ...auth, accept: "application/json", ...(contentType ? { "content-type": contentType } : {}) };
  }

  /** One request through the pool; the caller reads or discards the body. */
  private async dispatch(
    method: Dispatcher.HttpMethod,
    path: string,
    query: Record<string, string | undefined> = {},
    init: { body?: string; contentType?: string; signal?: AbortSignal } = {},
  ): Promise<Dispatcher.ResponseData> {
    const { dispatcher, headers } = await this.connection();
    return dispatcher.request({
      origin: this.origin,
      path: this.basePath + path + queryString(query),
      method,
      headers: KubeClient.headersFor(headers, init.contentType),
      body: init.body,
      signal: init.signal,
    });
  }

  /** The same through fetch(), for stream(): its callers read a WHATWG Response body. */
  private async send(path: string, query: Record<string, string | undefined>, signal?: AbortSignal) {
    const { dispatcher, headers } = await this.connection();
    return fetch(this.server + path + queryString(query), {
      method: "GET",
      dispatcher,
      signal,
      headers: KubeClient.headersFor(headers),
    });
  }

  async request<T>(
    method: string,
    path: string,
    options: {
      query?: Record<string, string | undefined>;
      body?: unknown;
      contentType?: string;
      signal?: AbortSignal;
    } = {},
  ): Promise<T> {
    const res = await this.dispatch(method as Dispatcher.HttpMethod, path, options.query, {
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      contentType: options.body === undefined ? undefined : (options.contentType ?? "application/json"),
      signal: options.signal,
    });
    const text = await res.body.text();
    const json = text ? JSON.parse(text) : undefined;
    if (res.statusCode < 200 || res.statusCode > 299) {
      throw new KubeError(
        res.statusCode,
        json?.reason ?? STATUS_CODES[res.statusCode] ?? "",
        json?.message ?? `${method} ${path}: ${res.statusCode}`,
        json?.details,
      );
    }
    return json as T;
  }

  /**
   * A GET whose body the caller reads as it arrives (pods/log, with follow: a stream that stays
   * open); a failure status becomes a KubeError. The caller consumes or cancels the body.
   */
  async stream(path: string, query: Record<string, string | undefined>, signal?: AbortSignal): Promise<Response> {
    const res = await this.send(path, query, signal);
    if (!res.ok) {
      const json = (await res.json().catch(() => undefined)) as { reason?: string; message?: string } | undefined;
      throw new KubeError(res.status, json?.reason ?? res.statusText, json?.message ?? `GET ${path}: ${res.status}`);
    }
    return res;
  }

  /**
   * Fences this client's writes to `signal`'s lifetime (leader election: a term). Once it
   * aborts, writes in flight are cut off and new ones fail with FencedError before anything
   * is sent, so a replica that lost its lease cannot write, even from a reconcile that was
   * half-way through. Reads are never fenced: a standby keeps its caches warm.
   */
  fence(signal: AbortSignal): void {
    this.writeFence = signal;
  }

  private write<T>(
    verb: string,
    t: ResourceType,
    method: string,
    path: string,
    options: Parameters<KubeClient["request"]>[2] & { background?: boolean } = {},
  ): Promise<T> {
    const { background, ...request } = options;
    const turns = this.writeTurns;
    if (!turns) return this.writeNow<T>(verb, t, method, path, request);
    if (this.writeFence?.aborted) return Promise.reject(new FencedError());
    // The fence is checked again when the turn comes (writeNow): a term may end meanwhile.
    return turns.run(() => this.writeNow<T>(verb, t, method, path, request), { background });
  }

  private writeNow<T>(verb: string, t: ResourceType, ...args: Parameters<KubeClient["request"]>): Promise<T> {
    const [method, path, options = {}] = args;
    const fence = this.writeFence;
    if (fence?.aborted) return Promise.reject(new FencedError());
    if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    this.onWrite(verb, t.plural);
    const signals = [fence, options.signal].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    return this.request<T>(method, path, { ...options, signal }).catch((error) => {
      throw fence?.aborted ? new FencedError(`write cut off by the fence: ${verb} ${t.plural}`) : error;
    });
  }

  async get<T extends KubeObject>(
    t: ResourceType,
    name: string,
    namespace?: string,
    options: RequestOptions = {},
  ): Promise<T | undefined> {
    try {
      return await this.request<T>("GET", resourcePath(t, namespace, name), options);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async list<T extends KubeObject>(
    t: ResourceType,
    options: { namespace?: string; labelSelector?: string } = {},
  ): Promise<ListResult<T>> {
    const items: T[] = [];
    let resourceVersion = "";
    let continueToken: string | undefined;
    // Paginate: a 1,000-app install must not arrive as one huge response.
    do {
      const page = await this.request<{ items: T[]; metadata: { resourceVersion: string; continue?: string } }>(
        "GET",
        resourcePath(t, options.namespace),
        { query: { labelSelector: options.labelSelector, limit: "500", continue: continueToken } },
      );
      const apiVersion = apiVersionOf(t);
      for (const item of page.items) items.push({ ...item, apiVersion, kind: t.kind });
      resourceVersion = page.metadata.resourceVersion;
      continueToken = page.metadata.continue || undefined;
    } while (continueToken);
    return { items, resourceVersion };
  }

  /**
   * Server-side apply as the operator's field manager. `force` takes ownership of the fields
   * we set from other managers: the operator is the only writer of what it declares.
   */
  apply<T extends KubeObject>(t: ResourceType, obj: T, options: { subresource?: "status"; force?: boolean } = {}) {
    const path = resourcePath(t, obj.metadata.namespace, obj.metadata.name, options.subresource);
    return this.write<T>(options.subresource ? "apply-status" : "apply", t, "PATCH", path, {
      query: {
        fieldManager: this.fieldManager,
        force: String(options.force ?? true),
        fieldValidation: "Strict",
      },
      body: { ...obj, apiVersion: apiVersionOf(t), kind: t.kind },
      contentType: "application/apply-patch+yaml",
    });
  }

  /**
   * A JSON merge patch: for fields shared with others where apply would claim too much
   * (finalizers), recorded under our field manager as an update.
   */
  mergePatch<T extends KubeObject>(t: ResourceType, name: string, namespace: string | undefined, patch: unknown) {
    return this.write<T>("patch", t, "PATCH", resourcePath(t, namespace, name), {
      query: { fieldManager: this.fieldManager },
      body: patch,
      contentType: "application/merge-patch+json",
    });
  }

  create<T extends KubeObject>(t: ResourceType, obj: T, options: WriteOptions = {}) {
    return this.write<T>("create", t, "POST", resourcePath(t, obj.metadata.namespace), {
      query: { fieldManager: this.fieldManager },
      body: { ...obj, apiVersion: apiVersionOf(t), kind: t.kind },
      signal: options.signal,
      background: options.background,
    });
  }

  replace<T extends KubeObject>(t: ResourceType, obj: T, options: RequestOptions = {}) {
    return this.write<T>("update", t, "PUT", resourcePath(t, obj.metadata.namespace, obj.metadata.name), {
      query: { fieldManager: this.fieldManager },
      body: { ...obj, apiVersion: apiVersionOf(t), kind: t.kind },
      signal: options.signal,
    });
  }

  async delete(t: ResourceType, name: string, namespace?: string, propagationPolicy = "Background"): Promise<void> {
    try {
      await this.write("delete", t, "DELETE", resourcePath(t, namespace, name), {
        body: { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy },
      });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /**
   * One watch request from a resourceVersion. Resolves when the server ends the stream (a
   * normal timeout); rejects on transport errors, on silence longer than `inactivityMs`
   * (bookmarks arrive about once a minute, so silence means a dead connection), and on an
   * ERROR event (410 Gone included).
   */
  watch<T extends KubeObject>(
    t: ResourceType,
    options: {
      resourceVersion: string;
      namespace?: string;
      labelSelector?: string;
      timeoutSeconds: number;
      inactivityMs: number;
    },
    onEvent: (event: WatchEvent<T>) => void,
  ): { done: Promise<void>; abort: () => void } {
    const controller = new AbortController();
    let aborted = false;
    const done = (async () => {
      let timer: NodeJS.Timeout | undefined;
      let cleanup = () => {};
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => controller.abort(new Error("watch silent for too long")), options.inactivityMs);
        timer.unref();
      };
      try {
        arm();
        const res = await this.dispatch(
          "GET",
          resourcePath(t, options.namespace),
          {
            watch: "true",
            resourceVersion: options.resourceVersion,
            allowWatchBookmarks: "true",
            labelSelector: options.labelSelector,
            timeoutSeconds: String(options.timeoutSeconds),
          },
          { signal: controller.signal },
        );
        if (res.statusCode !== 200) {
          const json = (await res.body.json().catch(() => undefined)) as
            | { reason?: string; message?: string }
            | undefined;
          throw new KubeError(
            res.statusCode,
            json?.reason ?? "WatchFailed",
            json?.message ?? `watch ${t.plural}: ${res.statusCode}`,
          );
        }
        const input = res.body;
        // Aborting (ours, or a dropped connection) errors the stream; the loop below sees it
        // through readline, so an unheard 'error' event must not take the process down.
        input.on("error", () => {});
        const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
        lines.on("error", () => {});
        cleanup = () => {
          lines.close();
          input.destroy();
        };
        for await (const line of lines) {
          arm();
          if (!line) continue;
          const event = JSON.parse(line) as {
            type: string;
            object: { code?: number; reason?: string; message?: string };
          };
          if (event.type === "ERROR")
            throw new KubeError(
              event.object?.code ?? 500,
              event.object?.reason ?? "WatchError",
              event.object?.message ?? "watch error",
            );
          onEvent(event as unknown as WatchEvent<T>);
        }
      } catch (error) {
        if (!aborted) throw error;
      } finally {
        clearTimeout(timer);
        cleanup();
        controller.abort();
      }
    })();
    return {
      done,
      abort: () => {
        aborted = true;
        controller.abort();
      },
    };
  }
}

/** `?a=1&b=2` from the defined values, or "" when there are none. */
function queryString(query: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, v);
  const text = params.toString();
  return text ? `?${text}` : "";
}

/**
 * At most `limit` tasks running at once, the others waiting in arrival order. A task's turn
 * ends when its promise settles, whatever the outcome. A background task waits behind every
 * other waiting task, whenever it came (so, under a sustained queue, until the queue drains).
 */
export class Turns {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly waitingInBackground: (() => void)[] = [];
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Tasks running now (for tests and metrics). */
  get inFlight(): number {
    return this.running;
  }

  async run<T>(task: () => Promise<T>, options: { background?: boolean } = {}): Promise<T> {
    const line = options.background ? this.waitingInBackground : this.waiting;
    if (this.running >= this.limit) await new Promise<void>((resolve) => line.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift() ?? this.waitingInBackground.shift();
      // The turn passes straight to the next waiter, so `running` stays counted for it.
      if (next) next();
      else this.running--;
    }
  }
}
