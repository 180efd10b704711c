// A streaming ZIP writer on node:zlib alone: each entry's local header first (sizes unknown yet,
// flag 3: they follow the data in a data descriptor), its data deflated by a zlib stream (on
// libuv's thread pool, not the event loop), CRC-32 by zlib.crc32 (native), then the central
// directory. It replaced yazl, whose CRC-32 is pure JavaScript: on a million-row audit log
// that loop alone was a second of the API's only thread (ADR 0019).
//
// No ZIP64: an entry or an archive past 4 GiB fails the export with a clear error rather than
// writing sizes that wrap (an audit log of 25 million rows, far beyond today's largest).
import { once } from "node:events";
import { crc32, createDeflateRaw } from "node:zlib";

/** An entry: its name and its data, deflated here. */
export type ZipEntry = { name: string; data: AsyncIterable<Buffer> };

const LIMIT = 0xffffffff;
/** Bit 3: sizes and CRC in a data descriptor after the data; bit 11: the name is UTF-8. */
const FLAGS = 0x0808;
const DEFLATE = 8;
/** Version 2.0: deflate and data descriptors. */
const VERSION_NEEDED = 20;
/** Made by UNIX (3), spec 6.3: the external attributes hold a mode. */
const VERSION_MADE_BY = (3 << 8) | 63;
/** -rw-rw-r--, a regular file, as yazl wrote it. */
const EXTERNAL_ATTRIBUTES = (0o100664 << 16) >>> 0;

type Written = { name: Buffer; crc: number; compressed: number; size: number; offset: number };

/** MS-DOS date and time, local time (as yazl and zip(1) write them), 2-second resolution. */
export function dosDateTime(d: Date): { date: number; time: number } {
  const year = Math.max(1980, d.getFullYear());
  return {
    date: ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | Math.floor(d.getSeconds() / 2),
  };
}

function localHeader(name: Buffer, when: { date: number; time: number }): Buffer {
  const b = Buffer.alloc(30);
  b.writeUInt32LE(0x04034b50, 0);
  b.writeUInt16LE(VERSION_NEEDED, 4);
  b.writeUInt16LE(FLAGS, 6);
  b.writeUInt16LE(DEFLATE, 8);
  b.writeUInt16LE(when.time, 10);
  b.writeUInt16LE(when.date, 12);
  // CRC and sizes (14..25) stay 0: the data descriptor has them.
  b.writeUInt16LE(name.length, 26);
  return Buffer.concat([b, name]);
}

function dataDescriptor(e: Written): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(0x08074b50, 0);
  b.writeUInt32LE(e.crc, 4);
  b.writeUInt32LE(e.compressed, 8);
  b.writeUInt32LE(e.size, 12);
  return b;
}

function centralEntry(e: Written, when: { date: number; time: number }): Buffer {
  const b = Buffer.alloc(46);
  b.writeUInt32LE(0x02014b50, 0);
  b.writeUInt16LE(VERSION_MADE_BY, 4);
  b.writeUInt16LE(VERSION_NEEDED, 6);
  b.writeUInt16LE(FLAGS, 8);
  b.writeUInt16LE(DEFLATE, 10);
  b.writeUInt16LE(when.time, 12);
  b.writeUInt16LE(when.date, 14);
  b.writeUInt32LE(e.crc, 16);
  b.writeUInt32LE(e.compressed, 20);
  b.writeUInt32LE(e.size, 24);
  b.writeUInt16LE(e.name.length, 28);
  // Extra, comment, disk, internal attributes: 0.
  b.writeUInt32LE(EXTERNAL_ATTRIBUTES, 38);
  b.writeUInt32LE(e.offset, 42);
  return Buffer.concat([b, e.name]);
}

function endOfCentralDirectory(count: number, size: number, offset: number): Buffer {
  const b = Buffer.alloc(22);
  b.writeUInt32LE(0x06054b50, 0);
  b.writeUInt16LE(count, 8);
  b.writeUInt16LE(count, 10);
  b.writeUInt32LE(size, 12);
  b.writeUInt32LE(offset, 16);
  return b;
}

const tooBig = (what: string) => new Error(`${what} is past 4 GiB, which this archive format (no ZIP64) cannot hold`);

/**
 * Deflates `data` (level `level`) piece by piece: each piece is written to the zlib stream (on
 * libuv's pool) while the next one is read (on the export's worker, a page of SQLite), and what
 * zlib produced is yielded before the piece after is written, so no more than two pieces and
 * their output are held.
 */
async function* deflated(
  data: AsyncIterable<Buffer>,
  level: number,
  seen: (piece: Buffer) => void,
): AsyncGenerator<Buffer> {
  const deflate = createDeflateRaw({ level, chunkSize: 64 * 1024 });
  const out: Buffer[] = [];
  deflate.on("data", (b: Buffer) => out.push(b));
  const ended = once(deflate, "end");
  ended.catch(() => {});
  const write = (piece: Buffer) =>
    new Promise<void>((resolve, reject) => deflate.write(piece, (error) => (error ? reject(error) : resolve())));
  let writing: Promise<void> | undefined;
  try {
    for await (const piece of data) {
      if (!piece.length) continue;
      seen(piece);
      if (writing) await writing;
      yield* out.splice(0);
      writing = write(piece);
      // Its failure is awaited above or below; until then it must not count as unhandled.
      writing.catch(() => {});
    }
    if (writing) await writing;
    deflate.end();
    await ended;
    yield* out.splice(0);
  } finally {
    deflate.destroy();
  }
}

/** The ZIP of `entries`, in order, as a stream of buffers. */
export async function* zip(
  entries: Iterable<ZipEntry>,
  options: { mtime: Date; level: number },
): AsyncGenerator<Buffer> {
  const when = dosDateTime(options.mtime);
  const written: Written[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, "utf8");
    const header = localHeader(name, when);
    const e: Written = { name, crc: 0, compressed: 0, size: 0, offset };
    offset += header.length;
    yield header;
    const pieces = deflated(entry.data, options.level, (piece) => {
      e.crc = crc32(piece, e.crc);
      e.size += piece.length;
    });
    for await (const b of pieces) {
      e.compressed += b.length;
      offset += b.length;
      yield b;
    }
    if (e.size > LIMIT || e.compressed > LIMIT) throw tooBig(entry.name);
    const descriptor = dataDescriptor(e);
    offset += descriptor.length;
    yield descriptor;
    written.push(e);
  }
  if (offset > LIMIT) throw tooBig("The archive");
  const directory = Buffer.concat(written.map((e) => centralEntry(e, when)));
  if (written.length > 0xffff) throw new Error("more than 65535 files in one archive");
  yield directory;
  yield endOfCentralDirectory(written.length, directory.length, offset);
}
