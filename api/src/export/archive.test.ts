import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { unzip } from "../../../test/integration/export/unzip.ts";
import { type ArchiveFile, withProgress, writeArchive } from "./archive.ts";
import { CHUNK_BYTES, type Manifest, manifest } from "./domain.ts";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** A file of `pieces` pieces of `records` lines each, not very compressible (hashes). */
const file = (name: string, pieces: number, records: number): ArchiveFile => ({
  name,
  async *content(count) {
    for (let p = 0; p < pieces; p++) {
      count(records);
      yield Array.from({ length: records }, (_, i) => `${sha(Buffer.from(`${name}:${p}:${i}`))}\n`).join("");
    }
  },
});

async function write(files: ArchiveFile[]) {
  const chunks: { seq: number; bytes: Uint8Array }[] = [];
  const result = await writeArchive({
    files,
    makeManifest: (written) => manifest({ kind: "org", subject: "acme", generatedAt: 0, files: written }),
    writeChunk: async (seq, bytes) => {
      chunks.push({ seq, bytes });
    },
    mtime: new Date(0),
  });
  return { result, chunks, zip: Buffer.concat(chunks.map((c) => c.bytes)) };
}

describe("writeArchive", () => {
  it("writes every file and a manifest whose sizes, hashes and counts match the files", async () => {
    const { result, zip } = await write([file("audit-log.csv", 50, 200), file("empty.json", 0, 0)]);
    const entries = unzip(zip);
    expect(entries.map((e) => e.name)).toEqual(["audit-log.csv", "empty.json", "manifest.json"]);
    const m = JSON.parse(entries[2]?.data.toString("utf8") ?? "") as Manifest;
    for (const f of m.files) {
      const data = entries.find((e) => e.name === f.name)?.data as Buffer;
      expect({ name: f.name, bytes: data.length, sha256: sha(data) }).toEqual({
        name: f.name,
        bytes: f.bytes,
        sha256: f.sha256,
      });
    }
    expect(m.counts).toEqual({ "audit-log": 10_000, empty: 0 });
    expect(entries[0]?.data.toString("utf8").split("\n").length).toBe(10_001);
    expect(result).toMatchObject({ bytes: zip.length, sha256: sha(zip) });
  });

  it("withProgress tells the job of every record, and reports after each piece", async () => {
    let done = 0;
    let reports = 0;
    const files = [file("members.csv", 3, 5), file("audit-log.csv", 2, 1)].map((f) =>
      withProgress(
        f,
        (n) => {
          done += n;
        },
        async () => {
          reports++;
        },
      ),
    );
    const { zip } = await write(files);
    expect({ done, reports }).toEqual({ done: 17, reports: 5 });
    const m = JSON.parse(unzip(zip)[2]?.data.toString("utf8") ?? "") as Manifest;
    expect(m.counts).toEqual({ members: 15, "audit-log": 2 });
  });

  it("cuts the archive into chunks of CHUNK_BYTES in order, the last smaller", async () => {
    const { chunks, result } = await write([file("big.csv", 100, 400)]); // ~2.6 MB of hashes, deflated > 1 MiB
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i));
    expect(chunks.slice(0, -1).every((c) => c.bytes.length === CHUNK_BYTES)).toBe(true);
    expect(chunks.at(-1)?.bytes.length).toBeLessThanOrEqual(CHUNK_BYTES);
    expect(result.chunks).toBe(chunks.length);
  });

  it("fails when a file's source fails, rather than writing a truncated archive", async () => {
    const broken: ArchiveFile = {
      name: "broken.csv",
      async *content() {
        yield "a,b\r\n";
        throw new Error("the database went away");
      },
    };
    await expect(write([file("ok.csv", 1, 1), broken])).rejects.toThrow("the database went away");
  });
});
