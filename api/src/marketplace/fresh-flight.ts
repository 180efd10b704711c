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
 */
export function recentReads<K, V>(
  load: (key: K) => Promise<V>,
  options: { maxAgeMs: number; now?: () => number },
): { get(key: K): Promise<V>; forget(key: K): void } {
  const now = options.now ?? Date.now;
  const read = freshFlight(load);
  const kept = new Map<K, { at: number; value: Promise<V> }>();
  return {
    get(key) {
      const hit = kept.get(key);
      if (hit && now() - hit.at < options.maxAgeMs) return hit.value;
      const value = read(key);
      const entry = { at: now(), value };
      kept.set(key, entry);
      value.catch(() => {
        if (kept.get(key) === entry) kept.delete(key);
      });
      return value;
    },
    forget(key) {
      kept.delete(key);
    },
  };
}
