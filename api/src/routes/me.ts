// The caller: who they are, and the organizations they can switch between.
import { mayAct, memberPhase } from "@atrium/crds";
import { Type } from "@sinclair/typebox";
import type { Services } from "../app.ts";
import { route } from "../http/route.ts";
import { isPlatformAdmin } from "../orgs/platform.ts";

const Me = Type.Object({
  kind: Type.Union([Type.Literal("session"), Type.Literal("apikey")]),
  email: Type.String(),
  name: Type.String(),
  csrfToken: Type.Union([Type.String(), Type.Null()], { description: "Send as X-CSRF-Token on writes" }),
  platformAdmin: Type.Boolean({
    description: "A platform administrator (ATRIUM_PLATFORM_ADMINS): the console asks for the platform's figures",
  }),
});

const OrgEntry = Type.Object({
  name: Type.String(),
  displayName: Type.String(),
  role: Type.String(),
  roleDisplayName: Type.String(),
  status: Type.String(),
  canAct: Type.Boolean(),
  level: Type.Integer({ description: "The rank of the caller's role" }),
  permissions: Type.Array(Type.String(), {
    description: "What the caller may do here (none unless active): the console hides what it may not",
  }),
});

export const meRoutes = (s: Services) => [
  route({
    method: "get",
    path: "/api/me",
    summary: "The caller",
    tag: "me",
    auth: "any",
    response: { status: 200, schema: Me },
    handler: async ({ principal }) =>
      principal.kind === "session"
        ? {
            kind: "session",
            email: principal.email,
            name: principal.name,
            csrfToken: principal.csrfToken,
            platformAdmin: isPlatformAdmin(s.config.platformAdmins, principal),
          }
        : {
            kind: "apikey",
            email: principal.email,
            name: `API key ${principal.keyId}`,
            csrfToken: null,
            platformAdmin: false,
          },
  }),
  route({
    method: "get",
    path: "/api/me/organizations",
    summary: "Organizations the caller belongs to (for switching)",
    tag: "me",
    auth: "any",
    response: { status: 200, schema: Type.Object({ items: Type.Array(OrgEntry) }) },
    handler: async ({ principal }) => {
      const orgs = principal.kind === "apikey" ? [principal.org] : s.directory.orgsOf(principal.email);
      const now = new Date(s.now());
      const items = orgs.flatMap((org) => {
        const m = s.directory.memberByEmail(org, principal.email);
        if (!m) return [];
        const role = s.directory.role(org, m.spec.role);
        return [
          {
            name: org,
            displayName: s.directory.organization(org)?.spec.displayName ?? org,
            role: m.spec.role,
            roleDisplayName: role?.spec.displayName ?? m.spec.role,
            status: memberPhase(m, now),
            canAct: mayAct(m),
            level: role?.spec.level ?? 0,
            permissions: [...s.directory.authorizer.permissionsOf(principal.email, org)].sort(),
          },
        ];
      });
      return { items };
    },
  }),
];
