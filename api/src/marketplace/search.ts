// Catalog search as pure functions: fold text once per template when the catalog changes,
// match and rank a query, count categories, sort, and page with opaque cursors. Nothing here
// knows about HTTP or Kubernetes; the routes feed it templates and install counts.
import { APP_CATEGORIES, type AppCategory, type AppTemplate, type PricingInterval } from "@atrium/crds";
import { compareKeys, firstAfter, type Key, keyCursors } from "../http/cursor.ts";

export const SORTS = ["relevance", "name", "popularity", "price"] as const;
export type Sort = (typeof SORTS)[number];

/** Lower case without accents: "Nèxtcloud" and "NEXTCLOUD" both become "nextcloud". */
export const fold = (text: string): string =>
  text
    .normalize("NFD")
    .replace(/\p{M}+/gu, "")
    .toLowerCase();

/** Folded, with every run of non-letters/digits turned into one space, so words are " "-separated. */
const words = (text: string): string =>
  fold(text)
    .replace(/[^\p{L}\p{N}]+/gu, " ")
    .trim();

/** What a template's price sorts by: free first, then per currency, then the amount. */
export type PriceKey = { currency: string; amount: number };

/**
 * The lowest plan as one comparable figure. Currencies are never converted (no rates in the
 * catalog): prices sort by currency code first, then amount. Recurring plans count per month
 * (an annual plan's amount divided by 12, rounded up to a whole minor unit); one-time and
 * lifetime plans count at their face value, as they are paid once. A template without plans
 * (or with a plan of amount 0) is free: currency "" and amount 0, before every paid one.
 */
export function priceKey(template: Pick<AppTemplate, "spec">): PriceKey {
  const plans = template.spec.pricing?.plans ?? [];
  let best: PriceKey | undefined;
  for (const plan of plans) {
    const key = { currency: plan.currency, amount: comparableAmount(plan.interval, plan.amount) };
    if (key.amount === 0) return { currency: "", amount: 0 };
    if (!best || compareKeys([key.currency, key.amount], [best.currency, best.amount]) < 0) best = key;
  }
  return best ?? { currency: "", amount: 0 };
}

const comparableAmount = (interval: PricingInterval, amount: number) =>
  interval === "annual" ? Math.ceil(amount / 12) : amount;

/** A template with everything a request needs precomputed (built when the catalog changes). */
export type Entry<T extends AppTemplate = AppTemplate> = {
  template: T;
  name: string;
  category: AppCategory;
  /** The display name folded, for sorting by name ("Gitea" and "gitea" sort together). */
  sortName: string;
  /** The display name folded into " "-separated words: "open webui". */
  displayWords: string;
  /** The object name the same way: "open webui" for open-webui. */
  idWords: string;
  /** Both, for word and substring matches. */
  nameWords: string;
  description: string;
  price: PriceKey;
};

export function entryOf<T extends AppTemplate>(template: T): Entry<T> {
  const displayWords = words(template.spec.displayName);
  const idWords = words(template.metadata.name);
  return {
    template,
    name: template.metadata.name,
    category: template.spec.category,
    sortName: fold(template.spec.displayName),
    displayWords,
    idWords,
    nameWords: displayWords === idWords ? displayWords : `${displayWords} ${idWords}`,
    description: words(template.spec.description ?? ""),
    price: priceKey(template),
  };
}

/** A query as the matcher uses it: folded words, or undefined when it asks for nothing. */
export const parseQuery = (q: string | undefined): string | undefined => (q ? words(q) || undefined : undefined);

/**
 * How well an entry matches a folded query: 0 its display name or object name starts with it,
 * 1 a word of the name does, 2 the name contains it ("cloud" in "Nextcloud"), 3 every word of
 * the query is somewhere in the name or the description; undefined: no match. Lower is better.
 */
export function matchTier(entry: Entry, query: string): 0 | 1 | 2 | 3 | undefined {
  if (entry.displayWords.startsWith(query) || entry.idWords.startsWith(query)) return 0;
  if (entry.nameWords.includes(` ${query}`)) return 1;
  if (entry.nameWords.includes(query)) return 2;
  for (const term of query.split(" "))
    if (!entry.nameWords.includes(term) && !entry.description.includes(term)) return undefined;
  return 3;
}

export { CursorError, compareKeys, type Key } from "../http/cursor.ts";

/**
 * The key an entry sorts by; the object name last, so no two entries tie and a cursor names
 * one position exactly. Popularity is most installs first; price cheapest first.
 */
export function sortKey(entry: Entry, sort: Sort, context: { installs: number; tier: number }): Key {
  switch (sort) {
    case "relevance":
      return [context.tier, entry.sortName, entry.name];
    case "name":
      return [entry.sortName, entry.name];
    case "popularity":
      return [-context.installs, entry.sortName, entry.name];
    case "price":
      return [entry.price.currency, entry.price.amount, entry.sortName, entry.name];
  }
}

/** Each sort's cursors, with the types of its key's elements (to check cursors clients send back). */
const cursors = keyCursors<Sort>({
  relevance: ["number", "string", "string"],
  name: ["string", "string"],
  popularity: ["number", "string", "string"],
  price: ["string", "number", "string", "string"],
});

/** Opaque to clients: the sort it belongs to and the last key of the page. */
export const encodeCursor = (sort: Sort, key: Key): string => cursors.encode(sort, key);

/** The key a cursor names; throws CursorError for one of another sort or not ours. */
export const decodeCursor = (cursor: string, sort: Sort): Key => cursors.decode(cursor, sort);

export type SearchQuery = {
  q?: string | undefined;
  category?: AppCategory | undefined;
  /** Default: relevance when there is a query, else name. */
  sort?: Sort | undefined;
  cursor?: string | undefined;
  limit: number;
};

export type SearchResult<T extends AppTemplate> = {
  items: Entry<T>[];
  /** Per category, the matches of the query ignoring the category filter (as facets show them). */
  categories: Array<{ category: AppCategory; count: number }>;
  /** Matches with the category filter applied. */
  total: number;
  nextCursor: string | null;
};

/** No match, in a tier table. */
const MISS = 4;
/** Distinct queries whose match tiers (and matches per sort) are kept (per catalog version). */
const TIER_CACHE = 512;
const CATEGORY_INDEX = new Map<string, number>(APP_CATEGORIES.map((c, i) => [c, i]));

/**
 * The catalog ready for searching, built once per catalog change: the entries in name order and
 * in price order, the category of each as a number, and the match tiers of recent queries. A
 * search is then one pass over an order (reading a precomputed tier and category per entry), a
 * binary search for the cursor, and a slice; nothing is sorted per request except the
 * popularity order after installs changed.
 */
export class SearchIndex<T extends AppTemplate = AppTemplate> {
  /** In name order (display name folded, then object name). */
  readonly entries: readonly Entry<T>[];
  private readonly categoryOf: Uint8Array;
  private readonly byPrice: Int32Array;
  private readonly byName: Int32Array;
  private readonly tierCache = new Map<string, Uint8Array>();
  private readonly matchCache = new Map<string, Matched>();
  private popular: { version: number; installs: ReadonlyMap<string, number>; order: Int32Array } | undefined;

  constructor(entries: readonly Entry<T>[]) {
    this.entries = [...entries].sort((a, b) =>
      a.sortName < b.sortName ? -1 : a.sortName > b.sortName ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    this.categoryOf = Uint8Array.from(this.entries, (e) => CATEGORY_INDEX.get(e.category) ?? 0);
    this.byName = Int32Array.from(this.entries, (_, i) => i);
    const priceKeys = this.entries.map((e) => sortKey(e, "price", NONE));
    this.byPrice = this.byName.slice().sort((a, b) => compareKeys(priceKeys[a] as Key, priceKeys[b] as Key));
  }

  /**
   * Each entry's tier for a folded query (MISS: no match). Queries repeat (the same search
   * paged, filtered, re-sorted; popular words), so the last few hundred are kept.
   */
  tiers(query: string): Uint8Array {
    const cached = this.tierCache.get(query);
    if (cached) {
      // Refresh its place: the map's order is least recently used first.
      this.tierCache.delete(query);
      this.tierCache.set(query, cached);
      return cached;
    }
    const tiers = new Uint8Array(this.entries.length);
    for (let i = 0; i < tiers.length; i++) tiers[i] = matchTier(this.entries[i] as Entry, query) ?? MISS;
    if (this.tierCache.size >= TIER_CACHE) this.tierCache.delete(this.tierCache.keys().next().value as string);
    this.tierCache.set(query, tiers);
    return tiers;
  }

  /**
   * One page of a search. `installs` gives the installs across organizations per template
   * (popularity); `installsVersion` changes whenever they do, so the popularity order is
   * sorted once per change rather than per request. Throws CursorError for a cursor it cannot use.
   */
  search(query: SearchQuery, installs: ReadonlyMap<string, number>, installsVersion = Number.NaN): SearchResult<T> {
    const q = parseQuery(query.q);
    const sort: Sort = query.sort ?? (q ? "relevance" : "name");
    const after = query.cursor ? decodeCursor(query.cursor, sort) : undefined;
    const tiers = q ? this.tiers(q) : undefined;
    const wanted = query.category === undefined ? -1 : (CATEGORY_INDEX.get(query.category) ?? -1);
    const order =
      sort === "price"
        ? this.byPrice
        : sort === "popularity"
          ? this.popularOrder(installs, installsVersion)
          : this.byName;
    const matched = this.matched(q, sort, order, tiers);
    const matches = wanted >= 0 ? (matched.inCategory[wanted] as Int32Array) : matched.all;
    const keyOf = (i: number) =>
      sortKey(this.entries[i] as Entry, sort, {
        tier: tiers ? (tiers[i] as number) : 0,
        installs: installs.get((this.entries[i] as Entry).name) ?? 0,
      });
    const start = after ? firstAfter(matches, keyOf, after) : 0;
    const page = matches.subarray(start, start + query.limit);
    const last = page.at(-1);
    return {
      items: Array.from(page, (i) => this.entries[i] as Entry<T>),
      categories: APP_CATEGORIES.map((category, c) => ({ category, count: matched.counts[c] as number })),
      total: matches.length,
      nextCursor: last !== undefined && start + query.limit < matches.length ? encodeCursor(sort, keyOf(last)) : null,
    };
  }

  /**
   * The matches of a query in a sort's order, all and per category, with the count per
   * category: one pass over the order per query and sort, kept for the last few hundred (a
   * category filter, the next page or another organization reuses it). An order sorted again
   * (popularity after installs changed) makes a new pass.
   */
  private matched(q: string | undefined, sort: Sort, order: Int32Array, tiers: Uint8Array | undefined): Matched {
    const key = `${sort}\n${q ?? ""}`;
    const cached = this.matchCache.get(key);
    if (cached && cached.order === order) {
      this.matchCache.delete(key);
      this.matchCache.set(key, cached);
      return cached;
    }
    // Relevance is by tier, then name: one list per tier, each in name order.
    const lists: number[][] = sort === "relevance" ? [[], [], [], []] : [[]];
    for (let k = 0; k < order.length; k++) {
      const i = order[k] as number;
      const tier = tiers ? (tiers[i] as number) : 0;
      if (tier === MISS) continue;
      (lists[sort === "relevance" ? tier : 0] as number[]).push(i);
    }
    const all = Int32Array.from(lists.length === 1 ? (lists[0] as number[]) : lists.flat());
    const counts = new Int32Array(APP_CATEGORIES.length);
    for (const i of all) (counts[this.categoryOf[i] as number] as number)++;
    const fill = new Int32Array(APP_CATEGORIES.length);
    const inCategory = Array.from(counts, (n) => new Int32Array(n));
    for (const i of all) {
      const c = this.categoryOf[i] as number;
      (inCategory[c] as Int32Array)[(fill[c] as number)++] = i;
    }
    const result = { order, all, inCategory, counts };
    if (this.matchCache.size >= TIER_CACHE) this.matchCache.delete(this.matchCache.keys().next().value as string);
    this.matchCache.set(key, result);
    return result;
  }

  /** Most installs first, ties in name order; kept until the installs change. */
  private popularOrder(installs: ReadonlyMap<string, number>, version: number): Int32Array {
    const p = this.popular;
    if (p && p.installs === installs && p.version === version) return p.order;
    const count = this.entries.map((e) => installs.get(e.name) ?? 0);
    // Stable on the name order: equal counts keep their names' order.
    const order = this.byName.slice().sort((a, b) => (count[b] as number) - (count[a] as number) || a - b);
    this.popular = { version, installs, order };
    return order;
  }
}

const NONE = { tier: 0, installs: 0 };

/** A query's matches in one sort order (positions in `entries`), all and per category. */
type Matched = {
  order: Int32Array;
  all: Int32Array;
  inCategory: Int32Array[];
  counts: Int32Array;
};

/** One page of a search over entries in any order (builds an index: for tests and one-offs). */
export function search<T extends AppTemplate>(
  entries: readonly Entry<T>[],
  query: SearchQuery,
  installs: ReadonlyMap<string, number>,
): SearchResult<T> {
  return new SearchIndex(entries).search(query, installs);
}
