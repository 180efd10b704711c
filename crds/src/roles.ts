// The built-in roles every organization gets, highest rank first. The level orders them:
// a member may only act on members of a lower level, and only the Admin role sits at 100.
import { PERMISSIONS, type Permission } from "./permissions.ts";

export type BuiltInRole = {
  name: string;
  displayName: string;
  level: number;
  description: string;
  permissions: readonly Permission[];
};

export const MAX_LEVEL = 100;

const VIEW: Permission[] = [
  "org:view",
  "members:view",
  "roles:view",
  "apps:view",
  "marketplace:view",
  "dashboard:view",
];

const without = (...drop: Permission[]) => PERMISSIONS.filter((p) => !drop.includes(p));

export const BUILT_IN_ROLES: readonly BuiltInRole[] = [
  {
    name: "admin",
    displayName: "Admin",
    level: MAX_LEVEL,
    description: "Full control of the organization, including billing and deletion.",
    permissions: PERMISSIONS,
  },
  {
    name: "co-admin",
    displayName: "Co-Admin",
    level: 80,
    description: "Runs the organization day to day; cannot delete it or change billing.",
    permissions: without("org:delete", "billing:manage"),
  },
  {
    name: "manager",
    displayName: "Manager",
    level: 60,
    description: "Manages apps and invites members; assigns no roles.",
    permissions: [
      ...VIEW,
      "members:invite",
      "apps:access",
      "apps:install",
      "apps:configure",
      "apps:restart",
      "apps:logs",
      "apikeys:view",
      "apikeys:create",
      "billing:view",
    ],
  },
  {
    name: "member",
    displayName: "Member",
    level: 40,
    description: "Uses the organization's apps.",
    permissions: [...VIEW, "apps:access", "apikeys:create"],
  },
  {
    name: "viewer",
    displayName: "Viewer",
    level: 20,
    description: "Read-only access.",
    permissions: VIEW,
  },
];

/** The role a new invitation gets when the inviter names none. */
export const DEFAULT_ROLE = "member";
