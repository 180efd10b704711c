// The marketplace: browse, search and view the catalog (AppTemplates) as an organization sees
// it: what each app costs, how many installs it has in this org, whether this org may still
// start a trial. The search itself is pure (search.ts); this file keeps its index in step with
// the catalog and turns templates into the shapes the console shows.
import { APP_CATEGORIES, type AppTemplate, orgOfNamespace, PRICING_INTERVALS } from "@atrium/crds";
import { type TSchema, Type } from "@sinclair/typebox";
import type { Response } from "express";
import type { Services } from "../app.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { type Route, route } from "../http/route.ts";
import { Name } from "../routes/views.ts";
import { AnswerCache, answerKey, type Generation } from "./answer-cache.ts";
import type { Catalog, TemplateObj } from "./catalog.ts";
import { recentReads } from "./fresh-flight.ts";
import { type CardFields, cardHead, pageJson } from "./page-json.ts";
import { CursorError, type Entry, entryOf, SearchIndex, type SearchResult, SORTS, type Sort } from "./search.ts";

export const MAX_LIMIT = 100;
export const DEFAULT_LIMIT = 24;
/** How long the trials an org used are kept (it can only miss a trial granted since). */
export const TRIALS_MAX_AGE_MS = 1000;
/** The bytes of whole answers kept (about 10 KB each: some 800 searches and pages). */
export const ANSWER_CACHE_BYTES = 8 * 2 ** 20;
/** What of the validated query an answer depends on (with the organization). */
const ANSWER_KEY_FIELDS = ["q", "category", "sort", "cursor", "limit"] as const;
/** How much of a description the grid shows. */
const SHORT_DESCRIPTION = 160;

const oneOf = (values: readonly string[], description: string, extra: Record<string, unknown> = {}) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    { description, errorMessage: `must be one of: ${values.join(", ")}`, ...extra },
  );
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

const Category = oneOf(APP_CATEGORIES, "App category");

const ListQuery = Type.Object({
  q: Type.Optional(
    Type.String({
      maxLength: 100,
      description: "Words to find in app names and descriptions; case and accents do not matter",
    }),
  ),
  category: Type.Optional(Category),
  sort: Type.Optional(
    oneOf(
      SORTS,
      "relevance (the default with q: name prefix, then a word of the name, then the description), " +
        "name (the default without q), popularity (installs across organizations), or price (cheapest first; " +
        "per currency, recurring plans per month, one-time and lifetime at face value)",
    ),
  ),
  cursor: Type.Optional(Type.String({ maxLength: 600, description: "nextCursor of the previous page" })),
  limit: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: MAX_LIMIT,
      default: DEFAULT_LIMIT,
      errorMessage: `must be a whole number from 1 to ${MAX_LIMIT}`,
    }),
  ),
});

const OrgParams = Type.Object({ org: Name("Organization name") });
const TemplateParams = Type.Object({ org: Name("Organization name"), template: Name("App template name") });

const Plan = Type.Object({
  id: Type.String(),
  interval: oneOf(PRICING_INTERVALS, "How often the plan is paid"),
  amount: Type.Integer({ description: "In the currency's minor unit (cents for USD)" }),
  currency: Type.String({ description: "ISO 4217 code" }),
});

const CategoryCount = Type.Object({ category: Category, count: Type.Integer() });

const AppCard = Type.Object({
  name: Type.String(),
  displayName: Type.String(),
  icon: Nullable(Type.String()),
  publisher: Nullable(Type.String()),
  description: Type.String({ description: `The first ${SHORT_DESCRIPTION} characters or so` }),
  category: Category,
  plans: Type.Array(Plan, { description: "Empty: the app is free" }),
  trialDays: Type.Integer({ description: "0: no trial" }),
  installedInOrg: Type.Integer({ description: "Installs of this app in the organization" }),
  trialAvailable: Type.Boolean({ description: "The app has a trial and this organization has not used it" }),
});

const AppPage = Type.Object({
  items: Type.Array(AppCard),
  categories: Type.Array(CategoryCount, {
    description: "Matches of q per category, ignoring the category filter (every category, zeros included)",
  }),
  total: Type.Integer({ description: "Matches of q and category" }),
  nextCursor: Nullable(Type.String()),
});

const Setting = Type.Object({
  name: Type.String(),
  description: Type.String(),
  required: Type.Boolean(),
  secret: Type.Boolean({ description: "Stored in a Secret; its value is never shown again" }),
  default: Nullable(Type.String()),
  generated: Type.Boolean({ description: "Left empty, the operator generates a random value" }),
});

const AppDetail = Type.Object({
  name: Type.String(),
  displayName: Type.String(),
  description: Type.String(),
  icon: Nullable(Type.String()),
  publisher: Nullable(Type.String()),
  homepage: Nullable(Type.String()),
  category: Category,
  versions: Type.Array(Type.String(), { description: "Newest first" }),
  defaultVersion: Type.String(),
  settings: Type.Array(Setting),
  plans: Type.Array(Plan),
  trial: Type.Object({
    days: Type.Integer({ description: "0: no trial" }),
    available: Type.Boolean({ description: "This organization can still start one (one per app, ever)" }),
  }),
  storage: Nullable(Type.Object({ size: Type.String(), mountPath: Type.String() })),
  ports: Type.Array(Type.Object({ name: Type.String(), containerPort: Type.Integer() })),
  installedInOrg: Type.Integer(),
});

/**
 * The catalog folded for search, rebuilt when the catalog changes (never per request). A
 * template whose resourceVersion did not change keeps its entry, so a change to one template
 * of 2,000 folds one; the orders are sorted again, once.
 */
export class CatalogIndex {
  private index = new SearchIndex<TemplateObj>([]);
  private byName = new Map<string, { rv: string | undefined; entry: Entry<TemplateObj> }>();
  private builtAt = -1;
  private readonly catalog: Pick<Catalog, "version" | "all">;

  constructor(catalog: Pick<Catalog, "version" | "all">) {
    this.catalog = catalog;
  }

  /** The index for the catalog as it is now (rebuilt after a change, at most once per change). */
  current(): SearchIndex<TemplateObj> {
    const version = this.catalog.version();
    if (version === this.builtAt) return this.index;
    const next = new Map<string, { rv: string | undefined; entry: Entry<TemplateObj> }>();
    for (const t of this.catalog.all()) {
      const rv = t.metadata.resourceVersion;
      const old = this.byName.get(t.metadata.name);
      next.set(t.metadata.name, old && old.rv === rv && rv !== undefined ? old : { rv, entry: entryOf(t) });
    }
    this.byName = next;
    this.index = new SearchIndex([...next.values()].map((e) => e.entry));
    this.builtAt = version;
    return this.index;
  }
}

const plansOf = (t: AppTemplate) =>
  (t.spec.pricing?.plans ?? []).map((p) => ({
    id: p.id,
    interval: p.interval,
    amount: p.amount,
    currency: p.currency,
  }));

const trialDaysOf = (t: AppTemplate) => t.spec.pricing?.trialDays ?? 0;

/**
 * A card's organization-independent fields as JSON (page-json.ts), encoded once per template
 * version: the informer hands over a new object for every change, so the object is the key.
 */
const cardHeads = new WeakMap<TemplateObj, Buffer>();
const cardHeadOf = (t: TemplateObj) => {
  let head = cardHeads.get(t);
  if (head === undefined) {
    head = cardHead(cardFields(t));
    cardHeads.set(t, head);
  }
  return head;
};
const cardFields = (t: TemplateObj): CardFields => ({
  name: t.metadata.name,
  displayName: t.spec.displayName,
  icon: t.spec.icon ?? null,
  publisher: t.spec.publisher ?? null,
  description: shortDescription(t.spec.description),
  category: t.spec.category,
  plans: plansOf(t),
  trialDays: trialDaysOf(t),
});

/** The start of a description, cut at a word and marked, for a card. */
export function shortDescription(text: string | undefined, max = SHORT_DESCRIPTION): string {
  const s = (text ?? "").trim().replace(/\s+/g, " ");
  if (s.length <= max) return s;
  const cut = s.slice(0, max);
  const space = cut.lastIndexOf(" ");
  return `${(space > max / 2 ? cut.slice(0, space) : cut).replace(/[\s,;:.]+$/, "")}…`;
}

/** A JSON answer written as is: no ETag (see the search route), no re-encoding. */
function sendJson(res: Response, json: Buffer): undefined {
  res.statusCode = 200;
  res.setHeader("content-type", "application/json; charset=utf-8");
  res.setHeader("content-length", json.length);
  res.end(json);
  return undefined;
}

export function marketplaceRoutes(s: Services): Route[] {
  const index = new CatalogIndex(s.catalog);
  // Which trials an org used, for "trial available": kept up to a second per org, and dropped
  // when the org's installs change (billing grants a trial when an app is installed). A read per
  // request cost 2.5 × the throughput in the benchmark; the install itself is checked by billing.
  const trialsUsed = recentReads((org: string) => s.billing.trialsUsed(org), { maxAgeMs: TRIALS_MAX_AGE_MS });
  // Popularity sorts once per change of the installs, not per request.
  let installsVersion = 0;
  s.installs.onChange((_type, app) => {
    installsVersion++;
    const org = orgOfNamespace(app.metadata.namespace);
    if (org) trialsUsed.forget(org);
  });
  // Fold changed templates soon after the watch brings them rather than in the next request;
  // a bulk import (thousands of events) rebuilds a few times, not once per template.
  let rebuildScheduled = false;
  s.catalog.onChange(() => {
    if (rebuildScheduled) return;
    rebuildScheduled = true;
    setTimeout(() => {
      rebuildScheduled = false;
      index.current();
    }, 50).unref();
  });
  // Whole answers per (org, query), dropped when the catalog or any install changes (answer-cache.ts).
  const answers = new AnswerCache({ maxBytes: ANSWER_CACHE_BYTES });
  const generation = (): Generation => ({ catalog: index.current(), installs: installsVersion });
  return [
    route({
      method: "get",
      path: "/api/orgs/:org/marketplace/apps",
      summary: "Browse and search the marketplace: one page of apps, with counts per category",
      tag: "marketplace",
      auth: "any",
      permission: "marketplace:view",
      params: OrgParams,
      query: ListQuery,
      response: { status: 200, schema: AppPage },
      handler: async ({ params, query, res }) => {
        const key = answerKey(params.org, query, ANSWER_KEY_FIELDS);
        const built = generation();
        const kept = answers.get(key, built);
        // A kept answer that offered a trial holds only while the org's trials read is the same.
        if (kept && (kept.trials === undefined || trialsUsed.get(params.org) === kept.trials))
          return sendJson(res, kept.body);
        let page: SearchResult<TemplateObj>;
        try {
          page = (built.catalog as SearchIndex<TemplateObj>).search(
            {
              q: query.q,
              category: query.category as Entry["category"] | undefined,
              sort: query.sort as Sort | undefined,
              cursor: query.cursor,
              limit: query.limit ?? DEFAULT_LIMIT,
            },
            s.installs.installsPerTemplate(),
            installsVersion,
          );
        } catch (e) {
          if (!(e instanceof CursorError)) throw e;
          throw new ApiError(400, "validation_failed", `Invalid query: /query/cursor: ${e.message}`, {
            fields: [{ path: "/query/cursor", message: e.message }],
          });
        }
        const inOrg = s.installs.installsPerTemplateIn(params.org);
        const trials = page.items.some((e) => trialDaysOf(e.template) > 0) ? trialsUsed.get(params.org) : undefined;
        const used = trials ? await trials : new Set<string>();
        // Written here rather than returned: the cards are copied from bytes encoded once per
        // template version (page-json.ts), and Express's ETag (a SHA-1 of every ~10 KB page) is
        // left out, as API answers are "cache-control: no-store" (security.ts): no client
        // keeps one to revalidate.
        const json = pageJson({
          items: page.items.map(({ template: t }) => ({
            head: cardHeadOf(t),
            installedInOrg: inOrg.get(t.metadata.name) ?? 0,
            trialAvailable: trialDaysOf(t) > 0 && !used.has(t.metadata.name),
          })),
          categories: page.categories,
          total: page.total,
          nextCursor: page.nextCursor,
        });
        answers.set(key, { body: json, trials }, built, generation());
        sendJson(res, json);
        return undefined;
      },
    }),
    route({
      method: "get",
      path: "/api/orgs/:org/marketplace/apps/:template",
      summary: "One app of the marketplace: versions, settings, plans and trial terms",
      tag: "marketplace",
      auth: "any",
      permission: "marketplace:view",
      params: TemplateParams,
      response: { status: 200, schema: AppDetail },
      handler: async ({ params }) => {
        const t = s.catalog.get(params.template);
        if (!t) throw notFound(`App "${params.template}"`);
        const trialDays = trialDaysOf(t);
        const used = trialDays > 0 ? await trialsUsed.get(params.org) : new Set<string>();
        return {
          name: t.metadata.name,
          displayName: t.spec.displayName,
          description: t.spec.description ?? "",
          icon: t.spec.icon ?? null,
          publisher: t.spec.publisher ?? null,
          homepage: t.spec.homepage ?? null,
          category: t.spec.category,
          versions: [...t.spec.versions],
          defaultVersion: t.spec.defaultVersion,
          settings: (t.spec.env ?? []).map((v) => ({
            name: v.name,
            description: v.description ?? "",
            required: v.required ?? false,
            secret: v.secret ?? false,
            // The CRD refuses a default on a secret; never show one even if an old object has it.
            default: v.secret ? null : (v.default ?? null),
            generated: v.generated ?? false,
          })),
          plans: plansOf(t),
          trial: { days: trialDays, available: trialDays > 0 && !used.has(t.metadata.name) },
          storage: t.spec.storage ? { size: t.spec.storage.size, mountPath: t.spec.storage.mountPath } : null,
          ports: t.spec.ports.map((p) => ({ name: p.name, containerPort: p.containerPort })),
          installedInOrg: s.installs.installsPerTemplateIn(params.org).get(t.metadata.name) ?? 0,
        };
      },
    }),
    route({
      method: "get",
      path: "/api/orgs/:org/marketplace/categories",
      summary: "Every app category with the number of apps in it",
      tag: "marketplace",
      auth: "any",
      permission: "marketplace:view",
      params: OrgParams,
      response: { status: 200, schema: Type.Object({ categories: Type.Array(CategoryCount) }) },
      handler: async () => {
        const counts = new Map<string, number>();
        for (const e of index.current().entries) counts.set(e.category, (counts.get(e.category) ?? 0) + 1);
        return { categories: APP_CATEGORIES.map((category) => ({ category, count: counts.get(category) ?? 0 })) };
      },
    }),
  ];
}
