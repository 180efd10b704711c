// A work queue of object keys, after client-go's: a key waiting is queued once however many
// events arrive (dedupe); a key being processed is never processed twice at once (if it
// changes meanwhile it is marked dirty and runs again after); failures retry with capped
// exponential backoff; a reconcile may ask to run again later (requeueAfter).
import { backoffDelay } from "@atrium/kube";

/** The longest delay setTimeout keeps (2^31 - 1 ms, about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export type Outcome = { requeueAfterMs?: number } | undefined;
export type Processor = (key: string) => Promise<Outcome>;

export type QueueOptions = {
  concurrency: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Reports a failure; returns true when the error is terminal (log it, don't retry). */
  onError?: (key: string, error: unknown, attempt: number) => boolean;
};

export class WorkQueue {
  private readonly order: string[] = [];
  private readonly waiting = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  /** One pending delay per key; `since` marks a wait for quiet (addWhenQuiet): its first change. */
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout; since?: number }>();
  private readonly failures = new Map<string, number>();
  private active = 0;
  private stopped = false;
  private readonly process: Processor;
  private readonly options: Required<QueueOptions>;
  private idleWaiters: (() => void)[] = [];

  constructor(process: Processor, options: QueueOptions) {
    this.process = process;
    this.options = { baseDelayMs: 100, maxDelayMs: 60_000, onError: () => false, ...options };
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.waiting.has(key)) return;
    this.waiting.add(key);
    this.order.push(key);
    this.pump();
  }

  /**
   * Adds the key after a delay; an earlier pending delay for the same key wins, so a key
   * asked for again and again while its timer runs is processed once, when the first timer
   * fires (callers use that to coalesce bursts of changes into one pass).
   */
  addAfter(key: string, delayMs: number): void {
    if (this.stopped) return;
    if (!(delayMs > 0)) {
      this.add(key);
      return;
    }
    const at = Date.now() + delayMs;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) {
      // A sooner wait for quiet stands, but may no longer move past this delay.
      if (existing.since !== undefined) {
        clearTimeout(existing.timer);
        this.arm(key, existing.at);
      }
      return;
    }
    if (existing) clearTimeout(existing.timer);
    this.arm(key, at);
  }

  /**
   * Adds the key once changes to it have paused for `quietMs`, and at the latest `maxMs` after
   * the first of them: a lone change waits `quietMs`, a burst of changes (20 apps starting over
   * a minute) costs one pass every `maxMs` rather than one every `quietMs`. A sooner delay of
   * another kind (a retry) stands; the pass it brings covers these changes too.
   */
  addWhenQuiet(key: string, quietMs: number, maxMs: number): void {
    if (this.stopped) return;
    const now = Date.now();
    const existing = this.timers.get(key);
    const since = existing?.since ?? now;
    const at = Math.min(now + quietMs, since + maxMs);
    if (existing && existing.since === undefined && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    this.arm(key, at, since);
  }

  /**
   * A timer for `at`, in steps of at most MAX_TIMER_MS: setTimeout holds a signed 32-bit
   * delay, and a longer one fires after 1 ms (with a TimeoutOverflowWarning), so a far
   * deadline would otherwise run the key at once, and a reconcile that asks for it again
   * would spin.
   */
  private arm(key: string, at: number, since?: number): void {
    const timer = setTimeout(
      () => {
        if (Date.now() < at) return this.arm(key, at, since);
        this.timers.delete(key);
        this.add(key);
      },
      Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now())),
    );
    timer.unref();
    this.timers.set(key, { at, timer, ...(since === undefined ? {} : { since }) });
  }

  get depth(): number {
    return this.order.length;
  }

  /** Keys whose delay ends within `ms`, and keys waiting for quiet: work that is about to be queued. */
  dueWithin(ms: number): number {
    const by = Date.now() + ms;
    let n = 0;
    for (const { at, since } of this.timers.values()) if (at <= by || since !== undefined) n++;
    return n;
  }

  /** Resolves when nothing is queued or running (tests and benchmarks use it). */
  idle(): Promise<void> {
    if (this.order.length === 0 && this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drops every waiting and delayed key (what runs finishes); the queue stays usable. */
  clear(): void {
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.order.length = 0;
    this.waiting.clear();
    this.dirty.clear();
    this.failures.clear();
  }

  shutdown(): void {
    this.stopped = true;
    this.clear();
  }

  private pump(): void {
    while (!this.stopped && this.active < this.options.concurrency && this.order.length > 0) {
      const key = this.order.shift() as string;
      this.waiting.delete(key);
      this.processing.add(key);
      this.active++;
      void this.run(key);
    }
    if (this.order.length === 0 && this.active === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private async run(key: string): Promise<void> {
    try {
      const outcome = await this.process(key);
      this.failures.delete(key);
      if (outcome?.requeueAfterMs !== undefined) this.addAfter(key, outcome.requeueAfterMs);
    } catch (error) {
      const attempt = this.failures.get(key) ?? 0;
      const terminal = this.options.onError(key, error, attempt);
      if (terminal) this.failures.delete(key);
      else {
        this.failures.set(key, attempt + 1);
        this.addAfter(key, backoffDelay(attempt, this.options.baseDelayMs, this.options.maxDelayMs));
      }
    } finally {
      this.processing.delete(key);
      this.active--;
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
    }
  }
}
