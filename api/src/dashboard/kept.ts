// Answers kept for a short time per key, read once however many requests ask at the same moment.
// The dashboard's figures come from rollups the usage reporter writes at most once a minute and
// from billing rows that change on a person's action, so an answer a few seconds old says the
// same; reading them again for each of 50 concurrent requests would queue every request behind
// the database (SQLite has one connection). A value older than half its lifetime is refreshed in
// the background while it is still served, so a busy key never waits. None is older than `ttlMs`,
// except while its refresh is under way (a loaded server may take longer to read than the
// lifetime): then the old value is served up to three lifetimes, rather than every request
// waiting for a read of its own that the load slows down even more.

const STALE_WHILE_REFRESHING = 3;

export class Kept<T> {
  private readonly entries = new Map<string, { at: number; value: Promise<T>; refreshing: boolean }>();

  private readonly ttlMs: number;
  private readonly now: () => number;
  /** At most this many keys (the oldest goes first): one per organization and window. */
  private readonly maxKeys: number;

  constructor(ttlMs: number, now: () => number, maxKeys = 1000) {
    this.ttlMs = ttlMs;
    this.now = now;
    this.maxKeys = maxKeys;
  }

  get(key: string, load: () => Promise<T>): Promise<T> {
    const now = this.now();
    const entry = this.entries.get(key);
    const age = entry ? now - entry.at : Number.POSITIVE_INFINITY;
    if (entry && (age < this.ttlMs || (entry.refreshing && age < STALE_WHILE_REFRESHING * this.ttlMs))) {
      if (age >= this.ttlMs / 2 && !entry.refreshing) {
        entry.refreshing = true;
        const next = load();
        // Served from the old value until the new one is there; a failed refresh keeps the old
        // one until it expires (the next request after that reads again, and hears the error).
        next.then(
          () => this.entries.get(key) === entry && this.set(key, next, now),
          () => {
            entry.refreshing = false;
          },
        );
      }
      return entry.value;
    }
    const value = load();
    this.set(key, value, now);
    // A failure is not kept: the next request tries again.
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    return value;
  }

  /** Forgets everything (tests, and writes that must show at once). */
  clear(): void {
    this.entries.clear();
  }

  private set(key: string, value: Promise<T>, at: number): void {
    this.entries.delete(key);
    this.entries.set(key, { at, value, refreshing: false });
    if (this.entries.size > this.maxKeys) this.entries.delete(this.entries.keys().next().value as string);
  }
}
