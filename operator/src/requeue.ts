// Coming back later, without overflowing Node's timers. setTimeout holds a signed 32-bit
// delay (2^31 - 1 ms, about 24.8 days); anything longer fires after 1 ms with a
// TimeoutOverflowWarning, so a 30-day idle timeout made the operator reconcile in a tight loop.
// Deadlines further out than a day are reached in steps instead: each pass re-checks the
// deadline from durable status and asks to come back again, at most a day later.
import type { Outcome } from "./runtime/queue.ts";

/** The longest a reconciler asks to wait: far below the timer limit, and a daily re-check is cheap. */
export const MAX_REQUEUE_MS = 24 * 3_600_000;

/** Come back after `ms` (clamped to [0, MAX_REQUEUE_MS]): the next pass re-checks the deadline. */
export const requeueAfter = (ms: number): Outcome => ({
  requeueAfterMs: Math.min(MAX_REQUEUE_MS, Math.max(0, Math.ceil(Number.isFinite(ms) ? ms : MAX_REQUEUE_MS))),
});
