// Members: list (search, filters, sort, cursor pages), view, edit role / profile / activity,
// remove. Invitations (which create members) are in invitations.ts.
import {
  activeAdminsAmong,
  MAX_LEVEL,
  MEMBER_PHASES,
  mayActOn,
  mayAssign,
  namespaceFor,
  normalizeEmail,
  removesLastAdmin,
} from "@atrium/crds";
import { R } from "@atrium/kube";
import { Type } from "@sinclair/typebox";
import type { Services } from "../app.ts";
import type { Actor } from "../auth/principal.ts";
import { AdminGuard } from "../authz/admin-guard.ts";
import type { Directory, MemberObj } from "../authz/directory.ts";
import { ApiError, conflict, forbidden, invalidField, notFound } from "../http/errors.ts";
import { route } from "../http/route.ts";
import { roleChangedNotice } from "../notifications/events.ts";
import { DisplayName, MemberParams, MemberView, memberView, OrgParams, Timestamp } from "./views.ts";

const SORTS = ["name", "email", "role", "lastLogin", "status"] as const;
type Sort = (typeof SORTS)[number];

const ListQuery = Type.Object({
  q: Type.Optional(Type.String({ maxLength: 100, description: "Matches name or email, case-insensitive" })),
  role: Type.Optional(Type.String({ maxLength: 63 })),
  status: Type.Optional(Type.Union(MEMBER_PHASES.map((p) => Type.Literal(p)))),
  sort: Type.Optional(
    Type.Union(
      SORTS.map((s) => Type.Literal(s)),
      { default: "name" },
    ),
  ),
  order: Type.Optional(Type.Union([Type.Literal("asc"), Type.Literal("desc")], { default: "asc" })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 400, description: "nextCursor of the previous page" })),
});

const MemberPage = Type.Object({
  items: Type.Array(MemberView),
  total: Type.Integer({ description: "Members matching the filters" }),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

const MemberDetail = Type.Object({
  member: MemberView,
  permissions: Type.Array(Type.String(), { description: "Effective permissions (none unless active)" }),
  activity: Type.Array(
    Type.Object({
      at: Timestamp,
      action: Type.String(),
      target: Type.Union([Type.String(), Type.Null()]),
      result: Type.String(),
    }),
  ),
});

const MemberPatch = Type.Object(
  {
    role: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
    displayName: Type.Optional(DisplayName),
    active: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);

type View = ReturnType<typeof memberView>;

/** The value a list is sorted by; ties are broken by the member's unique name. */
function sortKey(v: View, sort: Sort): string | number {
  switch (sort) {
    case "name":
      return v.displayName.toLowerCase();
    case "email":
      return v.email.toLowerCase();
    case "role":
      return -v.level; // highest rank first in ascending order, as the console lists roles
    case "lastLogin":
      return v.lastLoginAt ? Date.parse(v.lastLoginAt) : 0;
    case "status":
      return MEMBER_PHASES.indexOf(v.status);
  }
}

type Key = [string | number, string];
const compareKeys = (a: Key, b: Key) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);

const encodeCursor = (k: Key) => Buffer.from(JSON.stringify(k)).toString("base64url");
function decodeCursor(cursor: string): Key {
  try {
    const k = JSON.parse(Buffer.from(cursor, "base64url").toString());
    if (Array.isArray(k) && k.length === 2 && typeof k[1] === "string") return k as Key;
  } catch {
    // reported below
  }
  throw new ApiError(400, "validation_failed", "Invalid cursor", {
    fields: [{ path: "/query/cursor", message: "is not a cursor this API returned" }],
  });
}

export type ListQuery = {
  q?: string;
  role?: string;
  status?: string;
  sort: Sort;
  order: "asc" | "desc";
  limit: number;
  cursor?: string;
};

type Keyed = { v: View; k: Key };

/** The views in one order, with their sort keys. */
export function sortViews(views: readonly View[], sort: Sort, order: "asc" | "desc"): Keyed[] {
  const sign = order === "desc" ? -1 : 1;
  return views.map((v) => ({ v, k: [sortKey(v, sort), v.name] as Key })).sort((a, b) => sign * compareKeys(a.k, b.k));
}

/** One page of an already sorted list: filter, then continue after the cursor's position. */
export function listMembers(sorted: readonly Keyed[], query: ListQuery) {
  const q = query.q?.toLowerCase();
  const filtered =
    q || query.role || query.status
      ? sorted.filter(
          ({ v }) =>
            (!q || v.displayName.toLowerCase().includes(q) || v.email.toLowerCase().includes(q)) &&
            (!query.role || v.role === query.role) &&
            (!query.status || v.status === query.status),
        )
      : sorted;
  const sign = query.order === "desc" ? -1 : 1;
  const start = query.cursor ? firstAfter(filtered, decodeCursor(query.cursor), sign) : 0;
  const page = filtered.slice(start, start + query.limit);
  const last = page.at(-1);
  return {
    items: page.map((e) => e.v),
    total: filtered.length,
    nextCursor: last && start + query.limit < filtered.length ? encodeCursor(last.k) : null,
  };
}

/** Binary search: the index of the first entry that sorts after the cursor. */
function firstAfter(sorted: readonly Keyed[], after: Key, sign: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sign * compareKeys((sorted[mid] as Keyed).k, after) > 0) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Sorted member lists per org, rebuilt when the org's members or roles change (the
 * directory's version) or after a second (an invitation's phase turns Expired with time).
 * A first page is then a slice: at 10,000 members, sorting per request would cost ~10 ms of
 * the single event loop and pile up under concurrency.
 */
export class MemberLists {
  private readonly cache = new Map<
    string,
    { version: number; at: number; views: View[]; sorted: Map<string, Keyed[]> }
  >();
  private readonly s: Pick<Services, "directory" | "now">;

  constructor(s: Pick<Services, "directory" | "now">) {
    this.s = s;
  }

  sorted(org: string, sort: Sort, order: "asc" | "desc"): Keyed[] {
    const now = this.s.now();
    const version = this.s.directory.version(org);
    let entry = this.cache.get(org);
    if (!entry || entry.version !== version || now - entry.at > 1000) {
      const date = new Date(now);
      const views = this.s.directory.membersOf(org).map((m) => memberView(this.s.directory, org, m, date));
      entry = { version, at: now, views, sorted: new Map() };
      this.cache.set(org, entry);
    }
    const key = `${sort}:${order}`;
    let list = entry.sorted.get(key);
    if (!list) {
      list = sortViews(entry.views, sort, order);
      entry.sorted.set(key, list);
    }
    return list;
  }
}

/** Names of the active Admins among `members` (the rule in @atrium/crds, the operator's too). */
export function adminsAmong(members: readonly MemberObj[], levelOf: (role: string) => number): string[] {
  return activeAdminsAmong(members, levelOf).map((m) => m.metadata.name);
}

const levelIn = (directory: Directory, org: string) => (role: string) => directory.role(org, role)?.spec.level ?? 0;

/** Names of the org's active Admins as this replica's caches see them (a first, cheap refusal). */
export function activeAdmins(directory: Directory, org: string): string[] {
  return adminsAmong(directory.membersOf(org), levelIn(directory, org));
}

/** The last-Admin rule on the members as the apiserver has them now (under the org's guard). */
const keepsAnAdmin = (directory: Directory, org: string, name: string, refusal: string) => (live: MemberObj[]) => {
  if (removesLastAdmin(adminsAmong(live, levelIn(directory, org)), name)) throw conflict(refusal);
};

const LAST_ADMIN = {
  demote: "This is the last Admin: make someone else Admin first",
  deactivate: "The last Admin cannot be deactivated",
  remove: "The last Admin cannot be removed",
};

export function targetMember(s: Services, org: string, name: string): MemberObj {
  const member = s.directory.member(org, name);
  if (!member) throw notFound(`Member "${name}"`);
  return member;
}

const rankOf = (s: Services, org: string, m: MemberObj) => ({
  email: normalizeEmail(m.spec.email),
  level: s.directory.role(org, m.spec.role)?.spec.level ?? 0,
});

export function assertMayActOn(actor: Actor, s: Services, org: string, member: MemberObj) {
  const verdict = mayActOn({ ...actor, email: normalizeEmail(actor.email) }, rankOf(s, org, member));
  if (!verdict.ok) throw forbidden(verdict.reason);
}

export const memberRoutes = (
  s: Services,
  lists = new MemberLists(s),
  guard = new AdminGuard(s.kube, { log: s.log }),
) => [
  route({
    method: "get",
    path: "/api/orgs/:org/members",
    summary: "List members: search, filter, sort, cursor pagination",
    tag: "members",
    auth: "any",
    permission: "members:view",
    params: OrgParams,
    query: ListQuery,
    response: { status: 200, schema: MemberPage },
    handler: async ({ params, query }) => {
      const q = query as ListQuery;
      return listMembers(lists.sorted(params.org, q.sort, q.order), q);
    },
  }),
  route({
    method: "get",
    path: "/api/orgs/:org/members/:member",
    summary: "A member's profile, role, effective permissions and recent activity",
    tag: "members",
    auth: "any",
    permission: "members:view",
    params: MemberParams,
    response: { status: 200, schema: MemberDetail },
    handler: async ({ params }) => {
      const m = targetMember(s, params.org, params.member);
      const email = normalizeEmail(m.spec.email);
      const events = await s.db.prisma.auditEvent.findMany({
        where: { org: params.org, actor: email },
        orderBy: { at: "desc" },
        take: 20,
      });
      return {
        member: memberView(s.directory, params.org, m, new Date(s.now())),
        permissions: [...s.directory.authorizer.permissionsOf(email, params.org)].sort(),
        activity: events.map((e) => ({ at: e.at.toISOString(), action: e.action, target: e.target, result: e.result })),
      };
    },
  }),
  route({
    method: "patch",
    path: "/api/orgs/:org/members/:member",
    summary: "Change a member's role, display name or active state",
    tag: "members",
    auth: "session",
    permission: "members:view",
    params: MemberParams,
    body: MemberPatch,
    response: { status: 200, schema: MemberView },
    errors: [409],
    audit: "members.update",
    handler: async ({ params, body, actor, setTarget }) => {
      const { org } = params;
      const m = targetMember(s, org, params.member);
      setTarget(`member/${m.metadata.name}`);
      assertMayActOn(actor, s, org, m);
      const spec: Record<string, unknown> = {};
      const admins = activeAdmins(s.directory, org);
      const name = m.metadata.name;
      let losesAdmin: string | undefined; // why, if this change could take an Admin away
      if (body.role !== undefined && body.role !== m.spec.role) {
        if (!actor.can("members:role")) throw forbidden("Changing roles needs the permission members:role");
        const role = s.directory.role(org, body.role);
        if (!role) throw invalidField("/body/role", `Role "${body.role}" does not exist`);
        const verdict = mayAssign(actor, { name: role.metadata.name, ...role.spec });
        if (!verdict.ok) throw forbidden(verdict.reason);
        if (role.spec.level < MAX_LEVEL) {
          if (removesLastAdmin(admins, name)) throw conflict(LAST_ADMIN.demote);
          losesAdmin = LAST_ADMIN.demote;
        }
        spec.role = body.role;
      }
      if (body.active !== undefined && body.active !== (m.spec.active !== false)) {
        if (!actor.can("members:deactivate")) throw forbidden("This needs the permission members:deactivate");
        if (!body.active) {
          if (removesLastAdmin(admins, name)) throw conflict(LAST_ADMIN.deactivate);
          losesAdmin ??= LAST_ADMIN.deactivate;
        }
        spec.active = body.active;
      }
      if (body.displayName !== undefined && body.displayName !== m.spec.displayName) {
        if (!actor.can("members:update")) throw forbidden("Editing profiles needs the permission members:update");
        spec.displayName = body.displayName;
      }
      if (!Object.keys(spec).length) return memberView(s.directory, org, m, new Date(s.now()));
      const write = () => s.kube.mergePatch<MemberObj>(R.member, name, namespaceFor(org), { spec });
      // The caches may lag a change another replica just made: decide again, serialized, live.
      const updated = losesAdmin
        ? await guard.serialize(org, keepsAnAdmin(s.directory, org, name, losesAdmin), write)
        : await write();
      await s.directory.observed(updated);
      if (spec.role !== undefined) {
        const roleName = (r: string) => s.directory.role(org, r)?.spec.displayName ?? r;
        s.notifications.publishLater(
          roleChangedNotice({
            org,
            member: name,
            version: updated.metadata.resourceVersion ?? String(s.now()),
            from: roleName(m.spec.role),
            to: roleName(updated.spec.role),
            by: actor.email,
          }),
          { emails: [m.spec.email] },
        );
      }
      return memberView(s.directory, org, updated, new Date(s.now()));
    },
  }),
  route({
    method: "delete",
    path: "/api/orgs/:org/members/:member",
    summary: "Remove a member (their API keys are revoked)",
    tag: "members",
    auth: "session",
    permission: "members:delete",
    params: MemberParams,
    response: { status: 204, schema: null },
    errors: [409],
    audit: "members.delete",
    handler: async ({ params, actor, setTarget }) => {
      const { org } = params;
      const m = targetMember(s, org, params.member);
      setTarget(`member/${m.metadata.name}`);
      assertMayActOn(actor, s, org, m);
      const name = m.metadata.name;
      if (removesLastAdmin(activeAdmins(s.directory, org), name)) throw conflict(LAST_ADMIN.remove);
      await guard.serialize(org, keepsAnAdmin(s.directory, org, name, LAST_ADMIN.remove), () =>
        s.kube.delete(R.member, name, namespaceFor(org)),
      );
      const now = new Date(s.now());
      // The same email could be invited again later; its old keys must stay dead.
      await s.db.prisma.apiKey.updateMany({
        where: { org, memberName: m.metadata.name, revokedAt: null },
        data: { revokedAt: now, revokedBy: actor.email },
      });
      await s.db.prisma.invitation.updateMany({
        where: { org, memberName: m.metadata.name, acceptedAt: null, revokedAt: null },
        data: { revokedAt: now },
      });
      await s.directory.forgotten(m);
    },
  }),
];
