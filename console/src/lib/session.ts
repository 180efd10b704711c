// Who is signed in, the organizations they can switch between, and what they may do in each.
import { queryOptions, useQuery } from "@tanstack/react-query";
import type { Rank } from "../../../crds/src/rank.ts";
import { api, type Me, type OrgEntry, setCsrfToken, unwrap } from "../api/client.ts";

/** The caller, or null when nobody is signed in (the API says 401). */
export const meQuery = queryOptions({
  queryKey: ["me"],
  queryFn: async (): Promise<Me | null> => {
    const { data, response } = await api.GET("/api/me");
    if (response.status === 401) {
      setCsrfToken(null);
      return null;
    }
    if (!data) throw new Error(`GET /api/me answered ${response.status}`);
    setCsrfToken(data.csrfToken);
    return data;
  },
  staleTime: 60_000,
});

export const orgsQuery = queryOptions({
  queryKey: ["me", "organizations"],
  queryFn: () => unwrap(api.GET("/api/me/organizations")).then((r) => r.items),
  staleTime: 30_000,
});

export const useMe = () => useQuery(meQuery);
export const useOrgs = () => useQuery(orgsQuery);

const LAST_ORG = "atrium.lastOrg";

/** The organization the switcher opened last, so a return visit lands there. */
export function rememberOrg(org: string) {
  try {
    localStorage.setItem(LAST_ORG, org);
  } catch {
    // storage disabled: the console still works, it just forgets
  }
}

export function lastOrg(orgs: readonly OrgEntry[]): OrgEntry | undefined {
  let remembered: string | null = null;
  try {
    remembered = localStorage.getItem(LAST_ORG);
  } catch {
    // as above
  }
  return orgs.find((o) => o.name === remembered) ?? orgs.find((o) => o.canAct) ?? orgs[0];
}

export type Access = Rank & {
  org: OrgEntry;
  email: string;
  can(permission: string): boolean;
  /** Why the caller may not do it, for a disabled control's explanation. */
  lacks(permission: string): string | undefined;
};

export function accessIn(org: OrgEntry, email: string): Access {
  const permissions = new Set(org.permissions);
  return {
    org,
    email,
    level: org.level,
    permissions,
    can: (p) => permissions.has(p),
    lacks: (p) => (permissions.has(p) ? undefined : `Your role (${org.roleDisplayName}) lacks the permission ${p}`),
  };
}

/** The caller's access in an organization, once both queries have answered. */
export function useAccess(orgName: string): Access | undefined {
  const me = useMe().data;
  const org = useOrgs().data?.find((o) => o.name === orgName);
  return me && org ? accessIn(org, me.email) : undefined;
}
