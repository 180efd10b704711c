// The archive as a stream: files produced piece by piece (a batch of rows each), hashed and
// counted as they pass, deflated one entry after the other (zip.ts), and cut into chunks the
// caller stores. Nothing holds more than a batch of rows and a chunk, whatever the size; the
// sink's awaited writes hold the readers back (backpressure through the async iterators).
import { createHash, type Hash } from "node:crypto";
import { CHUNK_BYTES, type Manifest, type ManifestFile } from "./domain.ts";
import { type ZipEntry, zip } from "./zip.ts";

/** One file of the archive: its pieces of text (or its UTF-8) in order; `records` counts what it holds. */
export type ArchiveFile = TextFile;

export type TextFile = {
  name: string;
  /** Pieces of text (or its UTF-8); call `count(n)` for the records each piece holds. */
  content(count: (records: number) => void): AsyncIterable<string | Uint8Array>;
};

/**
 * The file with `counted(n)` told of its records as they pass, and `after()` awaited after each
 * piece (the export's progress and heartbeat).
 */
export function withProgress(
  file: ArchiveFile,
  counted: (records: number) => void,
  after: () => Promise<void>,
): ArchiveFile {
  return {
    name: file.name,
    async *content(count) {
      for await (const piece of file.content((n) => {
        count(n);
        counted(n);
      })) {
        yield piece;
        await after();
      }
    },
  };
}

export type ArchiveResult = { bytes: number; sha256: string; files: ManifestFile[]; chunks: number };

/**
 * JSON compresses about as well at level 1 as at 6 for a fraction of the CPU: an export is
 * written once and downloaded a few times, so the deflate time is what matters.
 */
export const COMPRESSION_LEVEL = 1;

/**
 * Writes files, then `manifest.json` (made by `makeManifest` from what was written), as one ZIP
 * into `writeChunk(seq, bytes)`, in order, each chunk CHUNK_BYTES but the last.
 */
export async function writeArchive(options: {
  files: readonly ArchiveFile[];
  makeManifest: (files: ManifestFile[]) => Manifest;
  writeChunk: (seq: number, bytes: Uint8Array<ArrayBuffer>) => Promise<void>;
  /** Called when a file starts (progress). */
  onFile?: (name: string) => void;
  mtime: Date;
  signal?: AbortSignal;
}): Promise<ArchiveResult> {
  const { signal } = options;
  const written: ManifestFile[] = [];
  const entries = options.files.map(
    (file): ZipEntry => ({
      name: file.name,
      data: {
        [Symbol.asyncIterator]: () => {
          options.onFile?.(file.name);
          return hashed(file, written, signal);
        },
      },
    }),
  );
  // Its turn comes after every other file has ended: their hashes and counts are known by then.
  entries.push({
    name: "manifest.json",
    data: {
      async *[Symbol.asyncIterator]() {
        options.onFile?.("manifest.json");
        yield Buffer.from(`${JSON.stringify(options.makeManifest(written), null, 2)}\n`);
      },
    },
  });

  const total = createHash("sha256");
  let bytes = 0;
  let seq = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (size: number) => {
    const all = Buffer.concat(pending, pendingBytes);
    // A copy of its own: the row keeps it, not the stream's larger buffers.
    const chunk = new Uint8Array(size);
    chunk.set(all.subarray(0, size));
    pending = size < all.length ? [all.subarray(size)] : [];
    pendingBytes = all.length - size;
    await options.writeChunk(seq++, chunk);
  };
  for await (const data of zip(entries, { mtime: options.mtime, level: COMPRESSION_LEVEL })) {
    if (signal?.aborted) throw signal.reason;
    total.update(data);
    bytes += data.length;
    pending.push(data);
    pendingBytes += data.length;
    while (pendingBytes >= CHUNK_BYTES) await flush(CHUNK_BYTES);
  }
  if (pendingBytes > 0) await flush(pendingBytes);
  return { bytes, sha256: total.digest("hex"), files: written, chunks: seq };
}

async function* hashed(
  file: TextFile,
  written: ManifestFile[],
  signal: AbortSignal | undefined,
): AsyncGenerator<Buffer> {
  const hash: Hash = createHash("sha256");
  let bytes = 0;
  let records = 0;
  for await (const piece of file.content((n) => {
    records += n;
  })) {
    if (signal?.aborted) throw signal.reason;
    if (!piece) continue;
    const buffer =
      typeof piece === "string"
        ? Buffer.from(piece, "utf8")
        : Buffer.from(piece.buffer, piece.byteOffset, piece.length);
    hash.update(buffer);
    bytes += buffer.length;
    yield buffer;
    // A turn for the requests waiting on the event loop between two pages (the reads are synchronous on SQLite).
    await new Promise((resolve) => setImmediate(resolve));
  }
  written.push({ name: file.name, records, bytes, sha256: hash.digest("hex") });
}
