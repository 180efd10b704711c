// An organization's logo: checked from its bytes (image.ts), decoded with a pixel limit,
// re-encoded as a fixed-size PNG without metadata, stored in the database (OrgLogo) and served
// under its content hash. What the API serves is always its own encoding, never the upload, so
// nothing a sender hid in the file (scripts, a second file, EXIF with a location) reaches a
// browser; sharp is only ever handed PNG, JPEG or WebP, never SVG or another of the formats it
// could decode.
import { createHash } from "node:crypto";
import sharp, { type Metadata } from "sharp";
import type { Database } from "../db/index.ts";
import { ApiError } from "../http/errors.ts";
import {
  describeOther,
  isLogoType,
  type LogoType,
  mediaType,
  sniffImageType,
  typeName,
  wholeImageProblem,
} from "./image.ts";

/** The largest upload: 1 MiB. */
export const MAX_LOGO_BYTES = 1024 * 1024;
/**
 * The most pixels an upload may declare (4096 × 4096): a small file can declare billions
 * (a decompression bomb), and decoding allocates for every one of them.
 */
export const MAX_LOGO_PIXELS = 4096 * 4096;
/** What is stored and served: a square PNG, the image fitted inside with transparent margins. */
export const LOGO_SIZE = 256;

const invalidImage = (message: string) =>
  new ApiError(422, "invalid_image", message, { fields: [{ path: "/body", message }] });

export const unsupportedType = (declared: string) =>
  new ApiError(
    415,
    "unsupported_media_type",
    `A logo is sent as the raw body with Content-Type image/png, image/jpeg or image/webp${
      declared ? ` (not ${declared}` : " (none was given"
    }${declared === "image/svg+xml" ? ": SVG is not accepted, as it can carry scripts" : ""})`,
  );

/** The declared type, when it is one a logo may have; else the 415 to answer. */
export function declaredLogoType(contentType: string | undefined): LogoType {
  const declared = mediaType(contentType);
  if (!isLogoType(declared)) throw unsupportedType(declared);
  return declared;
}

export type ProcessedLogo = {
  bytes: Uint8Array<ArrayBuffer>;
  hash: string;
  width: number;
  height: number;
  contentType: "image/png";
};

/** Checks an upload against what it claims to be and re-encodes it; refusals are ApiErrors (422). */
export async function processLogo(declared: LogoType, upload: Buffer): Promise<ProcessedLogo> {
  if (upload.length === 0) throw invalidImage("The body is empty: send the image's bytes");
  const actual = sniffImageType(upload);
  if (!actual)
    throw invalidImage(
      `The file is not a PNG, JPEG or WebP image (its bytes look like ${describeOther(upload)}), whatever its name or declared type`,
    );
  if (actual !== declared)
    throw invalidImage(`The file's bytes are a ${typeName(actual)} image, but it was declared as ${declared}`);
  const problem = wholeImageProblem(actual, upload);
  if (problem) throw invalidImage(problem);
  // The header alone (no decoding, so no pixel limit needed yet) says how large it claims to be.
  let meta: Metadata;
  try {
    meta = await sharp(upload, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw invalidImage(`The ${typeName(actual)} image could not be read: ${(e as Error).message}`);
  }
  const expectedFormat = { "image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp" }[actual];
  if (meta.format !== expectedFormat)
    throw invalidImage(`The file is not a ${typeName(actual)} image its decoder accepts (it read ${meta.format})`);
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (width * height > MAX_LOGO_PIXELS)
    throw invalidImage(
      `The image declares ${width}×${height} pixels; a logo may have at most ${MAX_LOGO_PIXELS.toLocaleString("en")} (e.g. 4096×4096)`,
    );
  try {
    const bytes = await sharp(upload, { limitInputPixels: MAX_LOGO_PIXELS, failOn: "error", pages: 1 })
      .rotate() // EXIF orientation applied, before the metadata goes
      .resize(LOGO_SIZE, LOGO_SIZE, { fit: "contain", background: { r: 0, g: 0, b: 0, alpha: 0 } })
      .png({ compressionLevel: 9 }) // no withMetadata(): EXIF, XMP, ICC and text chunks are dropped
      .toBuffer();
    return {
      bytes: new Uint8Array(bytes),
      hash: sha256(bytes),
      width: LOGO_SIZE,
      height: LOGO_SIZE,
      contentType: "image/png",
    };
  } catch (e) {
    throw invalidImage(`The ${typeName(actual)} image could not be decoded: ${(e as Error).message}`);
  }
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Where a logo is served: its content hash is the last segment, so a URL never changes meaning. */
export const logoPath = (org: string, hash: string) => `/api/orgs/${org}/logo/${hash}`;

/** The current logo's URL of each organization that has one. */
export async function logoUrls(db: Database, orgs?: readonly string[]): Promise<Map<string, string>> {
  const rows = await db.prisma.orgLogo.findMany({
    where: orgs ? { org: { in: [...orgs] } } : {},
    select: { org: true, hash: true },
  });
  return new Map(rows.map((r) => [r.org, logoPath(r.org, r.hash)]));
}

/** The organization's logo URL, or null without one (for GET /api/orgs/:org, the overview, …). */
export async function logoUrlOf(db: Database, org: string): Promise<string | null> {
  const row = await db.prisma.orgLogo.findUnique({ where: { org }, select: { hash: true } });
  return row ? logoPath(org, row.hash) : null;
}
