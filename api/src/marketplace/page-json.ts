// A marketplace page as JSON bytes, assembled from pieces rather than encoded whole per request.
// A card's organization-independent fields (about 400 bytes: name, description, plans …) are
// encoded to UTF-8 once per template version; a request appends the two fields that depend on
// the organization and copies the cards into one buffer. The bytes are exactly those of
// JSON.stringify of the same page (same keys, same order), so the route's OpenAPI schema
// describes them unchanged. Measured in `marketplace-search` (ADR 0012): no page-sized string
// to build, flatten and encode per request, and nothing of it on the JavaScript heap.

/** What a card shows that does not depend on the organization. */
export type CardFields = {
  name: string;
  displayName: string;
  icon: string | null;
  publisher: string | null;
  description: string;
  category: string;
  plans: Array<{ id: string; interval: string; amount: number; currency: string }>;
  trialDays: number;
};

/** The card's fixed fields as UTF-8 JSON without its closing brace, ready for the org's fields. */
export const cardHead = (fields: CardFields): Buffer => Buffer.from(JSON.stringify(fields).slice(0, -1));

/** A card of the page: its encoded head and this organization's install count and trial. */
export type PageCard = { head: Buffer; installedInOrg: number; trialAvailable: boolean };

/** The rest of a card after its head (ASCII: a number and a boolean). */
const cardTail = (card: PageCard) =>
  `,"installedInOrg":${JSON.stringify(card.installedInOrg)},"trialAvailable":${card.trialAvailable ? "true" : "false"}}`;

/** The page as UTF-8 JSON: cards copied from their heads, the rest (a few hundred bytes) encoded here. */
export function pageJson(page: {
  items: readonly PageCard[];
  categories: ReadonlyArray<{ category: string; count: number }>;
  total: number;
  nextCursor: string | null;
}): Buffer {
  const start = '{"items":[';
  const end =
    `],"categories":${JSON.stringify(page.categories)},` +
    `"total":${JSON.stringify(page.total)},"nextCursor":${JSON.stringify(page.nextCursor)}}`;
  const tails = page.items.map(cardTail);
  let length = start.length + Buffer.byteLength(end) + Math.max(0, page.items.length - 1);
  for (let i = 0; i < page.items.length; i++)
    length += (page.items[i] as PageCard).head.length + (tails[i] as string).length;
  const out = Buffer.allocUnsafe(length);
  let at = out.write(start, 0, "latin1");
  for (let i = 0; i < page.items.length; i++) {
    if (i > 0) at = out.write(",", at, "latin1") + at;
    at += (page.items[i] as PageCard).head.copy(out, at);
    at += out.write(tails[i] as string, at, "latin1");
  }
  at += out.write(end, at, "utf8");
  if (at !== length) throw new Error(`marketplace page: wrote ${at} bytes of ${length}`);
  return out;
}
