// Activity per app, made durable in AppInstance status.lastActivity. Requests touch an app;
// connections held open (WebSockets, SSE, long downloads) count as activity the whole time
// they are open. Writes are rate-limited to one per app per flush interval and only ever move
// lastActivity forward, so several gateway replicas merge to the latest (max) without a lock.

import type { AppInstance } from "@atrium/crds";
import { errorMessage, type KubeClient, type Logger, R } from "@atrium/kube";

export type ActivityOptions = { flushIntervalMs: number; log: Logger; onWrite?: () => void };

export class ActivityTracker {
  private readonly latest = new Map<string, number>();
  private readonly open = new Map<string, number>();
  private readonly written = new Map<string, number>();
  private readonly writtenAt = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  /** Prompt writes under way per app, and whether activity came meanwhile (flushPrompt). */
  private readonly prompt = new Map<string, boolean>();
  private readonly client: KubeClient;
  private readonly lookup: (key: string) => AppInstance | undefined;
  private readonly options: ActivityOptions;

  constructor(client: KubeClient, lookup: (key: string) => AppInstance | undefined, options: ActivityOptions) {
    this.client = client;
    this.lookup = lookup;
    this.options = options;
  }

  touch(key: string, at = Date.now()): void {
    if ((this.latest.get(key) ?? 0) < at) this.latest.set(key, at);
  }

  opened(key: string): void {
    this.open.set(key, (this.open.get(key) ?? 0) + 1);
    this.touch(key);
  }

  closed(key: string): void {
    const n = (this.open.get(key) ?? 1) - 1;
    if (n > 0) this.open.set(key, n);
    else this.open.delete(key);
    this.touch(key);
  }

  openConnections(key: string): number {
    return this.open.get(key) ?? 0;
  }

  start(): void {
    const tick = Math.max(100, Math.min(1000, this.options.flushIntervalMs / 4));
    this.timer = setInterval(() => void this.flushDue(), tick);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flushDue(true); // a clean shutdown loses no activity
  }

  /** Writes what is due: apps with newer activity whose last write is a flush interval old. */
  async flushDue(force = false): Promise<void> {
    const now = Date.now();
    for (const key of this.open.keys()) this.touch(key, now);
    const due = [...this.latest].filter(
      ([key, at]) =>
        at > (this.written.get(key) ?? 0) &&
        (force || now - (this.writtenAt.get(key) ?? 0) >= this.options.flushIntervalMs),
    );
    await Promise.all(due.map(([key, at]) => this.write(key, at)));
  }

  /** Records activity now and writes it at once: what wakes a stopped app. */
  async flushNow(key: string): Promise<void> {
    const now = Date.now();
    this.touch(key, now);
    await this.write(key, now, true);
  }

  /**
   * Writes the activity of now without waiting for the flush interval, at most one write per
   * app at a time (activity during it is written right after): what the activator does for a
   * request to an app on its way to zero, so the operator's stop grace sees it and cancels the
   * stop. The data plane sends requests here only then, so this is not the warm path.
   */
  async flushPrompt(key: string): Promise<void> {
    this.touch(key);
    if (this.prompt.has(key)) {
      this.prompt.set(key, true);
      return;
    }
    this.prompt.set(key, false);
    try {
      do {
        this.prompt.set(key, false);
        const at = this.latest.get(key) ?? Date.now();
        if (at > (this.written.get(key) ?? 0)) await this.write(key, at);
      } while (this.prompt.get(key));
    } finally {
      this.prompt.delete(key);
    }
  }

  private async write(key: string, at: number, throwOnError = false): Promise<void> {
    const app = this.lookup(key);
    if (!app) return;
    const stored = Date.parse(app.status?.lastActivity ?? "") || 0;
    // Another replica (or an earlier run of this one) already recorded something as recent.
    if (stored >= at) {
      this.written.set(key, at);
      return;
    }
    try {
      await this.client.apply(
        R.appInstance,
        {
          metadata: { name: app.metadata.name, namespace: app.metadata.namespace },
          status: { lastActivity: new Date(at).toISOString() },
        },
        { subresource: "status" },
      );
      this.written.set(key, at);
      this.writtenAt.set(key, Date.now());
      this.options.onWrite?.();
    } catch (error) {
      this.options.log("Could not record activity", { key, error: errorMessage(error) }, "error");
      if (throwOnError) throw error;
    }
  }
}
