// The organization's own pages (dashboard, overview, settings) and the notifications bell:
// query keys and queries, on the typed client.
import { queryOptions } from "@tanstack/react-query";
import { ApiProblem, api, type ExportJob, type PlatformStats, unwrap } from "../api/client.ts";

export const USAGE_DAYS = [7, 30, 90] as const;
export type UsageDays = (typeof USAGE_DAYS)[number];

export const workspaceKeys = {
  org: (org: string) => ["orgs", org, "organization"] as const,
  overview: (org: string) => ["orgs", org, "overview"] as const,
  usage: (org: string, days: UsageDays) => ["orgs", org, "usage", days] as const,
  economics: (org: string) => ["orgs", org, "economics"] as const,
  billingDetails: (org: string) => ["orgs", org, "billing", "details"] as const,
  invoices: (org: string) => ["orgs", org, "billing", "invoices"] as const,
  exports: (org: string) => ["orgs", org, "exports"] as const,
  myExports: ["me", "exports"] as const,
  /** An organization's overrides, or (no org) the person's defaults. */
  preferences: (org?: string) => ["me", "notification-preferences", org ?? ""] as const,
  notifications: ["me", "notifications"] as const,
  platformStats: ["platform", "stats"] as const,
};

export const orgQuery = (org: string) =>
  queryOptions({
    queryKey: workspaceKeys.org(org),
    queryFn: () => unwrap(api.GET("/api/orgs/{org}", { params: { path: { org } } })),
  });

export const overviewQuery = (org: string) =>
  queryOptions({
    queryKey: workspaceKeys.overview(org),
    queryFn: () => unwrap(api.GET("/api/orgs/{org}/overview", { params: { path: { org } } })),
  });

export const usageQuery = (org: string, days: UsageDays) =>
  queryOptions({
    queryKey: workspaceKeys.usage(org, days),
    queryFn: () => unwrap(api.GET("/api/orgs/{org}/usage", { params: { path: { org }, query: { days } } })),
    placeholderData: (previous) => previous,
  });

export const economicsQuery = (org: string) =>
  queryOptions({
    queryKey: workspaceKeys.economics(org),
    queryFn: () => unwrap(api.GET("/api/orgs/{org}/economics", { params: { path: { org } } })),
  });

/** The platform's figures, or null for anyone who is not a platform administrator (403). */
export const platformStatsQuery = queryOptions({
  queryKey: workspaceKeys.platformStats,
  queryFn: async (): Promise<PlatformStats | null> => {
    try {
      return await unwrap(api.GET("/api/platform/stats"));
    } catch (e) {
      if (e instanceof ApiProblem && (e.status === 403 || e.status === 404)) return null;
      throw e;
    }
  },
  staleTime: 60_000,
});

export const billingDetailsQuery = (org: string) =>
  queryOptions({
    queryKey: workspaceKeys.billingDetails(org),
    queryFn: () => unwrap(api.GET("/api/orgs/{org}/billing/details", { params: { path: { org } } })),
  });

export const invoicesQuery = (org: string) =>
  queryOptions({
    queryKey: workspaceKeys.invoices(org),
    queryFn: () => unwrap(api.GET("/api/orgs/{org}/invoices", { params: { path: { org } } })).then((r) => r.items),
  });

/** A scope's exports (an organization's, or the person's own), following one under way. */
const exportJobsQuery = (queryKey: readonly string[], list: () => Promise<ExportJob[]>) =>
  queryOptions({
    queryKey,
    queryFn: list,
    // While one is under way, follow its progress.
    refetchInterval: (q) => (q.state.data?.some((j) => j.state === "queued" || j.state === "running") ? 1000 : false),
  });
export type ExportJobsQuery = ReturnType<typeof exportJobsQuery>;

export const exportsQuery = (org: string) =>
  exportJobsQuery(workspaceKeys.exports(org), () =>
    unwrap(api.GET("/api/orgs/{org}/exports", { params: { path: { org } } })).then((r) => r.items),
  );

/** The person's own exports (GDPR, across organizations): the account page. */
export const myExportsQuery = exportJobsQuery(workspaceKeys.myExports, () =>
  unwrap(api.GET("/api/me/exports")).then((r) => r.items),
);

export const preferencesQuery = (org?: string) =>
  queryOptions({
    queryKey: workspaceKeys.preferences(org),
    queryFn: () => unwrap(api.GET("/api/me/notification-preferences", { params: { query: org ? { org } : {} } })),
  });

/** The bell: the newest notifications and the unread count, refreshed every half minute. */
export const notificationsQuery = queryOptions({
  queryKey: workspaceKeys.notifications,
  queryFn: () => unwrap(api.GET("/api/me/notifications")),
  refetchInterval: 30_000,
  staleTime: 15_000,
  retry: false,
});
