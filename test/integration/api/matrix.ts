// The authorization matrix, as one table: each endpoint, what a call needs set up, the status
// on success, and exactly which built-in roles may do it. The test runs every row for every
// role, in the caller's own organization (allowed → the success status, else 403) and in an
// organization they do not belong to (always 404: it does not exist for them).
import { APP_ROWS } from "./matrix-apps.ts";
import { BILLING_ROWS } from "./matrix-billing.ts";
import { DASHBOARD_ROWS } from "./matrix-dashboard.ts";
import { DATAPLANE_ROWS } from "./matrix-dataplane.ts";
import { EXPORT_ROWS } from "./matrix-export.ts";
import { MARKETPLACE_ROWS } from "./matrix-marketplace.ts";
import { ORG_ROWS } from "./matrix-orgs.ts";
import { SETTINGS_ROWS } from "./matrix-settings.ts";
import type { RoleName, World } from "./world.ts";

export type Row = {
  name: string;
  method: string;
  /** Path with {org}; {target} and the body come from setup. */
  path: string;
  allowed: readonly RoleName[];
  success: number;
  /** Makes what the call acts on, fresh for each call (so deletes and edits do not interfere). */
  setup?: (w: World, org: string, role: RoleName) => Promise<{ target?: string; body?: unknown }>;
  body?: (role: RoleName) => unknown;
};

const ALL: RoleName[] = ["admin", "co-admin", "manager", "member", "viewer"];
const ADMINS: RoleName[] = ["admin", "co-admin"];
let n = 0;
const fresh = (what: string) => `${what}-${process.pid.toString(36)}-${(n++).toString(36)}`;

/** A viewer-level member below every actor (so only permissions decide). */
const viewerTarget = async (w: World, org: string) => ({
  target: await w.declareMember(org, `${fresh("t")}@target.example`, "viewer"),
});

/** A pending invitation at the default role, made by the Admin. */
const invitedTarget = async (w: World, org: string) => {
  const email = `${fresh("inv")}@target.example`;
  const r = await w.call(w.people.admin, "POST", `/api/orgs/${org}/members`, { email });
  if (r.status !== 201) throw new Error(`setup invite: ${r.status} ${JSON.stringify(r.body)}`);
  return { target: r.body.member.name as string };
};

const customRole = async (w: World, org: string) => {
  const name = fresh("role");
  const r = await w.call(w.people.admin, "POST", `/api/orgs/${org}/roles`, {
    name,
    displayName: name,
    level: 10,
    permissions: ["apps:view"],
  });
  if (r.status !== 201) throw new Error(`setup role: ${r.status} ${JSON.stringify(r.body)}`);
  return { target: name };
};

const adminsKey = async (w: World, org: string) => {
  const r = await w.call(w.people.admin, "POST", `/api/orgs/${org}/apikeys`, {
    name: fresh("key"),
    type: "STANDARD",
    scopes: ["apps:view"],
  });
  if (r.status !== 201) throw new Error(`setup key: ${r.status} ${JSON.stringify(r.body)}`);
  return { target: r.body.key.id as string };
};

export const MATRIX: Row[] = [
  { name: "list members", method: "GET", path: "/api/orgs/{org}/members", allowed: ALL, success: 200 },
  {
    name: "view a member",
    method: "GET",
    path: "/api/orgs/{org}/members/{target}",
    allowed: ALL,
    success: 200,
    setup: viewerTarget,
  },
  {
    name: "invite at the default role",
    method: "POST",
    path: "/api/orgs/{org}/members",
    allowed: ["admin", "co-admin", "manager"],
    success: 201,
    body: () => ({ email: `${fresh("new")}@invited.example` }),
  },
  {
    name: "edit a member's display name",
    method: "PATCH",
    path: "/api/orgs/{org}/members/{target}",
    allowed: ADMINS,
    success: 200,
    setup: viewerTarget,
    body: () => ({ displayName: "Renamed" }),
  },
  {
    name: "change a member's role",
    method: "PATCH",
    path: "/api/orgs/{org}/members/{target}",
    allowed: ADMINS,
    success: 200,
    setup: viewerTarget,
    body: () => ({ role: "member" }),
  },
  {
    name: "deactivate a member",
    method: "PATCH",
    path: "/api/orgs/{org}/members/{target}",
    allowed: ADMINS,
    success: 200,
    setup: viewerTarget,
    body: () => ({ active: false }),
  },
  {
    name: "remove a member",
    method: "DELETE",
    path: "/api/orgs/{org}/members/{target}",
    allowed: ADMINS,
    success: 204,
    setup: viewerTarget,
  },
  {
    name: "resend an invitation",
    method: "POST",
    path: "/api/orgs/{org}/members/{target}/invitation",
    allowed: ["admin", "co-admin", "manager"],
    success: 200,
    setup: invitedTarget,
  },
  {
    name: "cancel an invitation",
    method: "DELETE",
    path: "/api/orgs/{org}/members/{target}/invitation",
    allowed: ["admin", "co-admin", "manager"],
    success: 204,
    setup: invitedTarget,
  },
  { name: "list roles", method: "GET", path: "/api/orgs/{org}/roles", allowed: ALL, success: 200 },
  {
    name: "create a custom role",
    method: "POST",
    path: "/api/orgs/{org}/roles",
    allowed: ADMINS,
    success: 201,
    body: () => {
      const name = fresh("custom");
      return { name, displayName: name, level: 5, permissions: ["apps:view"] };
    },
  },
  {
    name: "edit a custom role",
    method: "PATCH",
    path: "/api/orgs/{org}/roles/{target}",
    allowed: ADMINS,
    success: 200,
    setup: customRole,
    body: () => ({ permissions: ["apps:view", "members:view"] }),
  },
  {
    name: "delete an unused custom role",
    method: "DELETE",
    path: "/api/orgs/{org}/roles/{target}",
    allowed: ADMINS,
    success: 204,
    setup: customRole,
  },
  { name: "list API keys", method: "GET", path: "/api/orgs/{org}/apikeys", allowed: ALL, success: 200 },
  {
    name: "create an API key",
    method: "POST",
    path: "/api/orgs/{org}/apikeys",
    allowed: ["admin", "co-admin", "manager", "member"],
    success: 201,
    body: () => ({ name: "ci", type: "STANDARD", scopes: ["apps:view"] }),
  },
  {
    name: "revoke someone else's API key",
    method: "DELETE",
    path: "/api/orgs/{org}/apikeys/{target}",
    allowed: ADMINS,
    success: 204,
    setup: adminsKey,
  },
  { name: "read the audit log", method: "GET", path: "/api/orgs/{org}/audit", allowed: ADMINS, success: 200 },
  ...MARKETPLACE_ROWS,
  ...APP_ROWS,
  ...BILLING_ROWS,
  ...ORG_ROWS,
  ...SETTINGS_ROWS,
  ...DASHBOARD_ROWS,
  ...EXPORT_ROWS,
  ...DATAPLANE_ROWS,
];
