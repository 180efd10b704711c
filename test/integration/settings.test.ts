// Organization settings end to end on the real API assembly, control plane and OIDC provider,
// on SQLite and PostgreSQL (the logo's bytes are a BLOB in one and a bytea in the other): the
// logo (what is refused and why, what is served and how), and every settings change audited.
import { createHash } from "node:crypto";
import { deflateSync } from "node:zlib";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Caller } from "../cluster/api-stack.ts";
import { until } from "../cluster/until.ts";
import { SETTINGS_ROWS } from "./api/matrix-settings.ts";
import { ROLES, startWorld, type World } from "./api/world.ts";

const image = (format: "png" | "jpeg" | "webp", background = "#3366cc", width = 320, height = 160) =>
  sharp({ create: { width, height, channels: 3, background } })
    .toFormat(format)
    .toBuffer();

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([head, body, crc]);
}
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(b: Buffer): number {
  let c = 0xffffffff;
  for (const x of b) c = (CRC_TABLE[(c ^ x) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A decompression bomb: a few kilobytes of PNG declaring 50,000 × 50,000 grey pixels. */
const bomb = () => {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(50_000, 0);
  ihdr.writeUInt32BE(50_000, 4);
  ihdr[8] = 8;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", deflateSync(Buffer.alloc(50_001 * 64))),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
};

const SVG = Buffer.from(
  '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="fetch(\'/api/me\')"><rect width="10" height="10"/></svg>',
);

for (const provider of ["sqlite", "postgresql"] as const)
  describe(`organization settings (${provider})`, () => {
    let w: World;
    let org: string;
    let admin: Caller;

    beforeAll(async () => {
      w = await startWorld({ provider });
      org = w.orgA;
      admin = w.people.admin;
    }, 300_000);
    afterAll(() => w?.stop());

    const put = async (body: Buffer | ReadableStream, contentType: string | undefined, who: Caller = admin) => {
      const headers: Record<string, string> = {};
      if (who.cookie) headers.cookie = who.cookie;
      if (who.csrf) headers["x-csrf-token"] = who.csrf;
      if (who.key) headers.authorization = `Bearer ${who.key}`;
      if (contentType) headers["content-type"] = contentType;
      const r = await fetch(`${w.api.base}/api/orgs/${org}/logo`, {
        method: "PUT",
        headers,
        body,
        ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
      } as RequestInit);
      return { status: r.status, body: (await r.json()) as any };
    };
    const fetchLogo = (url: string, who: Caller = admin) =>
      fetch(w.api.base + url, { headers: who.cookie ? { cookie: who.cookie } : {} });
    const stored = () => w.api.db.prisma.orgLogo.findUnique({ where: { org } });

    describe("the logo", () => {
      it("is stored re-encoded (256×256 PNG, no metadata) and served under its hash with locked-down headers", async () => {
        const tagged = await sharp({ create: { width: 600, height: 300, channels: 3, background: "#cc3366" } })
          .withExif({ IFD0: { ImageDescription: "exif-comment-must-go", Artist: "Someone" } })
          .jpeg()
          .toBuffer();
        expect(tagged.includes("exif-comment-must-go")).toBe(true);
        const r = await put(tagged, "image/jpeg");
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        expect(r.body.logoUrl).toMatch(new RegExp(`^/api/orgs/${org}/logo/[0-9a-f]{64}$`));
        expect((await w.call(admin, "GET", `/api/orgs/${org}`)).body.logoUrl).toBe(r.body.logoUrl);

        // Every member sees it, with the headers that keep a browser from doing anything else with it.
        const served = await fetchLogo(r.body.logoUrl, w.people.viewer);
        expect(served.status).toBe(200);
        expect(
          Object.fromEntries(
            ["content-type", "x-content-type-options", "content-security-policy", "cache-control"].map((h) => [
              h,
              served.headers.get(h),
            ]),
          ),
        ).toEqual({
          "content-type": "image/png",
          "x-content-type-options": "nosniff",
          "content-security-policy": "default-src 'none'; sandbox",
          "cache-control": "private, max-age=31536000, immutable",
        });
        const bytes = Buffer.from(await served.arrayBuffer());
        expect(bytes.includes("exif-comment-must-go")).toBe(false);
        const meta = await sharp(bytes).metadata();
        expect(meta).toMatchObject({ format: "png", width: 256, height: 256 });
        expect(meta.exif).toBeUndefined();
        expect(r.body.logoUrl.endsWith(createHashHex(bytes))).toBe(true);
        expect((await stored())?.updatedBy).toBe(w.people.admin.email);

        // Not a member: 404, as for an organization that does not exist; nobody: 401.
        expect((await fetchLogo(r.body.logoUrl, w.outsider)).status).toBe(404);
        expect((await fetchLogo(r.body.logoUrl, {})).status).toBe(401);
      });

      it("gets a new URL when its content changes; the old one is gone", async () => {
        const first = await put(await image("png", "#112233"), "image/png");
        const again = await put(await image("png", "#112233"), "image/png");
        expect(again.body.logoUrl).toBe(first.body.logoUrl);
        const webp = await put(await image("webp", "#445566"), "image/webp");
        expect(webp.status).toBe(200);
        expect(webp.body.logoUrl).not.toBe(first.body.logoUrl);
        expect((await fetchLogo(webp.body.logoUrl)).status).toBe(200);
        expect((await fetchLogo(first.body.logoUrl)).status).toBe(404);
      });

      it("refuses what is not one whole PNG, JPEG or WebP, whatever its name or declared type", async () => {
        const png = await image("png");
        const jpeg = await image("jpeg");
        const before = (await stored())?.hash;
        const cases: Array<[string, Buffer, string | undefined, number, string]> = [
          // A browser sends a PNG renamed logo.svg as image/svg+xml: the declared type is not a logo's.
          ["a PNG renamed .svg", png, "image/svg+xml", 415, "SVG is not accepted"],
          ["an SVG", SVG, "image/svg+xml", 415, "SVG is not accepted"],
          ["an SVG declared as PNG", SVG, "image/png", 422, "its bytes look like SVG"],
          [
            "a PNG declared as JPEG",
            png,
            "image/jpeg",
            422,
            "bytes are a PNG image, but it was declared as image/jpeg",
          ],
          ["no Content-Type", png, undefined, 415, "none was given"],
          [
            "a PNG with a ZIP behind it (polyglot)",
            Buffer.concat([png, Buffer.from("PK\u0003\u0004 payload.class")]),
            "image/png",
            422,
            "after the end of its PNG image",
          ],
          [
            "a JPEG with HTML behind it (polyglot)",
            Buffer.concat([jpeg, Buffer.from("<html><script>alert(1)</script>")]),
            "image/jpeg",
            422,
            "after the end of its JPEG image",
          ],
          ["a GIF", Buffer.from("GIF89a\u0001\u0000\u0001\u0000"), "image/png", 422, "look like GIF"],
          ["a truncated PNG", png.subarray(0, png.length - 20), "image/png", 422, "not a well-formed PNG"],
          [
            "a decompression bomb",
            bomb(),
            "image/png",
            422,
            "The image declares 50000×50000 pixels; a logo may have at most 16,777,216",
          ],
        ];
        for (const [name, body, type, status, message] of cases) {
          const r = await put(body, type);
          expect(r.body.error.message, name).toContain(message);
          if (status === 422)
            expect(r.body.error.fields, name).toEqual([{ path: "/body", message: r.body.error.message }]);
          expect({ name, status: r.status }).toEqual({ name, status });
        }
        expect((await stored())?.hash).toBe(before);
      });

      it("refuses a 20 MB upload with 413, declared or streamed, without reading it all", async () => {
        const big = Buffer.alloc(20 * 1024 * 1024, 0x41);
        (await image("png")).copy(big);
        const declared = await put(big, "image/png");
        expect(declared.status).toBe(413);
        expect(declared.body.error).toEqual({
          code: "too_large",
          message: "The body is larger than the 1 MiB (1048576 bytes) allowed",
        });
        // Chunked, without a Content-Length: counted while read.
        let sent = 0;
        const stream = new ReadableStream({
          pull(controller) {
            if (sent >= big.length) return controller.close();
            controller.enqueue(big.subarray(sent, sent + 65536));
            sent += 65536;
          },
        });
        const streamed = await put(stream, "image/png");
        expect(streamed.status).toBe(413);
        expect(sent).toBeLessThan(big.length);
        // Just under the limit is read (and then judged as an image: this one has a tail).
        const under = await put(big.subarray(0, 1024 * 1024), "image/png");
        expect(under.status).toBe(422);
      });

      it("is removed with DELETE; its URL is gone and logoUrl is null", async () => {
        const r = await put(await image("png", "#778899"), "image/png");
        const removed = await w.call(admin, "DELETE", `/api/orgs/${org}/logo`);
        expect(removed.status).toBe(204);
        expect((await w.call(admin, "GET", `/api/orgs/${org}`)).body.logoUrl).toBeNull();
        expect((await fetchLogo(r.body.logoUrl)).status).toBe(404);
        expect(await stored()).toBeNull();
      });

      it("is for org:update: a Manager is refused, and an API key needs the scope", async () => {
        expect((await put(await image("png"), "image/png", w.people.manager)).status).toBe(403);
        const created = await w.call(admin, "POST", `/api/orgs/${org}/apikeys`, {
          name: "logo-key",
          type: "STANDARD",
          scopes: ["org:update"],
        });
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        expect((await put(await image("png", "#010203"), "image/png", { key: created.body.secret })).status).toBe(200);
      });
    });

    describe("auditing", () => {
      it("records every settings change: name and description, logo, billing details", async () => {
        await w.api.services.audit.flushed();
        const mine = { org, actor: w.people.admin.email };
        const earlier = await w.api.db.prisma.auditEvent.count({ where: mine });
        expect((await w.call(admin, "PATCH", `/api/orgs/${org}`, { description: "Audited" })).status).toBe(200);
        expect((await put(await image("png", "#abcdef"), "image/png")).status).toBe(200);
        expect((await put(SVG, "image/svg+xml")).status).toBe(415);
        expect((await w.call(admin, "DELETE", `/api/orgs/${org}/logo`)).status).toBe(204);
        const details = await w.call(admin, "PUT", `/api/orgs/${org}/billing/details`, {
          contactName: "Ada",
          email: "billing@example.com",
          addressLine1: "1 Engine Street",
          city: "London",
          country: "GB",
        });
        expect(details.status).toBe(200);
        const entries = await until("the audit entries", async () => {
          await w.api.services.audit.flushed();
          const rows = await w.api.db.prisma.auditEvent.findMany({
            where: mine,
            orderBy: [{ at: "asc" }, { id: "asc" }],
          });
          return rows.length >= earlier + 5 ? rows.slice(earlier) : undefined;
        });
        expect(entries.map((e) => [e.action, e.result, e.status])).toEqual([
          ["orgs.update", "success", 200],
          ["orgs.logo.update", "success", 200],
          ["orgs.logo.update", "error", 415],
          ["orgs.logo.delete", "success", 204],
          ["billing.details", "success", 200],
        ]);
        expect(entries[1]?.target).toMatch(new RegExp(`^organization/${org}/logo/[0-9a-f]{64}$`));
      });
    });

    describe("authorization matrix rows (the rows the API suite runs)", () => {
      for (const row of SETTINGS_ROWS)
        it(`${row.method} ${row.path}: ${row.name}`, async () => {
          const outcomes: string[] = [];
          const expected: string[] = [];
          for (const role of ROLES) {
            const prepared = row.setup ? await row.setup(w, w.orgA, role) : {};
            const body = prepared.body ?? row.body?.(role);
            const path = (o: string) => row.path.replace("{org}", o).replace("{target}", prepared.target ?? "x");
            const own = await w.call(w.people[role], row.method, path(w.orgA), body);
            const other = await w.call(w.people[role], row.method, path(w.orgB), body);
            outcomes.push(`${role}: own ${own.status}, other ${other.status}`);
            expected.push(`${role}: own ${row.allowed.includes(role) ? row.success : 403}, other 404`);
          }
          expect(outcomes).toEqual(expected);
        });
    });
  });

const createHashHex = (b: Buffer) => createHash("sha256").update(b).digest("hex");
