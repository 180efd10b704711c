// Coming back later. Deadlines further out than a day are reached in steps: each pass
// re-checks the deadline from durable status (which may have moved: new activity, a changed
// timeout) and asks to come back again, at most a day later. (That a delay past Node's timer
// limit, about 24.8 days, never fires at once is the work queue's business: queue.ts re-arms.)
import type { Outcome } from "./runtime/queue.ts";

/** The longest a reconciler asks to wait: far below the timer limit, and a daily re-check is cheap. */
export const MAX_REQUEUE_MS = 24 * 3_600_000;

/** Come back after `ms` (clamped to [0, MAX_REQUEUE_MS]): the next pass re-checks the deadline. */
export const requeueAfter = (ms: number): Outcome => ({
  requeueAfterMs: Math.min(MAX_REQUEUE_MS, Math.max(0, Math.ceil(Number.isFinite(ms) ? ms : MAX_REQUEUE_MS))),
});
