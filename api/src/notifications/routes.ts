// The caller's notifications (feed, mark read), their preferences, and the unsubscribe link of
// every notice email (public: the signed token is the authority, no login needed).
import { Type } from "@sinclair/typebox";
import type { Request, Response } from "express";
import type { Services } from "../app.ts";
import { CursorError, keyCursors } from "../http/cursor.ts";
import { ApiError, badRequest, invalidField, notFound } from "../http/errors.ts";
import { route } from "../http/route.ts";
import { escapeHtml } from "../mail/mailer.ts";
import {
  CHANNELS,
  channelAvailable,
  EVENT_LABELS,
  NOTICE_EVENTS,
  type NoticeEvent,
  type PreferenceRow,
  resolvePreference,
} from "./preferences.ts";
import { verifyUnsubscribe } from "./token.ts";

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const Item = Type.Object({
  id: Type.String(),
  org: Nullable(Type.String()),
  event: Type.String(),
  title: Type.String(),
  body: Type.String(),
  link: Nullable(Type.String()),
  createdAt: Type.String({ format: "date-time" }),
  readAt: Nullable(Type.String({ format: "date-time" })),
});

const Pref = Type.Object({
  enabled: Type.Boolean(),
  default: Type.Boolean({ description: "What applies without a choice at this level" }),
  overridden: Type.Boolean({ description: "A choice at this level exists" }),
  available: Type.Boolean({ description: "false: this channel is not offered for the event" }),
});

const Preferences = Type.Object({
  org: Nullable(Type.String()),
  events: Type.Array(
    Type.Object({
      event: Type.String(),
      label: Type.String(),
      channels: Type.Object({ feed: Pref, email: Pref }),
    }),
  ),
});

const EventName = Type.Union(
  NOTICE_EVENTS.map((e) => Type.Literal(e)),
  { description: "A notice event" },
);
const OrgName = Type.String({ minLength: 1, maxLength: 63, pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" });

const PAGE = 50;
/** The feed pages on (createdAt ISO, id), newest first. */
const cursors = keyCursors({ feed: ["string", "string"] });

export const notificationRoutes = (s: Services) => {
  const prisma = s.db.prisma;

  const unreadOf = (userId: string) => prisma.notification.count({ where: { userId, inFeed: true, readAt: null } });

  /** An org the caller belongs to (any phase: they may still set how they hear about it); else 404. */
  const checkOrg = (email: string, org: string | undefined, path: string) => {
    if (org === undefined) return;
    if (!s.directory.memberByEmail(org, email))
      throw new ApiError(404, "not_found", `Organization "${org}" not found`, {
        fields: [{ path, message: "not an organization of yours" }],
      });
  };

  const preferencesOf = async (userId: string, org: string | null) => {
    const rows: PreferenceRow[] = await prisma.notificationPreference.findMany({
      where: { userId, org: { in: org ? ["", org] : [""] } },
    });
    return {
      org,
      events: NOTICE_EVENTS.map((event) => ({
        event,
        label: EVENT_LABELS[event],
        channels: {
          feed: resolvePreference(rows, event, "feed", org),
          email: resolvePreference(rows, event, "email", org),
        },
      })),
    };
  };

  return [
    route({
      method: "get",
      path: "/api/me/notifications",
      summary: "The caller's notification feed, newest first, with the unread count",
      tag: "notifications",
      auth: "session",
      query: Type.Object({
        unread: Type.Optional(Type.Union([Type.Literal("true"), Type.Literal("false")])),
        cursor: Type.Optional(Type.String({ maxLength: 200 })),
        limit: Type.Optional(Type.String({ pattern: "^[1-9][0-9]?$|^100$", description: "1 to 100 (50)" })),
      }),
      response: {
        status: 200,
        schema: Type.Object({ items: Type.Array(Item), unread: Type.Integer(), nextCursor: Nullable(Type.String()) }),
      },
      handler: async ({ principal, query }) => {
        if (principal.kind !== "session") throw notFound("Notifications");
        const limit = query.limit ? Number(query.limit) : PAGE;
        let after: { at: Date; id: string } | undefined;
        if (query.cursor) {
          let key: readonly (string | number)[];
          try {
            key = cursors.decode(query.cursor, "feed");
          } catch (error) {
            if (error instanceof CursorError)
              throw badRequest("Bad cursor", [{ path: "/query/cursor", message: error.message }]);
            throw error;
          }
          const [at, id] = key as [string, string];
          if (Number.isNaN(Date.parse(at)))
            throw badRequest("Bad cursor", [{ path: "/query/cursor", message: "is not a cursor this API returned" }]);
          after = { at: new Date(at), id };
        }
        const rows = await prisma.notification.findMany({
          where: {
            userId: principal.userId,
            inFeed: true,
            ...(query.unread === "true" ? { readAt: null } : {}),
            ...(after ? { OR: [{ createdAt: { lt: after.at } }, { createdAt: after.at, id: { lt: after.id } }] } : {}),
          },
          orderBy: [{ createdAt: "desc" }, { id: "desc" }],
          take: limit + 1,
        });
        const page = rows.slice(0, limit);
        const last = page.at(-1);
        return {
          items: page.map((n) => ({
            id: n.id,
            org: n.org,
            event: n.event,
            title: n.title,
            body: n.body,
            link: n.link,
            createdAt: n.createdAt.toISOString(),
            readAt: n.readAt?.toISOString() ?? null,
          })),
          unread: await unreadOf(principal.userId),
          nextCursor:
            rows.length > limit && last ? cursors.encode("feed", [last.createdAt.toISOString(), last.id]) : null,
        };
      },
    }),
    route({
      method: "post",
      path: "/api/me/notifications/read",
      summary: "Mark some or all of the caller's notifications read",
      tag: "notifications",
      auth: "session",
      body: Type.Object(
        {
          ids: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 500 })),
          all: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
      response: { status: 200, schema: Type.Object({ unread: Type.Integer() }) },
      handler: async ({ principal, body }) => {
        if (principal.kind !== "session") throw notFound("Notifications");
        if (!body.all && !body.ids?.length)
          throw invalidField("/body/ids", "name notifications to mark, or send all: true");
        // Only the caller's own rows: another user's id matches nothing.
        await prisma.notification.updateMany({
          where: { userId: principal.userId, readAt: null, ...(body.all ? {} : { id: { in: body.ids ?? [] } }) },
          data: { readAt: new Date(s.now()) },
        });
        return { unread: await unreadOf(principal.userId) };
      },
    }),
    route({
      method: "get",
      path: "/api/me/notification-preferences",
      summary: "The caller's notification preferences: account-wide, or in one organization",
      tag: "notifications",
      auth: "session",
      query: Type.Object({ org: Type.Optional(OrgName) }),
      response: { status: 200, schema: Preferences },
      errors: [404],
      handler: async ({ principal, query }) => {
        if (principal.kind !== "session") throw notFound("Notifications");
        checkOrg(principal.email, query.org, "/query/org");
        return preferencesOf(principal.userId, query.org ?? null);
      },
    }),
    route({
      method: "put",
      path: "/api/me/notification-preferences",
      summary: "Change the caller's notification preferences (null: back to the default)",
      tag: "notifications",
      auth: "session",
      audit: "notifications.preferences",
      body: Type.Object(
        {
          org: Type.Optional(OrgName),
          changes: Type.Array(
            Type.Object(
              {
                event: EventName,
                channel: Type.Union(CHANNELS.map((c) => Type.Literal(c))),
                enabled: Type.Union([Type.Boolean(), Type.Null()]),
              },
              { additionalProperties: false },
            ),
            { minItems: 1, maxItems: 100 },
          ),
        },
        { additionalProperties: false },
      ),
      response: { status: 200, schema: Preferences },
      errors: [404],
      handler: async ({ principal, body, setTarget }) => {
        if (principal.kind !== "session") throw notFound("Notifications");
        checkOrg(principal.email, body.org, "/body/org");
        const fields = body.changes.flatMap((c, i) =>
          channelAvailable(c.event as NoticeEvent, c.channel)
            ? []
            : [{ path: `/body/changes/${i}/channel`, message: `${c.event} is not sent by ${c.channel}` }],
        );
        if (fields.length) throw new ApiError(422, "validation_failed", "Some changes cannot be made", { fields });
        const org = body.org ?? "";
        setTarget(`notification-preferences/${org || "default"}`);
        await prisma.$transaction(
          body.changes.map((c) => {
            const id = { userId: principal.userId, org, event: c.event, channel: c.channel };
            return c.enabled === null
              ? prisma.notificationPreference.deleteMany({ where: id })
              : prisma.notificationPreference.upsert({
                  where: { userId_org_event_channel: id },
                  create: { ...id, enabled: c.enabled },
                  update: { enabled: c.enabled },
                });
          }),
        );
        return preferencesOf(principal.userId, body.org ?? null);
      },
    }),
    route({
      method: "get",
      path: "/api/unsubscribe",
      summary: "The unsubscribe link of a notice email: a page with a button that confirms (no login)",
      tag: "notifications",
      auth: "public",
      query: Type.Object({ token: Type.String({ minLength: 1, maxLength: 512 }) }),
      response: { status: 200, schema: null, also: { "text/html": Type.String() }, description: "A page" },
      errors: [400],
      handler: async ({ query, req, res, skipAudit }) => {
        skipAudit();
        const statement = verifyUnsubscribe(s.config.peppers, query.token);
        // A browser gets a page saying so; other clients the API's error body.
        if (!statement && !prefersHtml(req)) throw invalidToken();
        if (!statement)
          return page(
            res,
            400,
            "This link is not valid",
            "<p>The unsubscribe link is damaged or was not made by this Atrium. Change your notification preferences in Atrium instead.</p>",
          );
        // A GET changes nothing: mail scanners open links; only the button (a POST) unsubscribes.
        const action = `/api/unsubscribe?token=${encodeURIComponent(query.token)}`;
        return page(
          res,
          200,
          "Stop these emails?",
          `<p>Stop emails about <strong>${escapeHtml(EVENT_LABELS[statement.event].toLowerCase())}</strong>${statement.org ? ` in the organization <strong>${escapeHtml(statement.org)}</strong>` : ""}. The notices stay in your Atrium feed.</p>
<form method="post" action="${escapeHtml(action)}"><button type="submit">Unsubscribe</button></form>`,
        );
      },
    }),
    route({
      method: "post",
      path: "/api/unsubscribe",
      summary: "Unsubscribe in one click (RFC 8058): that email of that event (and organization) off",
      tag: "notifications",
      auth: "public",
      audit: "notifications.unsubscribe",
      query: Type.Object({ token: Type.String({ minLength: 1, maxLength: 512 }) }),
      response: {
        status: 200,
        schema: Type.Object({ unsubscribed: Type.Boolean(), event: Type.String(), org: Nullable(Type.String()) }),
        also: { "text/html": Type.String() },
      },
      errors: [400],
      handler: async ({ query, req, res, setTarget }) => {
        const statement = verifyUnsubscribe(s.config.peppers, query.token);
        if (!statement) throw invalidToken();
        const id = { userId: statement.userId, org: statement.org ?? "", event: statement.event, channel: "email" };
        setTarget(`user/${statement.userId}/${statement.event}`);
        const user = await prisma.user.findUnique({ where: { id: statement.userId }, select: { id: true } });
        if (user)
          await prisma.notificationPreference.upsert({
            where: { userId_org_event_channel: id },
            create: { ...id, enabled: false },
            update: { enabled: false },
          });
        const answer = { unsubscribed: true, event: statement.event, org: statement.org };
        if (prefersHtml(req))
          return page(
            res,
            200,
            "Unsubscribed",
            `<p>You will no longer get emails about <strong>${escapeHtml(EVENT_LABELS[statement.event].toLowerCase())}</strong>${statement.org ? ` in <strong>${escapeHtml(statement.org)}</strong>` : ""}. You can turn them on again in your notification preferences.</p>`,
          );
        return answer;
      },
    }),
  ];
};

const invalidToken = () =>
  badRequest("This unsubscribe link is not valid", [
    { path: "/query/token", message: "is not a valid unsubscribe token" },
  ]);

/** A browser (the page's button, a link opened): HTML first in Accept. */
const prefersHtml = (req: Request) => req.accepts(["application/json", "text/html"]) === "text/html";

/** A small HTML page of its own: no script, no styles from elsewhere; forms post only here. */
function page(res: Response, status: number, title: string, content: string): void {
  res
    .status(status)
    .setHeader("content-type", "text/html; charset=utf-8")
    .setHeader("content-security-policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'")
    .send(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title></head>
<body>
<h1>${escapeHtml(title)}</h1>
${content}
</body>
</html>
`);
}
