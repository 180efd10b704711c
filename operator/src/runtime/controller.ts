// One controller per kind: a work queue of keys feeding a level-triggered reconcile function,
// with metrics and logs around every pass.

import { errorMessage, isFenced, type Logger } from "@atrium/kube";
import type { OperatorMetrics } from "./metrics.ts";
import { type Line, type Outcome, WorkQueue } from "./queue.ts";

/** An error retrying cannot fix (bad input): logged, shown in a condition, not retried. */
export class TerminalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TerminalError";
  }
}

export type Reconcile = (key: string) => Promise<Outcome>;

export class Controller {
  readonly kind: string;
  readonly queue: WorkQueue;

  constructor(
    kind: string,
    reconcile: Reconcile,
    deps: { metrics: OperatorMetrics; log: Logger; concurrency: number },
  ) {
    this.kind = kind;
    const { metrics, log } = deps;
    this.queue = new WorkQueue(
      async (key) => {
        const end = metrics.reconcileDuration.startTimer({ kind });
        try {
          const outcome = await reconcile(key);
          metrics.reconciles.inc({ kind, result: "success" });
          return outcome;
        } finally {
          end();
          metrics.queueDepth.set({ kind }, this.queue.depth);
        }
      },
      {
        concurrency: deps.concurrency,
        baseDelayMs: 200,
        maxDelayMs: 5 * 60_000,
        onError: (key, error, attempt) => {
          // Leadership ended mid-reconcile: nothing to retry here; the next term starts over.
          if (isFenced(error)) {
            metrics.reconciles.inc({ kind, result: "fenced" });
            log("Reconcile stopped: this replica no longer leads", { kind, key });
            return true;
          }
          const terminal = error instanceof TerminalError;
          metrics.reconciles.inc({ kind, result: terminal ? "terminal" : "error" });
          log(
            terminal ? "Reconcile failed permanently" : "Reconcile failed; will retry",
            { kind, key, attempt, error: errorMessage(error) },
            "error",
          );
          return terminal;
        },
      },
    );
  }

  enqueue = (key: string, line: Line = "now") => {
    this.queue.add(key, line);
  };
}
