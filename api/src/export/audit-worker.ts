// The SQLite half of the audit-log reader (reader.ts), on a worker thread: its own read-only
// better-sqlite3 connection runs the keyset pages, whose SELECT writes each CSV line, and posts
// each page as one UTF-8 buffer (moved, not copied). better-sqlite3 is synchronous: on the API's thread a million-row
// audit log was seconds during which no request was answered (ADR 0019). A page is read only
// when the reader has credit for it (`more` messages), so at most a page or two wait in
// memory whatever the table's size. Plain TypeScript that Node runs as is (erasable types
// only, no path aliases): the worker is not bundled or transformed, in tests or in the image.
import { createRequire } from "node:module";
import { setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";

/**
 * The reader's nice value. On Linux a nice value is a thread's own (setpriority on the calling
 * thread): this one yields the CPU to the API's thread, which answers requests, whenever both
 * want it; a background job may take longer on a busy replica, requests should not.
 */
const READER_NICE = 10;

/** What reader.ts passes: the file, the two statements and their scope value. */
export type AuditWorkerData = {
  path: string;
  timeoutMs: number;
  first: string;
  next: string;
  value: string;
  limit: number;
};

/**
 * Worker → reader: a page of lines (each ended by CRLF, UTF-8), the end, or why it stopped (as text:
 * better-sqlite3's SqliteError crosses threads as a bare `{ code }`, its message lost).
 */
export type AuditWorkerMessage = { lines: Uint8Array; count: number } | { end: true } | { error: string };

type Statement = { raw(on: boolean): Statement; all(...params: unknown[]): unknown[] };
type Connection = { prepare(sql: string): Statement; close(): void };

const data = workerData as AuditWorkerData;
const port = parentPort;
if (!port) throw new Error("audit-worker.ts runs as a worker thread");
try {
  setPriority(READER_NICE);
} catch {
  // Not permitted (or not this platform): the reader runs at the API's priority.
}

const BetterSqlite3 = createRequire(import.meta.url)("better-sqlite3") as new (
  path: string,
  options: { readonly: boolean; timeout: number; fileMustExist: boolean },
) => Connection;
let connection: Connection | undefined;
let statements: { first: Statement; next: Statement } | undefined;
let after: unknown[] | undefined;
let credit = 0;
let ended = false;

/** Reads as many pages as there is credit for; the first call opens the connection. */
function read(): void {
  connection ??= new BetterSqlite3(data.path, { readonly: true, timeout: data.timeoutMs, fileMustExist: true });
  const open = connection;
  statements ??= { first: open.prepare(data.first).raw(true), next: open.prepare(data.next).raw(true) };
  const { first, next } = statements;
  while (credit > 0 && !ended) {
    credit--;
    const rows = (
      after ? next.all(data.value, after[1], after[1], after[2], data.limit) : first.all(data.value, data.limit)
    ) as [string, unknown, unknown][];
    if (rows.length) {
      let text = "";
      for (const r of rows) text += `${r[0]}\r\n`;
      // Encoded here and moved, not copied: the API's thread never holds the page as a string.
      const lines = new TextEncoder().encode(text);
      port?.postMessage({ lines, count: rows.length } satisfies AuditWorkerMessage, [lines.buffer]);
    }
    if (rows.length < data.limit) {
      ended = true;
      open.close();
      port?.postMessage({ end: true } satisfies AuditWorkerMessage);
      port?.close();
      return;
    }
    after = rows.at(-1);
  }
}

port.on("message", (more: number) => {
  credit += more;
  try {
    read();
  } catch (error) {
    ended = true;
    connection?.close();
    const e = error as { message?: unknown; code?: unknown };
    port?.postMessage({ error: `${e.message ?? error} (${e.code ?? "no code"})` } satisfies AuditWorkerMessage);
    port?.close();
  }
});
