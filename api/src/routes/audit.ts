// The audit log of an org, newest first, filtered and paged by cursor.
import { Type } from "@sinclair/typebox";
import type { Services } from "../app.ts";
import { route } from "../http/route.ts";
import { OrgParams, Timestamp } from "./views.ts";

const Query = Type.Object({
  actor: Type.Optional(Type.String({ maxLength: 254 })),
  action: Type.Optional(
    Type.String({ maxLength: 100, description: "Exact action, or a prefix ending in '.' (members.)" }),
  ),
  result: Type.Optional(Type.Union([Type.Literal("success"), Type.Literal("denied"), Type.Literal("error")])),
  since: Type.Optional(Timestamp),
  until: Type.Optional(Timestamp),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 100 })),
});

const Event = Type.Object({
  id: Type.String(),
  at: Timestamp,
  actor: Type.String(),
  actorType: Type.String(),
  action: Type.String(),
  target: Type.Union([Type.String(), Type.Null()]),
  result: Type.String(),
  status: Type.Union([Type.Integer(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
});

export const auditRoutes = (s: Services) => [
  route({
    method: "get",
    path: "/api/orgs/:org/audit",
    summary: "Audit log: every write with actor, action, target, result and source address",
    tag: "audit",
    auth: "any",
    permission: "audit:view",
    params: OrgParams,
    query: Query,
    response: {
      status: 200,
      schema: Type.Object({ items: Type.Array(Event), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
    },
    handler: async ({ params, query }) => {
      const action = query.action?.endsWith(".") ? { startsWith: query.action } : query.action;
      const limit = query.limit ?? 50;
      const rows = await s.db.prisma.auditEvent.findMany({
        where: {
          org: params.org,
          ...(query.actor ? { actor: query.actor.toLowerCase() } : {}),
          ...(action ? { action } : {}),
          ...(query.result ? { result: query.result } : {}),
          ...(query.since || query.until
            ? {
                at: {
                  ...(query.since ? { gte: new Date(query.since) } : {}),
                  ...(query.until ? { lt: new Date(query.until) } : {}),
                },
              }
            : {}),
        },
        orderBy: [{ at: "desc" }, { id: "desc" }],
        take: limit + 1,
        ...(query.cursor ? { cursor: { id: query.cursor }, skip: 1 } : {}),
      });
      const page = rows.slice(0, limit);
      return {
        items: page.map((e) => ({
          id: e.id,
          at: e.at.toISOString(),
          actor: e.actor,
          actorType: e.actorType,
          action: e.action,
          target: e.target,
          result: e.result,
          status: e.status,
          ip: e.ip,
        })),
        nextCursor: rows.length > limit ? (page.at(-1)?.id ?? null) : null,
      };
    },
  }),
];
