// GDPR exports over the API: an organization's (org:export) and a person's own (any logged-in
// person, their own jobs only). Sessions only: an export holds people's data, and an API key
// is a bearer secret; the download is never a bearer URL either.
import { Type } from "@sinclair/typebox";
import type { Services } from "../app.ts";
import type { Principal } from "../auth/principal.ts";
import { forbidden } from "../http/errors.ts";
import { route } from "../http/route.ts";
import { Name, Timestamp } from "../routes/views.ts";
import { EXPORT_STATES } from "./domain.ts";
import type { Scope } from "./exports.ts";

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const ExportJobSchema = Type.Object({
  id: Type.String(),
  kind: Type.Union([Type.Literal("org"), Type.Literal("person")]),
  org: Nullable(Type.String()),
  state: Type.Union(EXPORT_STATES.map((s) => Type.Literal(s))),
  progress: Type.Object({
    step: Nullable(Type.String({ description: "The file being written, or queued / done" })),
    done: Type.Integer({ description: "Records written" }),
    total: Type.Integer({ description: "Records to write (counted when the job starts)" }),
  }),
  error: Nullable(Type.String()),
  sizeBytes: Nullable(Type.Integer()),
  sha256: Nullable(Type.String({ description: "SHA-256 of the whole archive" })),
  createdAt: Timestamp,
  finishedAt: Nullable(Timestamp),
  expiresAt: Nullable(Timestamp),
  downloadUrl: Nullable(Type.String({ description: "An API path; the download needs a session" })),
});

const ExportList = Type.Object({ items: Type.Array(ExportJobSchema) });
const JobId = Type.String({ pattern: "^[a-z0-9]{1,40}$", description: "Export id" });
const OrgJobParams = Type.Object({ org: Name("Organization name"), id: JobId });
const MeJobParams = Type.Object({ id: JobId });
const Zip = { "application/zip": Type.String({ format: "binary" }) };

const DOWNLOAD = "The archive: a ZIP of JSON and CSV files with manifest.json (SHA-256 and size per file)";

export const exportRoutes = (s: Services) => {
  const orgScope = (org: string): Scope => ({ kind: "org", org });
  const personScope = (principal: Principal): Scope => {
    if (principal.kind !== "session") throw forbidden("This action needs a logged-in person, not an API key");
    return { kind: "person", person: { userId: principal.userId, email: principal.email } };
  };
  const requester = (principal: Principal) => {
    if (principal.kind !== "session") throw forbidden("This action needs a logged-in person, not an API key");
    return principal.userId;
  };
  return [
    route({
      method: "post",
      path: "/api/orgs/:org/exports",
      summary: "Export the organization's data (GDPR): a job; the archive is kept 7 days",
      tag: "exports",
      auth: "session",
      permission: "org:export",
      params: Type.Object({ org: Name("Organization name") }),
      response: { status: 202, schema: ExportJobSchema },
      errors: [409, 429],
      audit: "exports.request",
      handler: async ({ params, principal, setTarget }) => {
        const job = await s.exports.request(orgScope(params.org), requester(principal));
        setTarget(`export/${job.id}`);
        return job;
      },
    }),
    route({
      method: "get",
      path: "/api/orgs/:org/exports",
      summary: "The organization's exports, newest first",
      tag: "exports",
      auth: "session",
      permission: "org:export",
      params: Type.Object({ org: Name("Organization name") }),
      response: { status: 200, schema: ExportList },
      handler: async ({ params }) => ({ items: await s.exports.list(orgScope(params.org)) }),
    }),
    route({
      method: "get",
      path: "/api/orgs/:org/exports/:id",
      summary: "One export of the organization: state and progress",
      tag: "exports",
      auth: "session",
      permission: "org:export",
      params: OrgJobParams,
      response: { status: 200, schema: ExportJobSchema },
      handler: async ({ params }) => s.exports.view(await s.exports.get(orgScope(params.org), params.id)),
    }),
    route({
      method: "get",
      path: "/api/orgs/:org/exports/:id/download",
      summary: "Download the organization's archive (410 once expired)",
      tag: "exports",
      auth: "session",
      permission: "org:export",
      params: OrgJobParams,
      response: { status: 200, schema: null, description: DOWNLOAD, also: Zip },
      errors: [409, 410],
      audit: "exports.download",
      handler: async ({ params, res, setTarget }) => {
        setTarget(`export/${params.id}`);
        await s.exports.download(await s.exports.get(orgScope(params.org), params.id), res);
      },
    }),
    route({
      method: "post",
      path: "/api/me/exports",
      summary: "Export your own data across organizations (GDPR): a job; the archive is kept 7 days",
      tag: "exports",
      auth: "session",
      response: { status: 202, schema: ExportJobSchema },
      errors: [409, 429],
      audit: "exports.request",
      handler: async ({ principal, setTarget }) => {
        const job = await s.exports.request(personScope(principal), requester(principal));
        setTarget(`export/${job.id}`);
        return job;
      },
    }),
    route({
      method: "get",
      path: "/api/me/exports",
      summary: "Your exports, newest first",
      tag: "exports",
      auth: "session",
      response: { status: 200, schema: ExportList },
      handler: async ({ principal }) => ({ items: await s.exports.list(personScope(principal)) }),
    }),
    route({
      method: "get",
      path: "/api/me/exports/:id",
      summary: "One of your exports: state and progress",
      tag: "exports",
      auth: "session",
      params: MeJobParams,
      response: { status: 200, schema: ExportJobSchema },
      handler: async ({ params, principal }) => s.exports.view(await s.exports.get(personScope(principal), params.id)),
    }),
    route({
      method: "get",
      path: "/api/me/exports/:id/download",
      summary: "Download your archive (410 once expired)",
      tag: "exports",
      auth: "session",
      params: MeJobParams,
      response: { status: 200, schema: null, description: DOWNLOAD, also: Zip },
      errors: [409, 410],
      audit: "exports.download",
      handler: async ({ params, principal, res, setTarget }) => {
        setTarget(`export/${params.id}`);
        await s.exports.download(await s.exports.get(personScope(principal), params.id), res);
      },
    }),
  ];
};
