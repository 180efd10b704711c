// The permission catalog: every action a role can allow, grouped the way the console shows
// them as checkboxes. Roles, API key scopes and Casbin policies all draw from this one list;
// the OrgRole schema only checks the `area:action` shape so that a newer catalog never makes
// stored roles invalid, and the operator reports unknown entries in a condition instead.

export const PERMISSION_GROUPS = [
  {
    id: "organization",
    label: "Organization",
    permissions: {
      "org:view": "View organization settings",
      "org:update": "Edit name, description and logo",
      "org:notifications": "Manage notification settings",
      "org:export": "Export organization data (GDPR)",
      "org:delete": "Delete the organization",
    },
  },
  {
    id: "billing",
    label: "Billing",
    permissions: {
      "billing:view": "View plans, invoices and the economic overview",
      "billing:manage": "Change billing details and subscriptions",
    },
  },
  {
    id: "members",
    label: "Members",
    permissions: {
      "members:view": "List and view members",
      "members:invite": "Invite members by email",
      "members:update": "Edit member profiles",
      "members:role": "Change a member's role",
      "members:deactivate": "Activate and deactivate members",
      "members:delete": "Remove members",
    },
  },
  {
    id: "roles",
    label: "Roles",
    permissions: {
      "roles:view": "View roles and their permissions",
      "roles:create": "Create custom roles",
      "roles:update": "Edit custom roles",
      "roles:delete": "Delete custom roles",
    },
  },
  {
    id: "apps",
    label: "Apps",
    permissions: {
      "apps:view": "View installed apps and their status",
      "apps:access": "Open apps limited to members",
      "apps:install": "Install apps from the marketplace",
      "apps:configure": "Change app settings, environment and access",
      "apps:restart": "Restart, stop and start apps",
      "apps:logs": "Read app logs",
      "apps:uninstall": "Uninstall apps",
    },
  },
  {
    id: "marketplace",
    label: "Marketplace",
    permissions: {
      "marketplace:view": "Browse the marketplace",
      "marketplace:purchase": "Buy plans and start trials",
    },
  },
  {
    id: "apikeys",
    label: "API keys",
    permissions: {
      "apikeys:view": "List API keys",
      "apikeys:create": "Create API keys",
      "apikeys:revoke": "Revoke API keys",
    },
  },
  {
    id: "insights",
    label: "Dashboard and audit",
    permissions: {
      "dashboard:view": "View the dashboard and usage",
      "audit:view": "Read the audit log",
    },
  },
] as const;

type Group = (typeof PERMISSION_GROUPS)[number];
export type Permission = { [G in Group as G["id"]]: keyof G["permissions"] }[Group["id"]];

export const PERMISSIONS: readonly Permission[] = PERMISSION_GROUPS.flatMap(
  (g) => Object.keys(g.permissions) as Permission[],
);

/** The shape every permission has; the schema enforces this much. */
export const PERMISSION_PATTERN = "^[a-z]+:[a-z]+$";

const known = new Set<string>(PERMISSIONS);
export const isPermission = (p: string): p is Permission => known.has(p);
