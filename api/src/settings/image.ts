// What an uploaded logo is, decided from its bytes alone: never from a file name or a
// Content-Type, which the sender chooses. Pure, so every case is a unit test (image.test.ts).
//
// Only PNG, JPEG and WebP pass, and only as one whole image: bytes after the image's end are
// refused. That is where polyglots ride (a ZIP or JAR appended to an image, as in GIFAR; HTML
// after IEND), and where decoders disagree about what the file is. Payloads inside an image's
// own metadata (a PNG text chunk, a JPEG comment or EXIF) are accepted: the logo is decoded
// and re-encoded, so none of them survives into what the API serves (logo.ts).

export const LOGO_TYPES = ["image/png", "image/jpeg", "image/webp"] as const;
export type LogoType = (typeof LOGO_TYPES)[number];

const NAMES: Record<LogoType, string> = { "image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WebP" };
export const typeName = (t: LogoType) => NAMES[t];

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const startsWith = (b: Uint8Array, prefix: readonly number[], at = 0) => prefix.every((x, i) => b[at + i] === x);
const ascii = (b: Uint8Array, from: number, to: number) => String.fromCharCode(...b.subarray(from, to));

/** The image type its magic bytes say, or undefined for anything else. */
export function sniffImageType(b: Uint8Array): LogoType | undefined {
  if (startsWith(b, PNG_SIGNATURE)) return "image/png";
  if (startsWith(b, [0xff, 0xd8, 0xff])) return "image/jpeg";
  if (b.length >= 12 && ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 12) === "WEBP") return "image/webp";
  return undefined;
}

/** A few words on what bytes that are not an accepted image look like, for the error message. */
export function describeOther(b: Uint8Array): string {
  const head = new TextDecoder("utf-8", { fatal: false }).decode(b.subarray(0, 512)).trimStart().toLowerCase();
  if (/^(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*(<!doctype svg|<svg)/.test(head)) return "SVG";
  if (head.startsWith("<")) return "HTML or XML text";
  if (ascii(b, 0, 4) === "GIF8") return "GIF";
  if (startsWith(b, [0x50, 0x4b, 0x03, 0x04])) return "a ZIP archive";
  if (head.startsWith("%pdf")) return "PDF";
  return "an unknown format";
}

/** Where the image ends by its own structure, or a reason it is not well formed. */
export type Extent = { end: number } | { malformed: string };

const u32be = (b: Uint8Array, at: number) =>
  (((b[at] as number) << 24) >>> 0) +
  ((b[at + 1] as number) << 16) +
  ((b[at + 2] as number) << 8) +
  (b[at + 3] as number);
const u32le = (b: Uint8Array, at: number) =>
  u32be(Uint8Array.of(b[at + 3] as number, b[at + 2] as number, b[at + 1] as number, b[at] as number), 0);

/** PNG: the signature, then chunks (length, type, data, CRC) up to and including IEND. */
function pngExtent(b: Uint8Array): Extent {
  let at = 8;
  while (at + 12 <= b.length) {
    const length = u32be(b, at);
    const type = ascii(b, at + 4, at + 8);
    const next = at + 12 + length;
    if (next > b.length) return { malformed: `its ${type} chunk runs past the end of the file` };
    if (type === "IEND") return { end: next };
    at = next;
  }
  return { malformed: "it has no IEND chunk (truncated)" };
}

/** RIFF: "RIFF", the size of what follows (little-endian), "WEBP", chunks; padded to even. */
function webpExtent(b: Uint8Array): Extent {
  const size = u32le(b, 4);
  const end = 8 + size + (size % 2);
  if (end > b.length) return { malformed: "its RIFF size runs past the end of the file (truncated)" };
  return { end };
}

/**
 * JPEG: markers from SOI to EOI. Segments carry a length; after SOS comes entropy-coded data,
 * in which 0xFF is followed by 0x00 (a stuffed byte) or a restart marker, so the next other
 * marker (DHT, another SOS of a progressive JPEG, EOI) is found by scanning for it.
 */
function jpegExtent(b: Uint8Array): Extent {
  let at = 2;
  while (at < b.length) {
    if (b[at] !== 0xff) return { malformed: `a marker was expected at byte ${at}` };
    while (b[at] === 0xff) at++;
    const marker = b[at++] as number;
    if (marker === 0xd9) return { end: at };
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) continue;
    if (at + 2 > b.length) break;
    const length = ((b[at] as number) << 8) + (b[at + 1] as number);
    if (length < 2) return { malformed: `a segment at byte ${at} has length ${length}` };
    at += length;
    if (marker !== 0xda) continue;
    while (at + 1 < b.length) {
      const next = b[at + 1] as number;
      if (b[at] === 0xff && next !== 0x00 && !(next >= 0xd0 && next <= 0xd7) && next !== 0xff) break;
      at++;
    }
  }
  return { malformed: "it has no end-of-image marker (truncated)" };
}

export function imageExtent(type: LogoType, b: Uint8Array): Extent {
  if (type === "image/png") return pngExtent(b);
  if (type === "image/webp") return webpExtent(b);
  return jpegExtent(b);
}

/** Why the bytes are not acceptable as exactly one image of `type`, or undefined when they are. */
export function wholeImageProblem(type: LogoType, b: Uint8Array): string | undefined {
  const extent = imageExtent(type, b);
  if ("malformed" in extent) return `The file is not a well-formed ${typeName(type)} image: ${extent.malformed}`;
  const extra = b.length - extent.end;
  if (extra > 0)
    return `The file has ${extra} bytes after the end of its ${typeName(type)} image; a file hidden behind an image (a polyglot) is refused`;
  return undefined;
}

/** The media type named by a Content-Type header, lower case and without parameters. */
export const mediaType = (header: string | undefined) => (header ?? "").split(";")[0]?.trim().toLowerCase() ?? "";

export const isLogoType = (t: string): t is LogoType => (LOGO_TYPES as readonly string[]).includes(t);
