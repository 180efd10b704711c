// Routes in code (no router plugin): the URL says which organization and page, and the
// list pages' search, filters, sort and page live in their search parameters, so links,
// reloads and back/forward land where they should. Pages load lazily, one chunk each.
import type { QueryClient } from "@tanstack/react-query";
import {
  createRootRouteWithContext,
  createRoute,
  createRouter,
  lazyRouteComponent,
  Outlet,
  redirect,
} from "@tanstack/react-router";
import { NotFoundPage } from "./components/NotFound.tsx";
import { OrgLayout } from "./components/OrgLayout.tsx";
import { parseAppsSearch, parseDashboardSearch, parseMarketSearch, parseMemberSearch } from "./lib/search.ts";
import { lastOrg, meQuery, orgsQuery } from "./lib/session.ts";
import { LoginPage } from "./pages/LoginPage.tsx";
import { NoOrganizationPage } from "./pages/NoOrganizationPage.tsx";

type Context = { queryClient: QueryClient };

const rootRoute = createRootRouteWithContext<Context>()({
  component: Outlet,
  notFoundComponent: NotFoundPage,
});

/** Pages behind the login: nobody signed in goes to /login and comes back after it. */
async function requireLogin(context: Context, href: string) {
  const me = await context.queryClient.ensureQueryData(meQuery);
  if (!me) throw redirect({ to: "/login", search: { returnTo: href } });
  return me;
}

const indexRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: "/",
  beforeLoad: async ({ context, location }) => {
    await requireLogin(context, location.href);
    const orgs = await context.queryClient.ensureQueryData(orgsQuery);
    const org = lastOrg(orgs);
    if (org) throw redirect({ to: "/orgs/$org/dashboard", params: { org: org.name } });
  },
  component: NoOrganizationPage,
});

const loginRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: "/login",
  validateSearch: (search: Record<string, unknown>): { returnTo?: string } =>
    typeof search.returnTo === "string" && search.returnTo.startsWith("/") ? { returnTo: search.returnTo } : {},
  component: LoginPage,
});

export const orgRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: "/orgs/$org",
  beforeLoad: async ({ context, location }) => {
    await requireLogin(context, location.href);
    await context.queryClient.ensureQueryData(orgsQuery);
  },
  component: OrgLayout,
});

/** The person's own page (data export, default notification preferences), in no organization. */
const accountRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: "/account",
  beforeLoad: async ({ context, location }) => {
    await requireLogin(context, location.href);
    await context.queryClient.ensureQueryData(orgsQuery);
  },
  component: OrgLayout,
});

const accountIndexRoute = createRoute({
  getParentRoute: () => accountRoute,
  path: "/",
  component: lazyRouteComponent(() => import("./pages/AccountPage.tsx"), "AccountPage"),
});

const orgIndexRoute = createRoute({
  getParentRoute: () => orgRoute,
  path: "/",
  component: lazyRouteComponent(() => import("./pages/OverviewPage.tsx"), "OverviewPage"),
});

const dashboardRoute = createRoute({
  getParentRoute: () => orgRoute,
  path: "dashboard",
  validateSearch: parseDashboardSearch,
  component: lazyRouteComponent(() => import("./pages/DashboardPage.tsx"), "DashboardPage"),
});

const settingsRoute = createRoute({
  getParentRoute: () => orgRoute,
  path: "settings",
  component: lazyRouteComponent(() => import("./pages/SettingsPage.tsx"), "SettingsPage"),
});

const membersRoute = createRoute({
  getParentRoute: () => orgRoute,
  path: "members",
  validateSearch: parseMemberSearch,
  component: lazyRouteComponent(() => import("./pages/MembersPage.tsx"), "MembersPage"),
});

const memberRoute = createRoute({
  getParentRoute: () => orgRoute,
  path: "members/$member",
  component: lazyRouteComponent(() => import("./pages/MemberPage.tsx"), "MemberPage"),
});

const rolesRoute = createRoute({
  getParentRoute: () => orgRoute,
  path: "roles",
  component: lazyRouteComponent(() => import("./pages/RolesPage.tsx"), "RolesPage"),
});

const apiKeysRoute = createRoute({
  getParentRoute: () => orgRoute,
  path: "api-keys",
  component: lazyRouteComponent(() => import("./pages/ApiKeysPage.tsx"), "ApiKeysPage"),
});

const marketplaceRoute = createRoute({
  getParentRoute: () => orgRoute,
  path: "marketplace",
  validateSearch: parseMarketSearch,
  component: lazyRouteComponent(() => import("./pages/MarketplacePage.tsx"), "MarketplacePage"),
});

const marketAppRoute = createRoute({
  getParentRoute: () => orgRoute,
  path: "marketplace/$template",
  component: lazyRouteComponent(() => import("./pages/MarketplacePage.tsx"), "MarketAppPage"),
});

const appsRoute = createRoute({
  getParentRoute: () => orgRoute,
  path: "apps",
  validateSearch: parseAppsSearch,
  component: lazyRouteComponent(() => import("./pages/AppsPage.tsx"), "AppsPage"),
});

const appRoute = createRoute({
  getParentRoute: () => orgRoute,
  path: "apps/$app",
  component: lazyRouteComponent(() => import("./pages/AppPage.tsx"), "AppPage"),
});

const helpRoute = createRoute({
  getParentRoute: () => orgRoute,
  path: "help",
  component: lazyRouteComponent(() => import("./pages/HelpPage.tsx"), "HelpPage"),
});

// Paths that notices and quick actions of the API name in their own words (api/src/notifications,
// api/src/dashboard): each lands on the console page that shows it.
const aliasRoutes = [
  createRoute({
    getParentRoute: () => orgRoute,
    path: "apikeys",
    beforeLoad: ({ params }) => {
      throw redirect({ to: "/orgs/$org/api-keys", params, replace: true });
    },
  }),
  createRoute({
    getParentRoute: () => orgRoute,
    path: "billing",
    beforeLoad: ({ params }) => {
      throw redirect({ to: "/orgs/$org/settings", params, hash: "billing", replace: true });
    },
  }),
  createRoute({
    getParentRoute: () => orgRoute,
    path: "audit",
    beforeLoad: ({ params }) => {
      throw redirect({ to: "/orgs/$org", params, replace: true });
    },
  }),
];

const routeTree = rootRoute.addChildren([
  indexRoute,
  loginRoute,
  accountRoute.addChildren([accountIndexRoute]),
  orgRoute.addChildren([
    orgIndexRoute,
    dashboardRoute,
    membersRoute,
    memberRoute,
    rolesRoute,
    appsRoute,
    appRoute,
    marketplaceRoute,
    marketAppRoute,
    apiKeysRoute,
    settingsRoute,
    helpRoute,
    ...aliasRoutes,
  ]),
]);

export function makeRouter(queryClient: QueryClient) {
  return createRouter({
    routeTree,
    context: { queryClient },
    defaultPreload: "intent",
    scrollRestoration: true,
  });
}

declare module "@tanstack/react-router" {
  interface Register {
    router: ReturnType<typeof makeRouter>;
  }
}
