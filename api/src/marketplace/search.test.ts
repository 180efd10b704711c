import type { AppCategory, AppTemplate, PricingPlan } from "@atrium/crds";
import { describe, expect, it } from "vitest";
import { shortDescription } from "./routes.ts";
import {
  CursorError,
  decodeCursor,
  type Entry,
  encodeCursor,
  entryOf,
  fold,
  matchTier,
  parseQuery,
  priceKey,
  SearchIndex,
  type SearchQuery,
  type Sort,
  search,
} from "./search.ts";

const template = (
  name: string,
  over: { displayName?: string; description?: string; category?: AppCategory; plans?: PricingPlan[] } = {},
): AppTemplate => ({
  apiVersion: "atrium.dev/v1alpha1",
  kind: "AppTemplate",
  metadata: { name },
  spec: {
    displayName: over.displayName ?? name,
    description: over.description ?? "",
    category: over.category ?? "Productivity",
    image: "x",
    versions: ["1"],
    defaultVersion: "1",
    ports: [{ name: "http", containerPort: 80 }],
    ...(over.plans ? { pricing: { plans: over.plans } } : {}),
  },
});

const plan = (interval: PricingPlan["interval"], amount: number, currency = "USD"): PricingPlan => ({
  id: `${interval}-${amount}-${currency}`.toLowerCase(),
  interval,
  amount,
  currency,
});

describe("fold", () => {
  it.each([
    ["Nextcloud", "nextcloud"],
    ["NEXTCLOUD", "nextcloud"],
    ["nèxtcloud", "nextcloud"],
    ["Ünïcödé Çafé", "unicode cafe"],
    // Composed (U+00E9) and decomposed (e + U+0301) spellings fold alike.
    ["caf\u00e9", "cafe"],
    ["cafe\u0301", "cafe"],
    ["Łódź", "łodz"], // Ł has no decomposition: only its case folds
  ])("%s → %s", (input, folded) => expect(fold(input)).toBe(folded));
});

describe("matchTier", () => {
  const nextcloud = entryOf(
    template("nextcloud", {
      displayName: "Nextcloud",
      description: "Files, calendars, contacts and office documents in one self-hosted workspace.",
    }),
  );
  const webui = entryOf(
    template("open-webui", { displayName: "Open WebUI", description: "A chat interface for LLMs." }),
  );
  const kuma = entryOf(template("uptime-kuma", { displayName: "Uptime Kuma", description: "Status pages." }));
  const byName = { nextcloud, "open-webui": webui, "uptime-kuma": kuma };
  it.each([
    ["nextcloud", "NEXTCLOUD", 0],
    ["nextcloud", "nèxtcloud", 0],
    ["nextcloud", "next", 0],
    ["nextcloud", "cloud", 2],
    ["nextcloud", "calendars", 3],
    ["nextcloud", "office workspace", 3],
    ["nextcloud", "office gitea", undefined],
    ["nextcloud", "gitea", undefined],
    ["open-webui", "open web", 0],
    ["open-webui", "webui", 1],
    ["open-webui", "open-webui", 0],
    ["open-webui", "chat", 3],
    ["uptime-kuma", "kuma", 1],
    ["uptime-kuma", "ptime", 2],
  ] as const)("%s for %j: tier %s", (name, q, tier) =>
    expect(matchTier(byName[name], parseQuery(q) as string)).toBe(tier),
  );

  it("treats an empty or punctuation-only query as no query", () => {
    expect(parseQuery("")).toBeUndefined();
    expect(parseQuery("  -- ")).toBeUndefined();
    expect(parseQuery(undefined)).toBeUndefined();
  });
});

describe("priceKey", () => {
  it.each([
    ["no pricing: free", undefined, { currency: "", amount: 0 }],
    ["one monthly plan", [plan("monthly", 900)], { currency: "USD", amount: 900 }],
    ["annual counts per month, rounded up", [plan("annual", 9001)], { currency: "USD", amount: 751 }],
    [
      "the cheaper of monthly and annual",
      [plan("monthly", 900), plan("annual", 9000)],
      { currency: "USD", amount: 750 },
    ],
    ["one-time at face value", [plan("one-time", 4900)], { currency: "USD", amount: 4900 }],
    ["lifetime at face value", [plan("monthly", 500), plan("lifetime", 300)], { currency: "USD", amount: 300 }],
    ["a plan of 0 makes it free", [plan("monthly", 900), plan("one-time", 0)], { currency: "", amount: 0 }],
    [
      "currencies are never converted: the first code wins",
      [plan("monthly", 100, "USD"), plan("monthly", 5, "EUR")],
      {
        currency: "EUR",
        amount: 5,
      },
    ],
  ])("%s", (_name, plans, key) => expect(priceKey(template("t", plans ? { plans } : {}))).toEqual(key));
});

describe("cursors", () => {
  it("round-trips the sort and key", () => {
    expect(decodeCursor(encodeCursor("price", ["USD", 900, "gitea", "gitea"]), "price")).toEqual([
      "USD",
      900,
      "gitea",
      "gitea",
    ]);
  });
  it.each([
    ["not base64 JSON", "%%%", "name", "is not a cursor this API returned"],
    [
      "JSON of the wrong shape",
      Buffer.from('{"x":1}').toString("base64url"),
      "name",
      "is not a cursor this API returned",
    ],
    ["a key of the wrong length", encodeCursor("name", ["a"]), "name", "is not a cursor this API returned"],
    [
      "a key of the wrong types",
      encodeCursor("popularity", ["a", "b", "c"]),
      "popularity",
      "is not a cursor this API returned",
    ],
    [
      "another sort's cursor",
      encodeCursor("name", ["a", "a"]),
      "price",
      "belongs to sort=name, not sort=price: start again without a cursor",
    ],
  ] as const)("refuses %s", (_name, cursor, sort, message) => {
    expect(() => decodeCursor(cursor, sort as Sort)).toThrow(new CursorError(message));
  });
});

describe("search", () => {
  const catalog = [
    template("nextcloud", {
      displayName: "Nextcloud",
      description: "Files and calendars.",
      plans: [plan("monthly", 900)],
    }),
    template("owncloud", { displayName: "ownCloud", description: "Files in the cloud." }),
    template("cloud-commander", { displayName: "Cloud Commander", description: "A file manager." }),
    template("my-cloud", { displayName: "My Cloud", description: "Photos." }),
    template("gitea", {
      displayName: "Gitea",
      description: "Git hosting; a nextcloud of code.",
      category: "Development",
      plans: [plan("one-time", 4900)],
    }),
    template("n8n", { displayName: "n8n", description: "Workflow automation.", category: "Automation" }),
  ].map(entryOf);
  const names = (r: { items: Entry[] }) => r.items.map((e) => e.name);
  const none = new Map<string, number>();

  it("ranks name prefix, then name word, then name substring, then description", () => {
    const r = search(catalog, { q: "cloud", limit: 10 }, none);
    // Gitea only mentions "nextcloud" in its description.
    expect(names(r)).toEqual(["cloud-commander", "my-cloud", "nextcloud", "owncloud", "gitea"]);
    const n = search(catalog, { q: "NEXTCLOUD", limit: 10 }, none);
    expect(names(n)).toEqual(["nextcloud", "gitea"]);
    expect(names(search(catalog, { q: "nèxtcloud", limit: 10 }, none))).toEqual(["nextcloud", "gitea"]);
  });

  it("counts categories over the query's matches, ignoring the category filter", () => {
    const r = search(catalog, { q: "nextcloud", category: "Development", limit: 10 }, none);
    expect(names(r)).toEqual(["gitea"]);
    expect(r.total).toBe(1);
    const counts = Object.fromEntries(r.categories.map((c) => [c.category, c.count]));
    expect(counts).toMatchObject({ Productivity: 1, Development: 1, Automation: 0 });
    expect(r.categories).toHaveLength(9);
  });

  it.each([
    ["name", none, ["cloud-commander", "gitea", "my-cloud", "n8n", "nextcloud", "owncloud"]],
    [
      "popularity",
      new Map([
        ["n8n", 5],
        ["owncloud", 5],
        ["gitea", 7],
      ]),
      ["gitea", "n8n", "owncloud", "cloud-commander", "my-cloud", "nextcloud"],
    ],
    // Free first (by name), then per currency by amount: $9/month before a $49 one-time.
    ["price", none, ["cloud-commander", "my-cloud", "n8n", "owncloud", "nextcloud", "gitea"]],
  ] as const)("sorts by %s", (sort, installs, order) => {
    expect(names(search(catalog, { sort, limit: 10 }, installs))).toEqual(order);
  });

  /** Every page of a query, following nextCursor, with the catalog changed between pages. */
  function walk(entries: Entry[], query: Omit<SearchQuery, "cursor">, installs = none) {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const r = search(entries, { ...query, cursor }, installs);
      seen.push(...names(r));
      if (!r.nextCursor) return seen;
      cursor = r.nextCursor;
    }
    throw new Error("too many pages");
  }

  const many = Array.from({ length: 53 }, (_, i) =>
    entryOf(
      template(`app-${String(i).padStart(2, "0")}`, {
        displayName: `App ${String(i % 10)}`, // duplicate display names: the object name breaks ties
        description: i % 2 ? "odd" : "even",
        category: i % 3 ? "Productivity" : "AI",
        plans: i % 4 ? [plan("monthly", 100 * (i % 7))] : [],
      }),
    ),
  );

  // Small pages take the partial selection, large ones the full sort: both must agree.
  const popular = new Map(many.map((e, i) => [e.name, i % 5]));
  it.each(
    (["name", "price", "popularity", "relevance"] as const).flatMap((sort) =>
      [2, 7, 30].map((limit) => [sort, limit] as [Sort, number]),
    ),
  )("pages by %s, %i at a time, without duplicates or gaps", (sort, limit) => {
    const all = search(many, { sort, q: "app", limit: 100 }, popular);
    expect(all.items).toHaveLength(53);
    expect(walk(many, { sort, q: "app", limit }, popular)).toEqual(names(all));
  });

  it("keeps its place when templates are added and removed between pages (no offsets)", () => {
    // Page 1 (limit 10 by name) ends at app-?? in name order; then an entry sorting before the
    // cursor is removed and two before it are added (an offset would repeat one): the next page
    // still starts right after it.
    const first = search(many, { limit: 10 }, none);
    const last = first.items.at(-1)?.name as string;
    const changed = [
      ...many.filter((e) => e.name !== first.items[0]?.name),
      entryOf(template("aaa-new", { displayName: "AAA" })),
      entryOf(template("aab-new", { displayName: "AAB" })),
    ];
    const second = search(changed, { limit: 10, cursor: first.nextCursor as string }, none);
    const full = names(search(many, { limit: 100 }, none));
    expect(names(second)).toEqual(full.slice(full.indexOf(last) + 1, full.indexOf(last) + 11));
  });

  it("ends with a null cursor on the last page and filters by category", () => {
    const r = search(many, { category: "AI", limit: 18 }, none);
    expect(r.items).toHaveLength(18);
    expect(r.total).toBe(18);
    expect(r.nextCursor).toBeNull();
    expect(r.items.every((e) => e.category === "AI")).toBe(true);
  });
});

describe("shortDescription", () => {
  it.each([
    ["short stays", "Files and calendars.", 160, "Files and calendars."],
    ["whitespace collapses", "  a \n b  ", 160, "a b"],
    ["cut at a word, marked", "one two three four", 12, "one two…"],
    ["trailing punctuation dropped before the mark", "one two, three", 9, "one two…"],
  ])("%s", (_name, text, max, short) => expect(shortDescription(text, max)).toBe(short));
});

describe("SearchIndex caches", () => {
  const entries = ["alpha", "beta", "gamma"].map((n) => entryOf(template(n)));

  it("keeps the tiers of recent queries, the least recently used leaving first", () => {
    const index = new SearchIndex(entries);
    const alpha = index.tiers("alpha");
    expect(Array.from(alpha)).toEqual([0, 4, 4]);
    expect(index.tiers("alpha")).toBe(alpha);
    const q0 = index.tiers("q0");
    for (let i = 1; i < 511; i++) index.tiers(`q${i}`); // 512 kept: alpha, q0 … q510
    expect(index.tiers("alpha")).toBe(alpha); // used again: now the most recent
    index.tiers("one-more"); // evicts q0, the least recently used
    expect(index.tiers("alpha")).toBe(alpha);
    expect(index.tiers("q0")).not.toBe(q0);
  });

  it("sorts by popularity again only when the installs' version changes", () => {
    const index = new SearchIndex(entries);
    const installs = new Map([["gamma", 3]]);
    const order = () => index.search({ sort: "popularity", limit: 10 }, installs, 1).items.map((e) => e.name);
    expect(order()).toEqual(["gamma", "alpha", "beta"]);
    installs.set("beta", 5);
    expect(order()).toEqual(["gamma", "alpha", "beta"]); // same version: the kept order
    expect(index.search({ sort: "popularity", limit: 10 }, installs, 2).items.map((e) => e.name)).toEqual([
      "beta",
      "gamma",
      "alpha",
    ]);
  });

  it("answers a query again from its kept matches exactly as a fresh index does", () => {
    const many = Array.from({ length: 40 }, (_, i) =>
      entryOf({
        ...template(`app-${i}`),
        spec: {
          ...template(`app-${i}`).spec,
          displayName: `${i % 3 ? "Note" : "Chat"} ${i}`,
          category: (["AI", "Storage", "Security"] as const)[i % 3] as "AI" | "Storage" | "Security",
        },
      }),
    );
    const kept = new SearchIndex(many);
    const installs = new Map([["app-7", 2]]);
    const queries = [
      { q: "note", limit: 5 },
      { q: "note", category: "Storage" as const, limit: 5 },
      { q: "note", category: "AI" as const, limit: 5 },
      { q: "note", category: "Security" as const, sort: "price" as const, limit: 3 },
      { q: "note", limit: 5 },
      { category: "AI" as const, sort: "popularity" as const, limit: 4 },
      { q: "chat", category: "AI" as const, sort: "name" as const, limit: 2 },
      // Relevance and name walk the same order: the sort must still tell their matches apart.
      { q: "1", limit: 5 },
      { q: "1", sort: "name" as const, limit: 5 },
    ];
    for (const query of [...queries, ...queries]) {
      const fresh = new SearchIndex(many).search(query, installs, 1);
      const again = kept.search(query, installs, 1);
      expect({ ...again, items: again.items.map((e) => e.name) }).toEqual({
        ...fresh,
        items: fresh.items.map((e) => e.name),
      });
      if (again.nextCursor) {
        const next = { ...query, cursor: again.nextCursor };
        expect(kept.search(next, installs, 1).items.map((e) => e.name)).toEqual(
          new SearchIndex(many).search(next, installs, 1).items.map((e) => e.name),
        );
      }
    }
  });
});
