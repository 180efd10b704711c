// The SQLite half of the audit-log reader (reader.ts), on a worker thread: the whole of
// `audit-log.csv` (and of `usage.csv`, the same way with simpler lines) is made here, from its
// own read-only better-sqlite3 connection to deflated bytes. It reads keyset pages, writes the
// CSV lines, hashes them (SHA-256 for the manifest, CRC-32 for the ZIP), deflates them (a zlib
// stream of its own, on libuv's pool, while the next page is read) and posts each page's
// deflated bytes as one buffer (moved, not copied). The API's thread sees a tenth of the bytes
// and none of the work: on a busy replica it answers requests (ADR 0019). A page is read only when the reader has credit for it (`more`
// messages), so at most a page or two wait in memory whatever the table's size. Plain
// TypeScript that Node runs as is (erasable types only, no path aliases, no imports of the
// API's modules): the worker is not bundled or transformed, in tests or in the image.
import { createHash } from "node:crypto";
import { once } from "node:events";
import { createRequire } from "node:module";
import { setPriority } from "node:os";
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { crc32, createDeflateRaw } from "node:zlib";
import { plainLine } from "./audit-line.ts";

/**
 * The reader's nice value. On Linux a nice value is a thread's own (setpriority on the calling
 * thread): this one yields the CPU to the API's thread, which answers requests, whenever both
 * want it; a background job may take longer on a busy replica, requests should not.
 */
const READER_NICE = 10;

/** What reader.ts passes: the file, the statements, their scope value, the CSV's header line. */
export type AuditWorkerData = {
  path: string;
  timeoutMs: number;
  /**
   * Page statements: (value, limit) and (value, ...the last row's `key`, limit); columns: the
   * line's head (`lines`) or the audit line's first nine cells (see plainLine), detail, rowid.
   */
  first: string;
  next: string;
  /**
   * How a page row becomes a line: "audit" through plainLine, or SQLite's AUDIT_LINE_SQL (`line`,
   * by rowid) when it does not take it; "usage": the first column is the line but its last cell,
   * the second that cell, a number, written as JavaScript (and billing's csvCell) writes it.
   */
  lines: "audit" | "usage";
  /** (rowid) → the whole audit line written by SQLite: rows plainLine does not take. */
  line?: string;
  /** (rowid) → the keyset parameters of `next` that follow the row. */
  key: string;
  value: string;
  limit: number;
  /** The header line, CRLF included. */
  header: string;
  level: number;
};

/** The file once written: what the ZIP's data descriptor and the manifest say of it. */
export type AuditWorkerSummary = { size: number; crc: number; sha256: string };

/**
 * Worker → reader: a page's deflated bytes (maybe none yet: zlib keeps some back) and its
 * records, the end with the file's summary, or why it stopped (as text: better-sqlite3's
 * SqliteError crosses threads as a bare `{ code }`, its message lost).
 */
export type AuditWorkerMessage =
  | { deflated: Uint8Array; records: number }
  | ({ end: true } & AuditWorkerSummary)
  | { error: string };

type Statement = {
  raw(on: boolean): Statement;
  pluck(on: boolean): Statement;
  all(...params: unknown[]): unknown[];
  get(...params: unknown[]): unknown;
};
type Connection = { prepare(sql: string): Statement; close(): void };
/** A page row: the line or its head (see `lines`), detail or the last cell, rowid. */
type PageRow = [string | null, string | number | null, number | bigint];

const data = workerData as AuditWorkerData | undefined;
const port = parentPort;
// Imported for its types elsewhere: only the thread reader.ts starts (its workerData) writes.
if (!isMainThread && port && data?.first) {
  try {
    setPriority(READER_NICE);
  } catch {
    // Not permitted (or not this platform): the reader runs at the API's priority.
  }
  let credit = 0;
  let wake: (() => void) | undefined;
  port.on("message", (more: number) => {
    credit += more;
    wake?.();
    wake = undefined;
  });
  const post = async (message: AuditWorkerMessage, transfer: ArrayBuffer[] = []) => {
    while (credit <= 0)
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    credit--;
    port.postMessage(message, transfer);
  };
  let connection: Connection | undefined;
  write(
    data,
    (c) => {
      connection = c;
    },
    post,
  )
    .catch((error) => {
      const e = error as { message?: unknown; code?: unknown };
      port.postMessage({ error: `${e.message ?? error} (${e.code ?? "no code"})` } satisfies AuditWorkerMessage);
    })
    .finally(() => {
      connection?.close();
      port.close();
    });
}

async function write(
  d: AuditWorkerData,
  opened: (c: Connection) => void,
  post: (m: AuditWorkerMessage, transfer?: ArrayBuffer[]) => Promise<void>,
): Promise<void> {
  const BetterSqlite3 = createRequire(import.meta.url)("better-sqlite3") as new (
    path: string,
    options: { readonly: boolean; timeout: number; fileMustExist: boolean },
  ) => Connection;
  const connection = new BetterSqlite3(d.path, { readonly: true, timeout: d.timeoutMs, fileMustExist: true });
  opened(connection);
  const first = connection.prepare(d.first).raw(true);
  const next = connection.prepare(d.next).raw(true);
  const line = d.line ? connection.prepare(d.line).pluck(true) : undefined;
  const key = connection.prepare(d.key).raw(true);

  const hash = createHash("sha256");
  let crc = 0;
  let size = 0;
  // One zlib stream for the file (its pool thread deflates a page while this one reads the next).
  // A page's deflate on its own (deflateRawSync, here at this thread's nice value) was tried: the
  // API's RSS grew 40 MB more, a zlib state allocated and dropped per page.
  const deflate = createDeflateRaw({ level: d.level, chunkSize: 256 * 1024 });
  let out: Buffer[] = [];
  let outBytes = 0;
  deflate.on("data", (b: Buffer) => {
    out.push(b);
    outBytes += b.length;
  });
  const ended = once(deflate, "end");
  ended.catch(() => {});
  /** What zlib has produced, as a buffer of its own to be moved (zlib's are views of one it reuses). */
  const take = () => {
    const taken = new Uint8Array(outBytes);
    let at = 0;
    for (const b of out) {
      taken.set(b, at);
      at += b.length;
    }
    out = [];
    outBytes = 0;
    return taken;
  };
  const feed = (text: string) => {
    const bytes = Buffer.from(text, "utf8");
    hash.update(bytes);
    crc = crc32(bytes, crc);
    size += bytes.length;
    return new Promise<void>((resolve, reject) => deflate.write(bytes, (e) => (e ? reject(e) : resolve())));
  };
  const send = (records: number) => {
    const bytes = take();
    return post({ deflated: bytes, records }, bytes.length ? [bytes.buffer] : []);
  };

  try {
    // What zlib made of the previous page is posted before this page is fed to it.
    let deflating = feed(d.header);
    let records = 0;
    let after: unknown[] | undefined;
    for (;;) {
      const rows = (after ? next.all(d.value, ...after, d.limit) : first.all(d.value, d.limit)) as PageRow[];
      let text = "";
      if (d.lines === "usage") for (const [head, value] of rows) text += `${head},${value}\r\n`;
      else
        for (const [prefix, detail, rowid] of rows)
          text += `${plainLine(prefix, detail as string | null) ?? (line?.get(rowid) as string)}\r\n`;
      await deflating;
      await send(records);
      deflating = text ? feed(text) : Promise.resolve();
      records = rows.length;
      const last = rows[rows.length - 1];
      if (!last || rows.length < d.limit) break;
      after = key.get(last[2]) as unknown[];
    }
    await deflating;
    deflate.end();
    await ended;
    await send(records);
    await post({ end: true, size, crc, sha256: hash.digest("hex") });
  } finally {
    deflate.destroy();
  }
}
