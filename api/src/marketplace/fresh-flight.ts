// Shares database reads between concurrent requests without serving anything older than a read
// of their own would have been: a caller never joins a read that started before it arrived. It
// waits for the next one, which starts when the current one ends and serves every caller that
// arrived meanwhile: under load, one read in flight and one waiting per key instead of one per
// request, with the same freshness. recentReads() adds a short memory on top (see ADR 0012).

type Waiting<V> = { promise: Promise<V>; resolve: (v: V) => void; reject: (e: unknown) => void };
type Flight<V> = {
  current: Promise<V> | undefined;
  /** Whether the current read has been sent; callers before that may still share it. */
  started: boolean;
  waiting: Waiting<V> | undefined;
};

export function freshFlight<K, V>(load: (key: K) => Promise<V>): (key: K) => Promise<V> {
  const flights = new Map<K, Flight<V>>();

  const run = (key: K, flight: Flight<V>): Promise<V> => {
    flight.started = false;
    const current = Promise.resolve().then(() => {
      flight.started = true;
      return load(key);
    });
    flight.current = current;
    const next = () => {
      flight.current = undefined;
      const waiting = flight.waiting;
      flight.waiting = undefined;
      if (waiting) run(key, flight).then(waiting.resolve, waiting.reject);
      else flights.delete(key);
    };
    current.then(next, next);
    return current;
  };

  return (key) => {
    let flight = flights.get(key);
    if (!flight) {
      flight = { current: undefined, started: false, waiting: undefined };
      flights.set(key, flight);
    }
    if (!flight.current) return run(key, flight);
    if (!flight.started) return flight.current;
    if (!flight.waiting) {
      let resolve!: (v: V) => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<V>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      flight.waiting = { promise, resolve, reject };
    }
    return flight.waiting.promise;
  };
}

/**
 * Reads kept for a short while per key, on top of freshFlight: `forget(key)` drops one at once
 * (its data changed), and a failed read is never kept. For data that only grows and is shown as
 * advice (the marketplace's "trial available"; billing refuses a second trial on install).
 *
 * A read is never served once it is `maxAgeMs` old (counted from when it was asked for), and a
 * key in use never waits for one: past `refreshAfterMs` (half the maximum age unless given) the
 * next caller starts a newer read in the background and is answered from the kept one, which
 * the newer replaces when it lands. Without that, every caller of a busy key waited for the
 * database once per maximum age (the benchmark's p99).
 */
export function recentReads<K, V>(
  load: (key: K) => Promise<V>,
  options: { maxAgeMs: number; refreshAfterMs?: number; now?: () => number },
): { get(key: K): Promise<V>; forget(key: K): void } {
  const now = options.now ?? Date.now;
  const refreshAfterMs = options.refreshAfterMs ?? options.maxAgeMs / 2;
  const read = freshFlight(load);
  type Kept = { at: number; value: Promise<V>; landed: boolean; refreshing: boolean };
  const kept = new Map<K, Kept>();
  const start = (key: K): Kept => {
    const entry: Kept = { at: now(), value: read(key), landed: false, refreshing: false };
    entry.value.then(
      () => {
        entry.landed = true;
      },
      () => {},
    );
    return entry;
  };
  /** A newer read for a key in use; it replaces the kept one only if that is still kept (no forget since). */
  const refresh = (key: K, old: Kept) => {
    old.refreshing = true;
    const next = start(key);
    next.value.then(
      () => {
        if (kept.get(key) === old) kept.set(key, next);
      },
      () => {
        old.refreshing = false;
      },
    );
  };
  return {
    get(key) {
      const hit = kept.get(key);
      if (hit) {
        const age = now() - hit.at;
        if (age < options.maxAgeMs) {
          if (age >= refreshAfterMs && hit.landed && !hit.refreshing) refresh(key, hit);
          return hit.value;
        }
      }
      const entry = start(key);
      kept.set(key, entry);
      entry.value.catch(() => {
        if (kept.get(key) === entry) kept.delete(key);
      });
      return entry.value;
    },
    forget(key) {
      kept.delete(key);
    },
  };
}
