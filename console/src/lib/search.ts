// The members page's and the marketplace's state in their URLs (here, not with their pages,
// as the router needs them on first visit).
// Members: ?q=&role=&status=&sort=&order=&page=
export const MEMBER_SORTS = ["name", "email", "role", "lastLogin", "status"] as const;
export const MEMBER_STATUSES = ["Active", "Invited", "Deactivated", "Expired"] as const;
export type MemberSort = (typeof MEMBER_SORTS)[number];
export type MemberStatus = (typeof MEMBER_STATUSES)[number];

export type MemberSearch = {
  q?: string;
  role?: string;
  status?: MemberStatus;
  sort?: MemberSort;
  order?: "asc" | "desc";
  page?: number;
};

const oneOf = <T extends string>(list: readonly T[], v: unknown): T | undefined =>
  list.includes(v as T) ? (v as T) : undefined;

/** Anything else in the URL is dropped rather than sent on to the API. */
export function parseMemberSearch(raw: Record<string, unknown>): MemberSearch {
  const out: MemberSearch = {};
  if (typeof raw.q === "string" && raw.q.trim()) out.q = raw.q.slice(0, 100);
  if (typeof raw.role === "string" && /^[a-z0-9-]{1,63}$/.test(raw.role)) out.role = raw.role;
  const status = oneOf(MEMBER_STATUSES, raw.status);
  if (status) out.status = status;
  const sort = oneOf(MEMBER_SORTS, raw.sort);
  if (sort) out.sort = sort;
  const order = oneOf(["asc", "desc"] as const, raw.order);
  if (order) out.order = order;
  const page = Number(raw.page);
  if (Number.isInteger(page) && page > 1 && page <= 10_000) out.page = page;
  return out;
}

export const MARKET_SORTS = ["relevance", "name", "popularity", "price"] as const;
export const PRICE_VIEWS = ["monthly", "annual", "one-time", "lifetime"] as const;
export type MarketSort = (typeof MARKET_SORTS)[number];
export type PriceView = (typeof PRICE_VIEWS)[number];
export type MarketSearch = { q?: string; category?: string; sort?: MarketSort; price?: PriceView };

/** The marketplace's state in its URL: ?q=&category=&sort=&price= (anything else dropped). */
export function parseMarketSearch(raw: Record<string, unknown>): MarketSearch {
  const out: MarketSearch = {};
  if (typeof raw.q === "string" && raw.q.trim()) out.q = raw.q.slice(0, 100);
  if (typeof raw.category === "string" && /^[A-Za-z &-]{1,40}$/.test(raw.category)) out.category = raw.category;
  const sort = oneOf(MARKET_SORTS, raw.sort);
  if (sort) out.sort = sort;
  const price = oneOf(PRICE_VIEWS, raw.price);
  if (price) out.price = price;
  return out;
}

// Installed apps: ?q=&status=&page= (status is the app's phase, as the API filters it).
export const APP_STATUSES = ["Running", "Starting", "Stopped", "Failed", "Pending"] as const;
export type AppStatus = (typeof APP_STATUSES)[number];
export type AppsSearch = { q?: string; status?: AppStatus; page?: number };

export function parseAppsSearch(raw: Record<string, unknown>): AppsSearch {
  const out: AppsSearch = {};
  if (typeof raw.q === "string" && raw.q.trim()) out.q = raw.q.slice(0, 100);
  const status = oneOf(APP_STATUSES, raw.status);
  if (status) out.status = status;
  const page = Number(raw.page);
  if (Number.isInteger(page) && page > 1 && page <= 10_000) out.page = page;
  return out;
}

// The dashboard: ?days=7|30|90 (30 unless said).
export type DashboardSearch = { days?: 7 | 90 };
export function parseDashboardSearch(raw: Record<string, unknown>): DashboardSearch {
  const days = Number(raw.days);
  return days === 7 || days === 90 ? { days } : {};
}
