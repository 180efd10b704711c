// API keys: created by a logged-in member for one org, with scopes from the permission
// catalog (never beyond the creator's own), an optional expiry capped by the org maximum.
// The secret is in the create response only. Revocation is permanent.
import { Type } from "@sinclair/typebox";
import type { Services } from "../app.ts";
import { generateKey, hashKey } from "../auth/keyformat.ts";
import { forbidden, invalidField, notFound } from "../http/errors.ts";
import { route } from "../http/route.ts";
import { apiKeyNotice } from "../notifications/events.ts";
import { DisplayName, Name, OrgParams, Permission, Timestamp } from "./views.ts";

const KeyType = Type.Union([Type.Literal("STANDARD"), Type.Literal("AI_AGENT")]);

const KeyView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  prefix: Type.String({ description: "The key's public start, to recognise it" }),
  type: KeyType,
  scopes: Type.Array(Type.String()),
  createdBy: Type.String(),
  createdAt: Timestamp,
  lastUsedAt: Type.Union([Timestamp, Type.Null()]),
  expiresAt: Type.Union([Timestamp, Type.Null()]),
  revokedAt: Type.Union([Timestamp, Type.Null()]),
  status: Type.Union([Type.Literal("active"), Type.Literal("expired"), Type.Literal("revoked")]),
});

const KeyCreate = Type.Object(
  {
    name: DisplayName,
    type: KeyType,
    scopes: Type.Array(Permission, { minItems: 1, maxItems: 64, uniqueItems: true }),
    expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
  },
  { additionalProperties: false },
);

type Row = {
  id: string;
  name: string;
  prefix: string;
  type: string;
  scopes: string;
  createdBy: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
};

export function keyView(row: Row, now: number) {
  const status = row.revokedAt ? "revoked" : row.expiresAt && row.expiresAt.getTime() <= now ? "expired" : "active";
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    type: row.type as "STANDARD" | "AI_AGENT",
    scopes: JSON.parse(row.scopes) as string[],
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    expiresAt: row.expiresAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
    status: status as "active" | "expired" | "revoked",
  };
}

export const apiKeyRoutes = (s: Services) => [
  route({
    method: "get",
    path: "/api/orgs/:org/apikeys",
    summary: "API keys of the org (yours only, unless you hold apikeys:view)",
    tag: "apikeys",
    auth: "any",
    params: OrgParams,
    response: { status: 200, schema: Type.Object({ items: Type.Array(KeyView) }) },
    handler: async ({ params, actor }) => {
      const all = actor.can("apikeys:view");
      const rows = await s.db.prisma.apiKey.findMany({
        where: { org: params.org, ...(all ? {} : { createdBy: actor.email }) },
        orderBy: { createdAt: "desc" },
        take: 500,
      });
      return { items: rows.map((r) => keyView(r, s.now())) };
    },
  }),
  route({
    method: "post",
    path: "/api/orgs/:org/apikeys",
    summary: "Create an API key; the secret is returned this once",
    tag: "apikeys",
    auth: "session",
    permission: "apikeys:create",
    params: OrgParams,
    body: KeyCreate,
    response: {
      status: 201,
      schema: Type.Object({ key: KeyView, secret: Type.String({ description: "Shown once; store it now" }) }),
    },
    audit: "apikeys.create",
    handler: async ({ params, body, actor, setTarget }) => {
      const lacking = body.scopes.filter((p) => !actor.can(p));
      if (lacking.length) throw forbidden(`You cannot give a key permissions you lack: ${lacking.join(", ")}`);
      const max = s.config.maxKeyLifetimeDays;
      if (body.expiresInDays !== undefined && body.expiresInDays > max)
        throw invalidField("/body/expiresInDays", `must be at most ${max} days (the organization's maximum)`);
      const days = body.expiresInDays ?? max;
      const key = generateKey(body.type);
      setTarget(`apikey/${key.id}`);
      const now = s.now();
      const row = await s.db.prisma.apiKey.create({
        data: {
          id: key.id,
          org: params.org,
          name: body.name,
          type: body.type,
          prefix: key.display,
          hashVersion: s.config.peppers.current,
          hash: hashKey(s.config.peppers, s.config.peppers.current, key.secret),
          scopes: JSON.stringify(body.scopes),
          createdBy: actor.email,
          memberName: actor.member.metadata.name,
          createdAt: new Date(now),
          expiresAt: new Date(now + days * 86_400_000),
        },
      });
      notifyKey(s, "created", row, actor.email);
      return { key: keyView(row, now), secret: key.secret };
    },
  }),
  route({
    method: "delete",
    path: "/api/orgs/:org/apikeys/:key",
    summary: "Revoke an API key, permanently (yours, or any with apikeys:revoke)",
    tag: "apikeys",
    auth: "any",
    params: Type.Object({ org: Name("Organization name"), key: Type.String({ pattern: "^[a-z2-7]{12}$" }) }),
    response: { status: 204, schema: null },
    audit: "apikeys.revoke",
    handler: async ({ params, actor, setTarget }) => {
      setTarget(`apikey/${params.key}`);
      const row = await s.db.prisma.apiKey.findUnique({ where: { id: params.key } });
      if (!row || row.org !== params.org) throw notFound(`API key "${params.key}"`);
      if (row.createdBy !== actor.email && !actor.can("apikeys:revoke"))
        throw forbidden("Revoking another member's key needs the permission apikeys:revoke");
      if (!row.revokedAt) {
        await s.db.prisma.apiKey.update({
          where: { id: row.id },
          data: { revokedAt: new Date(s.now()), revokedBy: actor.email },
        });
        notifyKey(s, "revoked", row, actor.email);
      }
      s.keys.forget(row.id);
    },
  }),
];

/** A key created or revoked: its creator and the organization's Admins hear of it (once each). */
function notifyKey(
  s: Services,
  kind: "created" | "revoked",
  row: { id: string; org: string; name: string; type: string; createdBy: string },
  by: string,
): void {
  const notice = apiKeyNotice({ kind, ...row, by });
  s.notifications.publishLater(notice, { emails: [row.createdBy] });
  s.notifications.publishLater(notice, { orgAdmins: row.org });
}
