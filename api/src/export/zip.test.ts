import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { unzip } from "../../../test/integration/export/unzip.ts";
import { dosDateTime, zip } from "./zip.ts";

async function collect(entries: { name: string; pieces: string[] }[]): Promise<Buffer> {
  const out: Buffer[] = [];
  const source = entries.map((e) => ({
    name: e.name,
    data: (async function* () {
      for (const p of e.pieces) yield Buffer.from(p, "utf8");
    })(),
  }));
  for await (const b of zip(source, { mtime: new Date(2026, 11, 1, 16, 30, 10), level: 1 })) out.push(b);
  return Buffer.concat(out);
}

const dir = mkdtempSync(join(tmpdir(), "atrium-zip-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const lines = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag},${i},${i * 7919}\r\n`).join("");

describe("zip", () => {
  const entries = [
    { name: "audit-log.csv", pieces: [lines(20_000, "a"), "", lines(30_000, "b")] },
    { name: "empty.json", pieces: [] },
    { name: "réglages.json", pieces: ['{"name":"café"}\n'] },
  ];

  it("writes entries that our reader and Info-ZIP's unzip both read back, byte for byte, CRCs checked", async () => {
    const bytes = await collect(entries);
    const read = unzip(bytes);
    expect(read.map((e) => [e.name, e.method, e.data.toString("utf8")])).toEqual(
      entries.map((e) => [e.name, 8, e.pieces.join("")]),
    );
    const path = join(dir, "a.zip");
    writeFileSync(path, bytes);
    // -t tests every entry's CRC-32 and sizes against the data descriptors and the directory.
    expect(execFileSync("unzip", ["-t", path], { encoding: "utf8" })).toContain("No errors detected");
    expect(execFileSync("unzip", ["-p", path, "audit-log.csv"], { maxBuffer: 1 << 26 }).toString()).toBe(
      entries[0]?.pieces.join(""),
    );
  });

  it("deflates: a compressible file takes a fraction of its size", async () => {
    const bytes = await collect([entries[0] as (typeof entries)[number]]);
    expect(bytes.length).toBeLessThan((entries[0]?.pieces.join("").length ?? 0) / 2);
  });

  it("stops with the source's error instead of ending the archive", async () => {
    const broken = {
      name: "broken.csv",
      data: (async function* () {
        yield Buffer.from("a,b\r\n");
        throw new Error("the database went away");
      })(),
    };
    const run = async () => {
      for await (const _ of zip([broken], { mtime: new Date(0), level: 1 })) {
      }
    };
    await expect(run()).rejects.toThrow("the database went away");
  });

  it("dates entries in MS-DOS local time, to the even second", () => {
    expect(dosDateTime(new Date(2026, 11, 1, 16, 30, 11))).toEqual({
      date: ((2026 - 1980) << 9) | (12 << 5) | 1,
      time: (16 << 11) | (30 << 5) | 5,
    });
  });
});
