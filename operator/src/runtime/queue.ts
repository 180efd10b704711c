// A work queue of object keys, after client-go's: a key waiting is queued once however many
// events arrive (dedupe); a key being processed is never processed twice at once (if it
// changes meanwhile it is marked dirty and runs again after); failures retry with capped
// exponential backoff; a reconcile may ask to run again later (requeueAfter). Keys wait in
// one of two lines: `later` (an object's first pass: a new app's children to create) waits
// behind the ordinary line, so under a burst of new objects the passes that report on
// objects already under way are not queued behind every creation still to do.
import { backoffDelay } from "@atrium/kube";

/** The longest delay setTimeout keeps (2^31 - 1 ms, about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * When both lines wait, one turn in this many goes to the `later` line: strict priority with
 * a share, so creations go on however busy the ordinary line stays.
 */
export const LATER_SHARE = 4;

/** Which line a key waits in: `later` waits behind `now` (see the head of this file). */
export type Line = "now" | "later";

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
  /** Keys waiting in the `later` line, in arrival order (each also in `waiting`). */
  private readonly laterOrder: string[] = [];
  /** Turns given to the ordinary line in a row while the `later` line waited. */
  private nowStreak = 0;
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

  /**
   * Queues the key (once, however often it is added while it waits). A key added to the
   * `later` line that is added again for `now` moves to the ordinary line; a key already
   * waiting `now` stays there. A key being processed is marked dirty and runs again after,
   * in the ordinary line.
   */
  add(key: string, line: Line = "now"): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.waiting.has(key)) {
      const at = line === "now" ? this.laterOrder.indexOf(key) : -1;
      if (at >= 0) {
        this.laterOrder.splice(at, 1);
        this.order.push(key);
      }
      return;
    }
    this.waiting.add(key);
    (line === "later" ? this.laterOrder : this.order).push(key);
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
    return this.order.length + this.laterOrder.length;
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
    if (this.depth === 0 && this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drops every waiting and delayed key (what runs finishes); the queue stays usable. */
  clear(): void {
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.order.length = 0;
    this.laterOrder.length = 0;
    this.waiting.clear();
    this.dirty.clear();
    this.failures.clear();
  }

  shutdown(): void {
    this.stopped = true;
    this.clear();
  }

  /** The next key to run: the ordinary line first, the `later` line when it is empty or its share is due. */
  private next(): string | undefined {
    const later = this.laterOrder.length > 0 && (this.order.length === 0 || this.nowStreak >= LATER_SHARE - 1);
    if (later) {
      this.nowStreak = 0;
      return this.laterOrder.shift();
    }
    if (this.laterOrder.length > 0) this.nowStreak++;
    return this.order.shift();
  }

  private pump(): void {
    while (!this.stopped && this.active < this.options.concurrency && this.depth > 0) {
      const key = this.next() as string;
      this.waiting.delete(key);
      this.processing.add(key);
      this.active++;
      void this.run(key);
    }
    if (this.depth === 0 && this.active === 0) {
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
