// Query keys per resource, so a write invalidates exactly what it changed.
import { type QueryClient, queryOptions } from "@tanstack/react-query";
import { api, type MemberPage, unwrap } from "../api/client.ts";
import type { MemberSearch } from "./search.ts";

export const PAGE_SIZE = 25;

export const keys = {
  members: (org: string) => ["orgs", org, "members"] as const,
  member: (org: string, name: string) => ["orgs", org, "members", "detail", name] as const,
  roles: (org: string) => ["orgs", org, "roles"] as const,
  apiKeys: (org: string) => ["orgs", org, "apikeys"] as const,
};

type Filters = Omit<MemberSearch, "page">;

/**
 * One page of members. The API pages by cursor; page N's cursor is page N-1's nextCursor, so a
 * deep link to ?page=3 asks for pages 1 and 2 first (each then cached for Previous and Next).
 */
export function membersPageQuery(queryClient: QueryClient, org: string, filters: Filters, page: number) {
  return queryOptions({
    queryKey: [...keys.members(org), "list", filters, page] as const,
    queryFn: async (): Promise<MemberPage> => {
      let cursor: string | undefined;
      if (page > 1) {
        const previous = await queryClient.fetchQuery(membersPageQuery(queryClient, org, filters, page - 1));
        if (!previous.nextCursor) return { items: [], total: previous.total, nextCursor: null };
        cursor = previous.nextCursor;
      }
      return unwrap(
        api.GET("/api/orgs/{org}/members", {
          params: {
            path: { org },
            query: {
              ...filters,
              limit: PAGE_SIZE,
              ...(cursor ? { cursor } : {}),
            },
          },
        }),
      );
    },
    placeholderData: (previous) => previous,
  });
}

export const memberQuery = (org: string, name: string) =>
  queryOptions({
    queryKey: keys.member(org, name),
    queryFn: () => unwrap(api.GET("/api/orgs/{org}/members/{member}", { params: { path: { org, member: name } } })),
  });

export const rolesQuery = (org: string) =>
  queryOptions({
    queryKey: keys.roles(org),
    queryFn: () => unwrap(api.GET("/api/orgs/{org}/roles", { params: { path: { org } } })).then((r) => r.items),
  });

export const apiKeysQuery = (org: string) =>
  queryOptions({
    queryKey: keys.apiKeys(org),
    queryFn: () => unwrap(api.GET("/api/orgs/{org}/apikeys", { params: { path: { org } } })).then((r) => r.items),
  });
