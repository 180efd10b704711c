// One export, written on a worker thread (ADR 0019): the big tables read through the worker's own
// connection (tables.ts), every file hashed and deflated, the ZIP cut into chunks and stored,
// progress and heartbeat written, all here. The API's thread (thread.ts) claims the job, makes
// the files only it can (members, roles and apps are in its watch caches; the small tables go
// through billing's views), hands them over a page at a time when this thread asks for the next
// one, and finishes the job with what this thread reports. A busy replica's thread then answers
// requests while an export runs, and the export does not wait behind them.
//
// Plain TypeScript that Node runs as is (erasable types only, no path aliases, light imports):
// the worker is not bundled or transformed, in tests or in the image.
import { setPriority } from "node:os";
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { type ArchiveResult, type TextFile, withProgress, writeArchive } from "./archive.ts";
import { type ExportKind, HEARTBEAT_MS, manifest } from "./domain.ts";
import { type Attempt, openStore, type Progress, type Store, type StoreTarget, type TablePlan } from "./tables.ts";

/**
 * The export's nice value. On Linux a nice value is a thread's own (setpriority on the calling
 * thread): this one yields the CPU to the API's thread, which answers requests, whenever both
 * want it; a background job may take longer on a busy replica, requests should not.
 */
const EXPORT_NICE = 10;

/** A file of the archive, in order: made on the API's thread and pulled, or read here from a table. */
export type WorkerFile = { name: string; from: "api" } | { name: string; from: "table"; plan: TablePlan };

export type ExportWorkerData = {
  target: StoreTarget;
  attempt: Attempt;
  /** The replica's clock minus the wall clock (its clock may be injected: tests, replicas that disagree). */
  skewMs: number;
  kind: ExportKind;
  /** The organization's name, or the person's email. */
  subject: string;
  generatedAt: number;
  files: WorkerFile[];
  /** Records of the files the API's thread makes (counted there); the tables' are counted here. */
  baseTotal: number;
};

/**
 * API's thread → worker: a piece of a file it makes (the records it holds), the file's end, or
 * its failure, in archive order, each on credit (see domain.ts's PREFETCH); or stop.
 */
export type ToWorker =
  | { name: string; piece: string | Uint8Array; records: number }
  | { name: string; end: true }
  | { name: string; error: string }
  | { stop: string };

/** What the API's thread stores when the archive is written (the job row's size and hash, the log's figures). */
export type WorkerResult = Omit<ArchiveResult, "files"> & { records: number; startedAt: number };

/**
 * Worker → API's thread: credit for more pieces; progress (with the startedAt last written,
 * which the API's thread's own conditional writes need); the end, or why it failed.
 */
export type FromWorker =
  | { credit: number }
  | { progress: Progress; startedAt: number }
  | { done: WorkerResult }
  | { failed: string; startedAt: number };

const data = workerData as ExportWorkerData | undefined;
const port = parentPort;
// Imported for its types elsewhere: only the thread thread.ts starts (its workerData) writes.
if (!isMainThread && port && data?.attempt) {
  try {
    setPriority(EXPORT_NICE);
  } catch {
    // Not permitted (or not this platform): the export runs at the API's priority.
  }
  const attempt = { ...data.attempt };
  const received: Exclude<ToWorker, { stop: string }>[] = [];
  let wake: (() => void) | undefined;
  const stop = new AbortController();
  port.on("message", (m: ToWorker) => {
    if ("stop" in m) stop.abort(new Error(m.stop));
    else received.push(m);
    wake?.();
    wake = undefined;
  });
  /**
   * The next message about `name` from the API's thread (they come in archive order), and credit
   * for one more. The API's thread starts with PREFETCH credits, so it makes its first pieces
   * while this thread starts, opens its connection and counts.
   */
  const ask = async (name: string): Promise<ToWorker> => {
    for (;;) {
      if (stop.signal.aborted) throw stop.signal.reason;
      const m = received.shift();
      if (m) {
        if (m.name !== name) throw new Error(`expected a piece of ${name}, got one of ${m.name}`);
        port.postMessage({ credit: 1 } satisfies FromWorker);
        return m;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  };
  write(data, attempt, ask, stop.signal, (m) => port.postMessage(m))
    .then((result) => port.postMessage({ done: result } satisfies FromWorker))
    .catch((error) => {
      const e = error as { message?: unknown; code?: unknown };
      // As text: better-sqlite3's SqliteError crosses threads as a bare `{ code }`, its message lost.
      const message = `${e.message ?? error}${e.code ? ` (${e.code})` : ""}`;
      port.postMessage({ failed: message, startedAt: attempt.startedAt } satisfies FromWorker);
    })
    .finally(() => port.close());
}

const notOurs = () => new Error("the job is no longer running on this replica");

/** A file the API's thread makes, its pieces as they come (no more than domain.ts's PREFETCH wait). */
const pulled = (name: string, ask: (name: string) => Promise<ToWorker>): TextFile => ({
  name,
  async *content(count) {
    for (;;) {
      const m = await ask(name);
      if ("end" in m) return;
      if ("error" in m) throw new Error(m.error);
      if (!("piece" in m)) return;
      count(m.records);
      yield m.piece;
    }
  },
});

/** A table's CSV read here: its header, then a keyset page at a time. */
const tableFile = (store: Store, plan: TablePlan): TextFile => ({
  name: plan.name,
  async *content(count) {
    yield plan.header;
    for await (const page of store.pages(plan)) {
      count(page.records);
      yield page.text;
    }
  },
});

async function write(
  d: ExportWorkerData,
  attempt: Attempt,
  ask: (name: string) => Promise<ToWorker>,
  signal: AbortSignal,
  post: (m: FromWorker) => void,
): Promise<WorkerResult> {
  const now = () => Date.now() + d.skewMs;
  const store = await openStore(d.target);
  try {
    let total = d.baseTotal;
    for (const f of d.files) if (f.from === "table") total += await store.count(f.plan);
    let step = "starting";
    let done = 0;
    let reported = 0;
    const progress = (): Progress => ({ step, done, total: Math.max(total, done) });
    // Progress and heartbeat in one conditional write, at most every second: a job another
    // replica took back (after this one went silent) has another startedAt and is no longer ours.
    const report = async (force = false) => {
      if (signal.aborted) throw signal.reason;
      const t = now();
      if (!force && t - reported < 1000) return;
      reported = t;
      const beat = t - attempt.startedAt >= HEARTBEAT_MS ? t : undefined;
      if (!(await store.report(attempt, progress(), beat))) throw notOurs();
      if (beat !== undefined) attempt.startedAt = beat;
      post({ progress: progress(), startedAt: attempt.startedAt });
    };
    await report(true);
    // A previous attempt's chunks (a restart after a crash) go: the archive is written from the start.
    await store.clear(attempt.id);
    const files = d.files.map((f) =>
      withProgress(
        f.from === "table" ? tableFile(store, f.plan) : pulled(f.name, ask),
        (n) => {
          done += n;
        },
        () => report(),
      ),
    );
    const result = await writeArchive({
      files,
      makeManifest: (written) =>
        manifest({ kind: d.kind, subject: d.subject, generatedAt: d.generatedAt, files: written }),
      mtime: new Date(d.generatedAt),
      signal,
      onFile: (name) => {
        step = name;
      },
      // Each chunk with a check that the job is still this attempt's, in one transaction: a
      // replica that went silent and came back never writes into the archive of the attempt that
      // replaced it.
      writeChunk: async (seq, bytes) => {
        if (signal.aborted) throw signal.reason;
        if (!(await store.chunk(attempt, progress(), seq, bytes))) throw notOurs();
      },
    });
    return {
      bytes: result.bytes,
      sha256: result.sha256,
      chunks: result.chunks,
      records: done,
      startedAt: attempt.startedAt,
    };
  } finally {
    await store.close();
  }
}
