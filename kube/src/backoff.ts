/** Capped exponential backoff with ±20 % jitter, so restarting clients do not move in step. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.round(exp * (0.8 + 0.4 * random()));
}

/**
 * Resolves after `ms`, or at once when `signal` aborts. The abort listener goes when the
 * timer fires: callers sleep in loops on one long-lived signal (leader election every 2 s),
 * and a listener left per call would keep its closure alive for the signal's lifetime.
 */
export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
