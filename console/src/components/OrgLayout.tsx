// The frame of every organization page: a sidebar with the ORG tab, the organization switcher
// under it, the pages of the organization, and the signed-in user with logout. On narrow
// screens the sidebar folds behind a Menu button. The notifications bell sits beside the brand
// (in the top bar on narrow screens). The account page (/account, the person's own, in no
// organization) sits in the same frame, with the organization last opened in the switcher.
import { useQueryClient } from "@tanstack/react-query";
import { Link, Outlet, useLocation, useNavigate, useParams } from "@tanstack/react-router";
import { useEffect, useState } from "react";
import { api } from "../api/client.ts";
import { lastOrg, rememberOrg, useAccess, useMe, useOrgs } from "../lib/session.ts";
import s from "./layout.module.css";
import { NotificationsBell } from "./NotificationsBell.tsx";
import { Banner, Button, Card, EmptyState, ui } from "./ui.tsx";

const SECTIONS = [
  { path: "dashboard", to: "/orgs/$org/dashboard", label: "Dashboard", permission: undefined },
  { path: undefined, to: "/orgs/$org", label: "Overview", permission: "org:view" },
  { path: "members", to: "/orgs/$org/members", label: "Members", permission: "members:view" },
  { path: "roles", to: "/orgs/$org/roles", label: "Roles", permission: "roles:view" },
  { path: "apps", to: "/orgs/$org/apps", label: "Apps", permission: "apps:view" },
  { path: "marketplace", to: "/orgs/$org/marketplace", label: "Marketplace", permission: "marketplace:view" },
  { path: "api-keys", to: "/orgs/$org/api-keys", label: "API keys", permission: undefined },
  { path: "settings", to: "/orgs/$org/settings", label: "Settings", permission: "org:view" },
  { path: "help", to: "/orgs/$org/help", label: "Help", permission: undefined },
] as const;
type Section = (typeof SECTIONS)[number];

export function LogoutButton() {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [busy, setBusy] = useState(false);
  return (
    <Button
      small
      isDisabled={busy}
      onPress={async () => {
        setBusy(true);
        await api.POST("/api/auth/logout").catch(() => undefined);
        queryClient.clear();
        await navigate({ to: "/login", search: {} });
      }}
    >
      Log out
    </Button>
  );
}

/**
 * The organization switcher: a native select, the lightest accessible choice (the layout is on
 * every first visit; react-aria's Select would add its collection and overlay code to it).
 */
function OrgSwitcher({ current }: { current: string }) {
  const orgs = useOrgs().data ?? [];
  const navigate = useNavigate();
  const location = useLocation();
  // Keep the section (members, roles, ...) when switching; a member's page belongs to its org.
  const segment = location.pathname.split("/")[3];
  const section: Section = SECTIONS.find((x) => x.path === segment) ?? SECTIONS[0];
  return (
    <div className={s.switcher}>
      <label className={ui.label} htmlFor="org-switcher">
        Organization
      </label>
      <select
        id="org-switcher"
        className={`${ui.input} ${s.switcherSelect}`}
        value={current}
        onChange={(e) => {
          const org = e.currentTarget.value;
          if (org === current) return;
          rememberOrg(org);
          void navigate({ to: section.to, params: { org } });
        }}
      >
        {orgs.map((o) => (
          <option key={o.name} value={o.name}>
            {/* The role here is under the user's name below; a membership that cannot act says so. */}
            {o.canAct ? o.displayName : `${o.displayName} (${o.status})`}
          </option>
        ))}
      </select>
    </div>
  );
}

export function OrgLayout() {
  // No organization in the URL: the account page, framed by the organization last opened.
  const params: { org?: string } = useParams({ strict: false });
  const me = useMe().data;
  const orgs = useOrgs();
  const onAccount = params.org === undefined;
  const org = params.org ?? lastOrg(orgs.data ?? [])?.name ?? "";
  const access = useAccess(org);
  const [menuOpen, setMenuOpen] = useState(false);
  const location = useLocation();
  useEffect(() => {
    if (access) rememberOrg(org);
  }, [access, org]);
  // A page chosen from the menu closes it (on narrow screens).
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs on navigation
  useEffect(() => setMenuOpen(false), [location.pathname]);

  const entry = orgs.data?.find((o) => o.name === org);
  return (
    <div className={s.shell}>
      <a className={s.skip} href="#main">
        Skip to content
      </a>
      <header className={s.topbar}>
        <span className={s.brand}>Atrium</span>
        <div className={s.topbarRight}>
          <NotificationsBell className={s.narrowBell} />
          <Button small aria-expanded={menuOpen} aria-controls="sidebar" onPress={() => setMenuOpen(!menuOpen)}>
            {menuOpen ? "Close menu" : "Menu"}
          </Button>
        </div>
      </header>
      <aside id="sidebar" className={`${s.sidebar} ${menuOpen ? s.sidebarOpen : ""}`} aria-label="Sidebar">
        <div className={`${s.brandRow} ${s.sidebarBrand}`}>
          <span className={s.brand}>Atrium</span>
          <NotificationsBell className={s.wideBell} />
        </div>
        <nav aria-label="Workspace" className={s.tabs}>
          <Link to="/orgs/$org/dashboard" params={{ org }} className={s.tab} aria-current="page">
            Org
          </Link>
        </nav>
        {entry && <OrgSwitcher current={org} />}
        {org && (
          <nav aria-label="Organization" className={s.nav}>
            <ul>
              {SECTIONS.map((x) =>
                (x.permission && access && !access.can(x.permission)) || x.path === "help" ? null : (
                  <li key={x.to}>
                    <Link
                      to={x.to}
                      params={{ org }}
                      className={s.navLink}
                      activeOptions={{ exact: x.path === undefined }}
                      activeProps={{ className: `${s.navLink} ${s.navActive}`, "aria-current": "page" }}
                    >
                      {x.label}
                    </Link>
                  </li>
                ),
              )}
              <li className={s.navSeparator}>
                <Link
                  to="/orgs/$org/help"
                  params={{ org }}
                  className={s.navLink}
                  activeProps={{ className: `${s.navLink} ${s.navActive}`, "aria-current": "page" }}
                >
                  Help
                </Link>
              </li>
            </ul>
          </nav>
        )}
        <div className={s.user}>
          <div className={s.userName}>{me?.name}</div>
          <div className={s.userEmail}>{me?.email}</div>
          {entry && !onAccount && <div className={s.userEmail}>{entry.roleDisplayName}</div>}
          <div className={s.userActions}>
            <Link to="/account" className={s.accountLink} activeProps={{ "aria-current": "page" }}>
              Your account
            </Link>
            <LogoutButton />
          </div>
        </div>
      </aside>
      <main id="main" className={s.main} tabIndex={-1}>
        {onAccount ? (
          <Outlet />
        ) : !entry ? (
          <Card>
            <EmptyState title="Organization not found">
              <p>
                You are not a member of “{org}”, or it does not exist. <Link to="/">Go to your organization</Link>
              </p>
            </EmptyState>
          </Card>
        ) : (
          <>
            {!entry.canAct && (
              <Banner tone="warning">
                Your membership here is {entry.status}: you cannot act in {entry.displayName} until an Admin changes
                that.
              </Banner>
            )}
            <Outlet />
          </>
        )}
      </main>
    </div>
  );
}
