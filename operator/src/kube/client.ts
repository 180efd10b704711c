// A thin REST client over the kubeconfig's transport. client-node's generated APIs cannot
// server-side apply to a /status subresource or to an arbitrary kind with one call, so the
// operator speaks the REST API directly: get, list, watch, server-side apply, create, delete.
import { HttpMethod, type KubeConfig, RequestContext, Watch } from "@kubernetes/client-node";
import { fetch } from "undici";
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

export type ListResult<T> = { items: T[]; resourceVersion: string };
export type WatchEvent<T> = { type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR"; object: T };

export type KubeClientOptions = {
  fieldManager: string;
  /** Called for every request that changes state (for the writes metric and the zero-writes benchmark). */
  onWrite?: (verb: string, resource: string) => void;
};

export class KubeClient {
  readonly kc: KubeConfig;
  readonly fieldManager: string;
  private readonly server: string;
  private readonly onWrite: (verb: string, resource: string) => void;

  constructor(kc: KubeConfig, options: KubeClientOptions) {
    this.kc = kc;
    this.fieldManager = options.fieldManager;
    this.onWrite = options.onWrite ?? (() => {});
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error("the kubeconfig has no current cluster");
    this.server = cluster.server.replace(/\/$/, "");
  }

  async request<T>(
    method: HttpMethod,
    path: string,
    options: { query?: Record<string, string | undefined>; body?: unknown; contentType?: string } = {},
  ): Promise<T> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const ctx = new RequestContext(url.toString(), method);
    await this.kc.applySecurityAuthentication(ctx);
    const headers: Record<string, string> = { ...ctx.getHeaders(), accept: "application/json" };
    if (options.body !== undefined) headers["content-type"] = options.contentType ?? "application/json";
    const res = await fetch(url, {
      method,
      headers,
      dispatcher: ctx.getDispatcher(),
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await res.text();
    const json = text ? JSON.parse(text) : undefined;
    if (!res.ok) {
      throw new KubeError(
        res.status,
        json?.reason ?? res.statusText,
        json?.message ?? `${method} ${path}: ${res.status}`,
        json?.details,
      );
    }
    return json as T;
  }

  private write<T>(verb: string, t: ResourceType, ...args: Parameters<KubeClient["request"]>): Promise<T> {
    this.onWrite(verb, t.plural);
    return this.request<T>(...args);
  }

  async get<T extends KubeObject>(t: ResourceType, name: string, namespace?: string): Promise<T | undefined> {
    try {
      return await this.request<T>(HttpMethod.GET, resourcePath(t, namespace, name));
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
        HttpMethod.GET,
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
    return this.write<T>(options.subresource ? "apply-status" : "apply", t, HttpMethod.PATCH, path, {
      query: {
        fieldManager: this.fieldManager,
        force: String(options.force ?? true),
        fieldValidation: "Strict",
      },
      body: { ...obj, apiVersion: apiVersionOf(t), kind: t.kind },
      contentType: "application/apply-patch+yaml",
    });
  }

  /** A JSON merge patch: for fields shared with others where apply would claim too much (finalizers). */
  mergePatch<T extends KubeObject>(t: ResourceType, name: string, namespace: string | undefined, patch: unknown) {
    return this.write<T>("patch", t, HttpMethod.PATCH, resourcePath(t, namespace, name), {
      body: patch,
      contentType: "application/merge-patch+json",
    });
  }

  create<T extends KubeObject>(t: ResourceType, obj: T) {
    return this.write<T>("create", t, HttpMethod.POST, resourcePath(t, obj.metadata.namespace), {
      query: { fieldManager: this.fieldManager },
      body: { ...obj, apiVersion: apiVersionOf(t), kind: t.kind },
    });
  }

  replace<T extends KubeObject>(t: ResourceType, obj: T) {
    return this.write<T>("update", t, HttpMethod.PUT, resourcePath(t, obj.metadata.namespace, obj.metadata.name), {
      query: { fieldManager: this.fieldManager },
      body: { ...obj, apiVersion: apiVersionOf(t), kind: t.kind },
    });
  }

  async delete(t: ResourceType, name: string, namespace?: string, propagationPolicy = "Background"): Promise<void> {
    try {
      await this.write("delete", t, HttpMethod.DELETE, resourcePath(t, namespace, name), {
        body: { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy },
      });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /**
   * One watch request from a resourceVersion. Resolves when the server ends the stream (a
   * normal timeout); rejects on transport errors or an ERROR event (410 Gone included).
   */
  watch<T extends KubeObject>(
    t: ResourceType,
    options: { resourceVersion: string; labelSelector?: string; timeoutSeconds: number; inactivityMs: number },
    onEvent: (event: WatchEvent<T>) => void,
  ): { done: Promise<void>; abort: () => void } {
    const watch = new Watch(this.kc);
    // client-node aborts a watch after 30 s without data unless told otherwise; the field is
    // private in the typings but is the documented knob.
    (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = options.inactivityMs;
    let controller: AbortController | undefined;
    let aborted = false;
    const done = new Promise<void>((resolve, reject) => {
      watch
        .watch(
          resourcePath(t),
          {
            resourceVersion: options.resourceVersion,
            allowWatchBookmarks: true,
            labelSelector: options.labelSelector,
            timeoutSeconds: options.timeoutSeconds,
          },
          (type: string, object: any) => {
            if (type === "ERROR") {
              reject(
                new KubeError(object?.code ?? 500, object?.reason ?? "WatchError", object?.message ?? "watch error"),
              );
              controller?.abort();
              return;
            }
            onEvent({ type: type as WatchEvent<T>["type"], object });
          },
          (err: any) => {
            if (!err || aborted) return resolve();
            reject(err.statusCode ? new KubeError(err.statusCode, "WatchFailed", String(err.message)) : err);
          },
        )
        .then((c) => {
          controller = c;
          if (aborted) c.abort();
        }, reject);
    });
    return {
      done,
      abort: () => {
        aborted = true;
        controller?.abort();
      },
    };
  }
}
