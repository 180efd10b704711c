import { describe, expect, it } from "vitest";
import { type CardFields, cardHead, type PageCard, pageJson } from "./page-json.ts";

const paid: CardFields = {
  name: "nextcloud",
  displayName: 'Nèxtcloud "Hub" \u2028 ☁️ 𝄞',
  icon: "https://example.com/icon.svg",
  publisher: null,
  description: "Files, calendars and contacts for teams…\n<script>\\",
  category: "Productivity",
  plans: [
    { id: "monthly", interval: "monthly", amount: 500, currency: "USD" },
    { id: "annual", interval: "annual", amount: 5000, currency: "EUR" },
  ],
  trialDays: 30,
};
const free: CardFields = { ...paid, name: "gitea", displayName: "Gitea", icon: null, plans: [], trialDays: 0 };
const categories = [
  { category: "Productivity", count: 2 },
  { category: "AI", count: 0 },
];

/** What the route answered before pages were assembled from bytes: JSON.stringify of the page. */
const stringified = (cards: Array<[CardFields, number, boolean]>, total: number, nextCursor: string | null) =>
  JSON.stringify({
    items: cards.map(([fields, installedInOrg, trialAvailable]) => ({ ...fields, installedInOrg, trialAvailable })),
    categories,
    total,
    nextCursor,
  });

const assembled = (cards: Array<[CardFields, number, boolean]>, total: number, nextCursor: string | null) =>
  pageJson({
    items: cards.map(
      ([fields, installedInOrg, trialAvailable]): PageCard => ({
        head: cardHead(fields),
        installedInOrg,
        trialAvailable,
      }),
    ),
    categories,
    total,
    nextCursor,
  });

describe("pageJson", () => {
  it("is byte for byte the UTF-8 of JSON.stringify of the page", () => {
    const cases: Array<[Array<[CardFields, number, boolean]>, number, string | null]> = [
      [[[paid, 3, true]], 1, null],
      [
        [
          [paid, 0, false],
          [free, 12, false],
          [paid, 1, true],
        ],
        7,
        "eyJzIjoibmFtZSJ9",
      ],
      [[], 0, null],
    ];
    for (const [cards, total, nextCursor] of cases) {
      const bytes = assembled(cards, total, nextCursor);
      expect(bytes.equals(Buffer.from(stringified(cards, total, nextCursor)))).toBe(true);
      expect(JSON.parse(bytes.toString("utf8"))).toEqual(JSON.parse(stringified(cards, total, nextCursor)));
    }
  });

  it("reuses one head for different organizations", () => {
    const head = cardHead(paid);
    const page = (installedInOrg: number, trialAvailable: boolean) =>
      JSON.parse(
        pageJson({
          items: [{ head, installedInOrg, trialAvailable }],
          categories,
          total: 1,
          nextCursor: null,
        }).toString(),
      ).items[0];
    expect(page(1, true)).toMatchObject({ name: "nextcloud", installedInOrg: 1, trialAvailable: true });
    expect(page(0, false)).toMatchObject({ name: "nextcloud", installedInOrg: 0, trialAvailable: false });
  });
});
