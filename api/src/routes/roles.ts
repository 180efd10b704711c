// Roles: the five built-ins (immutable) and custom roles defined from the permission catalog,
// never above the definer's rank or permissions. A role in use is deleted only with a
// reassignment of its members.
import { mayAssign, mayDefineRole, namespaceFor, type OrgRole } from "@atrium/crds";
import { isConflict, R } from "@atrium/kube";
import { Type } from "@sinclair/typebox";
import type { Services } from "../app.ts";
import type { Actor } from "../auth/principal.ts";
import type { MemberObj, RoleObj } from "../authz/directory.ts";
import { conflict, forbidden, invalidField, notFound } from "../http/errors.ts";
import { route } from "../http/route.ts";
import { DisplayName, Name, OrgParams, Permission, RoleParams, RoleView, roleView } from "./views.ts";

const Level = Type.Integer({ minimum: 1, maximum: 99, description: "Rank; below your own" });
const Permissions = Type.Array(Permission, { maxItems: 64, uniqueItems: true });
const Description = Type.String({ maxLength: 500 });

const RoleCreate = Type.Object(
  {
    name: Name("Role name (lowercase, digits, dashes)"),
    displayName: DisplayName,
    description: Type.Optional(Description),
    level: Level,
    permissions: Permissions,
  },
  { additionalProperties: false },
);
const RolePatch = Type.Object(
  {
    displayName: Type.Optional(DisplayName),
    description: Type.Optional(Description),
    level: Type.Optional(Level),
    permissions: Type.Optional(Permissions),
  },
  { additionalProperties: false, minProperties: 1 },
);

const memberCounts = (members: MemberObj[]) => {
  const counts = new Map<string, number>();
  for (const m of members) counts.set(m.spec.role, (counts.get(m.spec.role) ?? 0) + 1);
  return counts;
};

function customRole(s: Services, org: string, name: string, actor: Actor): RoleObj {
  const role = s.directory.role(org, name);
  if (!role) throw notFound(`Role "${name}"`);
  if (role.spec.builtIn) throw forbidden("Built-in roles cannot be changed or deleted");
  if (role.spec.level >= actor.level && actor.level < 100)
    throw forbidden("You can only change roles below your own rank");
  return role;
}

function assertDefinable(actor: Actor, shape: { level: number; permissions: readonly string[] }) {
  const verdict = mayDefineRole(actor, shape);
  if (!verdict.ok) throw forbidden(verdict.reason);
}

export const roleRoutes = (s: Services) => [
  route({
    method: "get",
    path: "/api/orgs/:org/roles",
    summary: "Roles with their level, permissions and member count, highest rank first",
    tag: "roles",
    auth: "any",
    permission: "roles:view",
    params: OrgParams,
    response: { status: 200, schema: Type.Object({ items: Type.Array(RoleView) }) },
    handler: async ({ params }) => {
      const counts = memberCounts(s.directory.membersOf(params.org));
      const items = s.directory
        .rolesOf(params.org)
        .map((r) => roleView(r, counts.get(r.metadata.name) ?? 0))
        .sort((a, b) => b.level - a.level || a.name.localeCompare(b.name));
      return { items };
    },
  }),
  route({
    method: "post",
    path: "/api/orgs/:org/roles",
    summary: "Create a custom role",
    tag: "roles",
    auth: "session",
    permission: "roles:create",
    params: OrgParams,
    body: RoleCreate,
    response: { status: 201, schema: RoleView },
    errors: [409],
    audit: "roles.create",
    handler: async ({ params, body, actor, setTarget }) => {
      setTarget(`role/${body.name}`);
      assertDefinable(actor, body);
      const spec: OrgRole["spec"] = {
        displayName: body.displayName,
        level: body.level,
        permissions: [...body.permissions],
        builtIn: false,
      };
      if (body.description) spec.description = body.description;
      try {
        const created = await s.kube.create<RoleObj>(R.orgRole, {
          metadata: { name: body.name, namespace: namespaceFor(params.org) },
          spec,
        } as RoleObj);
        await s.directory.observed(created);
        return roleView(created, 0);
      } catch (e) {
        if (isConflict(e)) throw conflict(`A role named "${body.name}" already exists`);
        throw e;
      }
    },
  }),
  route({
    method: "patch",
    path: "/api/orgs/:org/roles/:role",
    summary: "Edit a custom role",
    tag: "roles",
    auth: "session",
    permission: "roles:update",
    params: RoleParams,
    body: RolePatch,
    response: { status: 200, schema: RoleView },
    audit: "roles.update",
    handler: async ({ params, body, actor, setTarget }) => {
      setTarget(`role/${params.role}`);
      const role = customRole(s, params.org, params.role, actor);
      const next = { ...role.spec, ...body };
      assertDefinable(actor, next);
      const updated = await s.kube.mergePatch<RoleObj>(R.orgRole, params.role, namespaceFor(params.org), {
        spec: body,
      });
      await s.directory.observed(updated);
      const count = s.directory.membersOf(params.org).filter((m) => m.spec.role === params.role).length;
      return roleView(updated, count);
    },
  }),
  route({
    method: "delete",
    path: "/api/orgs/:org/roles/:role",
    summary: "Delete a custom role; members holding it move to reassignTo",
    tag: "roles",
    auth: "session",
    permission: "roles:delete",
    params: RoleParams,
    query: Type.Object({ reassignTo: Type.Optional(Name("Role for the members who hold this one")) }),
    response: { status: 204, schema: null },
    errors: [409],
    audit: "roles.delete",
    handler: async ({ params, query, actor, setTarget }) => {
      setTarget(`role/${params.role}`);
      customRole(s, params.org, params.role, actor);
      const holders = s.directory.membersOf(params.org).filter((m) => m.spec.role === params.role);
      if (holders.length) {
        if (!query.reassignTo)
          throw conflict(`${holders.length} member(s) hold this role: pass reassignTo=<role> to move them`);
        const target = s.directory.role(params.org, query.reassignTo);
        if (!target || query.reassignTo === params.role)
          throw invalidField("/query/reassignTo", `Role "${query.reassignTo}" cannot take the members`);
        if (!actor.can("members:role")) throw forbidden("Reassigning members needs the permission members:role");
        const verdict = mayAssign(actor, { name: target.metadata.name, ...target.spec });
        if (!verdict.ok) throw forbidden(verdict.reason);
        for (const m of holders) {
          const moved = await s.kube.mergePatch<MemberObj>(R.member, m.metadata.name, namespaceFor(params.org), {
            spec: { role: query.reassignTo },
          });
          await s.directory.observed(moved);
        }
      }
      const role = s.directory.role(params.org, params.role) as RoleObj;
      await s.kube.delete(R.orgRole, params.role, namespaceFor(params.org));
      await s.directory.forgotten(role);
    },
  }),
];
