import { deflateSync } from "node:zlib";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { ApiError } from "../http/errors.ts";
import { describeOther, sniffImageType, wholeImageProblem } from "./image.ts";
import { declaredLogoType, LOGO_SIZE, processLogo } from "./logo.ts";

const solid = (format: "png" | "jpeg" | "webp", width = 40, height = 20) =>
  sharp({ create: { width, height, channels: 3, background: "#3366cc" } })
    .toFormat(format)
    .toBuffer();

/** A PNG chunk with its CRC (zlib's crc32). */
async function pngChunk(type: string, data: Buffer): Promise<Buffer> {
  const { crc32 } = await import("node:zlib");
  const head = Buffer.alloc(4);
  head.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([head, body, crc]);
}

/** A grey PNG of a few kilobytes that declares width × height pixels. */
async function declaredPng(width: number, height: number): Promise<Buffer> {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth; colour type 0 (grey), no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    await pngChunk("IHDR", ihdr),
    await pngChunk("IDAT", deflateSync(Buffer.alloc((width + 1) * 64))),
    await pngChunk("IEND", Buffer.alloc(0)),
  ]);
}

const refusal = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiError) return { status: e.status, message: e.message };
    throw e;
  }
  throw new Error("accepted");
};

describe("the type of an upload, from its bytes", () => {
  it("knows PNG, JPEG and WebP by their magic bytes and nothing else", async () => {
    expect(sniffImageType(await solid("png"))).toBe("image/png");
    expect(sniffImageType(await solid("jpeg"))).toBe("image/jpeg");
    expect(sniffImageType(await solid("webp"))).toBe("image/webp");
    expect(sniffImageType(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBeUndefined();
    expect(sniffImageType(Buffer.from("GIF89a"))).toBeUndefined();
    expect(sniffImageType(Buffer.from("RIFF0000WAVE"))).toBeUndefined();
  });

  it("says what other bytes look like", () => {
    expect(describeOther(Buffer.from('<?xml version="1.0"?>\n<svg onload="alert(1)"/>'))).toBe("SVG");
    expect(describeOther(Buffer.from("<html><script>"))).toBe("HTML or XML text");
    expect(describeOther(Buffer.from("GIF89a..."))).toBe("GIF");
    expect(describeOther(Buffer.from([0x50, 0x4b, 0x03, 0x04, 0]))).toBe("a ZIP archive");
  });

  it("accepts exactly one whole image and refuses bytes after its end (polyglots)", async () => {
    for (const format of ["png", "jpeg", "webp"] as const) {
      const image = await solid(format);
      const type = sniffImageType(image);
      if (!type) throw new Error(format);
      expect(wholeImageProblem(type, image), format).toBeUndefined();
      const zip = Buffer.concat([image, Buffer.from([0x50, 0x4b, 0x03, 0x04]), Buffer.from("payload")]);
      expect(wholeImageProblem(type, zip), format).toMatch(/11 bytes after the end of its .* image/);
      expect(wholeImageProblem(type, image.subarray(0, image.length - 6)), format).toMatch(/not a well-formed/);
    }
  });

  it("walks a progressive JPEG's several scans to its end", async () => {
    const progressive = await sharp({ create: { width: 64, height: 64, channels: 3, background: "#808080" } })
      .jpeg({ progressive: true })
      .toBuffer();
    expect(wholeImageProblem("image/jpeg", progressive)).toBeUndefined();
    expect(wholeImageProblem("image/jpeg", Buffer.concat([progressive, Buffer.from("<html>")]))).toMatch(
      /6 bytes after/,
    );
  });
});

describe("processLogo", () => {
  it("re-encodes to a square PNG without metadata; the hash follows the content", async () => {
    const tagged = await sharp({ create: { width: 300, height: 100, channels: 3, background: "red" } })
      .withExif({ IFD0: { ImageDescription: "secret-exif-comment" } })
      .jpeg()
      .toBuffer();
    expect(tagged.includes("secret-exif-comment")).toBe(true);
    const logo = await processLogo("image/jpeg", tagged);
    expect(Buffer.from(logo.bytes).includes("secret-exif-comment")).toBe(false);
    const meta = await sharp(logo.bytes).metadata();
    expect(meta).toMatchObject({ format: "png", width: LOGO_SIZE, height: LOGO_SIZE });
    expect(meta.exif).toBeUndefined();
    const other = await processLogo("image/png", await solid("png"));
    expect(other.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(other.hash).not.toBe(logo.hash);
  });

  it("refuses a type other than declared, other formats, and decompression bombs, with the reason", async () => {
    const png = await solid("png");
    expect(await refusal(processLogo("image/jpeg", png))).toEqual({
      status: 422,
      message: "The file's bytes are a PNG image, but it was declared as image/jpeg",
    });
    expect((await refusal(processLogo("image/png", Buffer.from("<svg/>")))).message).toContain("look like SVG");
    expect((await refusal(processLogo("image/png", Buffer.alloc(0)))).message).toContain("empty");
    const bomb = await declaredPng(50_000, 50_000);
    expect(bomb.length).toBeLessThan(100_000);
    expect(await refusal(processLogo("image/png", bomb))).toEqual({
      status: 422,
      message: "The image declares 50000×50000 pixels; a logo may have at most 16,777,216 (e.g. 4096×4096)",
    });
  });

  it("takes only PNG, JPEG and WebP as the declared type", () => {
    expect(declaredLogoType("image/PNG; charset=binary")).toBe("image/png");
    for (const t of ["image/svg+xml", "image/gif", "application/octet-stream", undefined]) {
      let status = 0;
      try {
        declaredLogoType(t);
      } catch (e) {
        status = (e as ApiError).status;
      }
      expect(status, String(t)).toBe(415);
    }
  });
});
