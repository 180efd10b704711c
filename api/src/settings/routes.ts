// Organization settings kept in the database: the logo (upload, serve, remove). Name and
// description live on the Organization resource (orgs/routes.ts), billing details with billing;
// every change is a route with an audit action, so every change is in the audit log.
import { Type } from "@sinclair/typebox";
import type { Services } from "../app.ts";
import { notFound } from "../http/errors.ts";
import { route } from "../http/route.ts";
import { Name } from "../routes/views.ts";
import { LOGO_TYPES } from "./image.ts";
import { declaredLogoType, logoPath, MAX_LOGO_BYTES, processLogo } from "./logo.ts";
import { readRawBody } from "./raw-body.ts";

const LogoParams = Type.Object({
  org: Name("Organization name"),
  hash: Type.String({ pattern: "^[0-9a-f]{64}$", description: "The logo's SHA-256, from logoUrl" }),
});
const OrgParams = Type.Object({ org: Name("Organization name") });

/** A logo never changes under its URL (the hash is its content): browsers may keep it a year. */
export const LOGO_HEADERS = {
  "content-type": "image/png",
  "x-content-type-options": "nosniff",
  // Opened on its own, the image can run nothing and reach nothing.
  "content-security-policy": "default-src 'none'; sandbox",
  "cache-control": "private, max-age=31536000, immutable",
} as const;

export const settingsRoutes = (s: Services) => [
  route({
    method: "put",
    path: "/api/orgs/:org/logo",
    summary:
      "Upload the organization's logo: the raw image as the body (PNG, JPEG or WebP, at most 1 MiB, at most 4096×4096 pixels), re-encoded as a 256×256 PNG without metadata",
    tag: "settings",
    auth: "any",
    permission: "org:update",
    params: OrgParams,
    rawBody: {
      types: LOGO_TYPES,
      description: "The image's bytes; its type is decided from them and must match Content-Type",
    },
    response: { status: 200, schema: Type.Object({ logoUrl: Type.String() }) },
    errors: [413, 415, 422],
    audit: "orgs.logo.update",
    handler: async ({ params, req, actor, setTarget }) => {
      setTarget(`organization/${params.org}/logo`);
      const declared = declaredLogoType(req.headers["content-type"]);
      const upload = await readRawBody(req, MAX_LOGO_BYTES);
      const logo = await processLogo(declared, upload);
      const data = {
        hash: logo.hash,
        contentType: logo.contentType,
        bytes: logo.bytes,
        width: logo.width,
        height: logo.height,
        updatedBy: actor.email,
      };
      await s.db.prisma.orgLogo.upsert({
        where: { org: params.org },
        create: { org: params.org, ...data },
        update: data,
      });
      setTarget(`organization/${params.org}/logo/${logo.hash}`);
      return { logoUrl: logoPath(params.org, logo.hash) };
    },
  }),
  route({
    method: "delete",
    path: "/api/orgs/:org/logo",
    summary: "Remove the organization's logo (nothing to remove is fine)",
    tag: "settings",
    auth: "any",
    permission: "org:update",
    params: OrgParams,
    response: { status: 204, schema: null },
    audit: "orgs.logo.delete",
    handler: async ({ params, setTarget }) => {
      setTarget(`organization/${params.org}/logo`);
      await s.db.prisma.orgLogo.deleteMany({ where: { org: params.org } });
    },
  }),
  route({
    method: "get",
    path: "/api/orgs/:org/logo/:hash",
    summary: "The organization's logo as a PNG (members of the organization); a replaced logo's URL is 404",
    tag: "settings",
    auth: "any",
    params: LogoParams,
    response: {
      status: 200,
      schema: null,
      description: "image/png",
      also: { "image/png": Type.String({ format: "binary" }) },
    },
    handler: async ({ params, res }) => {
      const logo = await s.db.prisma.orgLogo.findUnique({ where: { org: params.org } });
      if (!logo || logo.hash !== params.hash) throw notFound("Logo");
      res.status(200).set(LOGO_HEADERS).setHeader("content-length", String(logo.bytes.length));
      res.end(Buffer.from(logo.bytes));
    },
  }),
];
