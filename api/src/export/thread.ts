// The API's side of an export's worker thread (export-worker.ts, ADR 0019): starts it, makes
// the files only this thread can make and sends them a piece at a time on the worker's credit
// (so a few pages of them are in memory at a time), tracks its progress and the startedAt it
// last wrote, and asks it to stop when the replica does.
import { Worker } from "node:worker_threads";
import type { ArchiveFile } from "./archive.ts";
import { PREFETCH } from "./domain.ts";
import type { ExportWorkerData, FromWorker, ToWorker, WorkerFile, WorkerResult } from "./export-worker.ts";
import type { Progress, TablePlan } from "./tables.ts";

/** A file of the archive as sources.ts plans it: made here, or read by the worker from a table. */
export type PlannedFile = ArchiveFile | TablePlan;

export const isTable = (f: PlannedFile): f is TablePlan => "sqlite" in f;

const EXPORT_WORKER = new URL("./export-worker.ts", import.meta.url);

/**
 * The worker's heap holds a page of rows, its text and a chunk or two: a small old generation
 * makes it collect early rather than grow the API's RSS (the export's memory budget is the process's).
 */
const WORKER_HEAP = { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16 };

/** How long a stopping worker may take to leave at its next page before it is terminated. */
const STOP_GRACE_MS = 10_000;

/**
 * Writes the archive on a worker thread; resolves with what it wrote, rejects with why it could
 * not (the worker's error, its exit before the end, or `signal`'s reason once it has stopped).
 */
export async function runOnWorker(options: {
  data: Omit<ExportWorkerData, "files">;
  files: readonly PlannedFile[];
  signal: AbortSignal;
  /** The startedAt the worker last wrote (its heartbeat), with its progress when it reports some. */
  track: (startedAt: number, progress?: Progress) => void;
}): Promise<WorkerResult> {
  const { files, signal } = options;
  const here = new Map<string, ArchiveFile>();
  const planned: WorkerFile[] = files.map((f) => {
    if (isTable(f)) return { name: f.name, from: "table", plan: f };
    here.set(f.name, f);
    return { name: f.name, from: "api" };
  });
  const worker = new Worker(EXPORT_WORKER, {
    workerData: { ...options.data, files: planned } satisfies ExportWorkerData,
    resourceLimits: WORKER_HEAP,
  });
  const exited = new Promise<number>((resolve) => worker.once("exit", resolve));
  const post = (m: ToWorker) => worker.postMessage(m);
  const stop = () => post({ stop: String((signal.reason as Error | undefined)?.message ?? "stopped") });
  signal.addEventListener("abort", stop, { once: true });

  // The worker's first credits are implicit: this thread makes its first pieces while the worker
  // starts (a new isolate, its modules, its connection, the counts) instead of after.
  let credit = PREFETCH;
  let ended = false;
  let wake: (() => void) | undefined;
  const nudge = () => {
    wake?.();
    wake = undefined;
  };
  /** Resolves when the worker may take one more message; false once it has ended. */
  const spend = async () => {
    while (credit <= 0 && !ended)
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    credit--;
    return !ended;
  };
  /** This thread's files, in archive order, a piece (a page) at a time as the worker's credit allows. */
  const feed = async () => {
    for (const file of here.values()) {
      const name = file.name;
      let records = 0;
      try {
        for await (const piece of file.content((n) => {
          records += n;
        })) {
          if (!(await spend())) return;
          post({ name, piece, records });
          records = 0;
        }
        if (!(await spend())) return;
        post({ name, end: true });
      } catch (error) {
        if (!ended) post({ name, error: `${name}: ${(error as Error)?.message ?? error}` });
        return;
      }
    }
  };
  const feeding = feed().catch(() => {});

  try {
    return await new Promise<WorkerResult>((resolve, reject) => {
      worker.on("message", (m: FromWorker) => {
        if ("credit" in m) {
          credit += m.credit;
          nudge();
        } else if ("progress" in m) options.track(m.startedAt, m.progress);
        else if ("done" in m) {
          options.track(m.done.startedAt);
          resolve(m.done);
        } else if ("failed" in m) {
          options.track(m.startedAt);
          reject(signal.aborted ? signal.reason : new Error(m.failed));
        }
      });
      worker.on("error", (error: unknown) =>
        reject(error instanceof Error ? error : new Error(`the export's worker failed: ${JSON.stringify(error)}`)),
      );
      worker.on("exit", (code) => reject(new Error(`the export's worker stopped (exit code ${code}) before the end`)));
    });
  } finally {
    signal.removeEventListener("abort", stop);
    const timer = setTimeout(() => void worker.terminate(), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
    ended = true;
    nudge();
    await feeding;
  }
}
