// The marketplace and installed apps: query keys and queries (prices: prices.ts; what an
// app's state means in words: app-status.ts).
import { infiniteQueryOptions, type QueryClient, queryOptions } from "@tanstack/react-query";
import { type AppDetail, type AppList, api, type MarketPage, unwrap } from "../api/client.ts";
import type { AppsSearch, MarketSearch } from "./search.ts";

export const appKeys = {
  market: (org: string) => ["orgs", org, "marketplace"] as const,
  template: (org: string, name: string) => ["orgs", org, "marketplace", "detail", name] as const,
  apps: (org: string) => ["orgs", org, "apps"] as const,
  app: (org: string, name: string) => ["orgs", org, "apps", "detail", name] as const,
};

export const MARKET_PAGE = 24;

/** Pages of the marketplace, by the API's cursor ("Load more" asks for the next). */
export const marketQuery = (org: string, search: Omit<MarketSearch, "price">) =>
  infiniteQueryOptions({
    queryKey: [...appKeys.market(org), "list", search] as const,
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }): Promise<MarketPage> =>
      unwrap(
        api.GET("/api/orgs/{org}/marketplace/apps", {
          params: {
            path: { org },
            query: {
              ...(search.q ? { q: search.q } : {}),
              ...(search.category ? { category: search.category as never } : {}),
              ...(search.sort ? { sort: search.sort } : {}),
              limit: MARKET_PAGE,
              ...(pageParam ? { cursor: pageParam } : {}),
            },
          },
        }),
      ),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    placeholderData: (previous) => previous,
  });

export const templateQuery = (org: string, name: string) =>
  queryOptions({
    queryKey: appKeys.template(org, name),
    queryFn: () =>
      unwrap(api.GET("/api/orgs/{org}/marketplace/apps/{template}", { params: { path: { org, template: name } } })),
  });

export const APPS_PAGE = 25;

/**
 * One page of installed apps, by the API's cursor: page N's cursor is page N-1's nextCursor, so
 * a deep link to ?page=3 asks for pages 1 and 2 first (each then cached for Previous and Next).
 */
export function appsPageQuery(queryClient: QueryClient, org: string, filters: Omit<AppsSearch, "page">, page: number) {
  return queryOptions({
    queryKey: [...appKeys.apps(org), "list", filters, page] as const,
    queryFn: async (): Promise<AppList> => {
      let cursor: string | undefined;
      if (page > 1) {
        const previous = await queryClient.fetchQuery(appsPageQuery(queryClient, org, filters, page - 1));
        if (!previous.nextCursor) return { ...previous, items: [], nextCursor: null };
        cursor = previous.nextCursor;
      }
      return unwrap(
        api.GET("/api/orgs/{org}/apps", {
          params: {
            path: { org },
            query: {
              sort: "name",
              limit: APPS_PAGE,
              ...(filters.q ? { q: filters.q } : {}),
              ...(filters.status ? { status: filters.status } : {}),
              ...(cursor ? { cursor } : {}),
            },
          },
        }),
      );
    },
    placeholderData: (previous) => previous,
  });
}

export const appQuery = (org: string, name: string) =>
  queryOptions({
    queryKey: appKeys.app(org, name),
    queryFn: (): Promise<AppDetail> =>
      unwrap(api.GET("/api/orgs/{org}/apps/{app}", { params: { path: { org, app: name } } })),
  });
