// The marketplace over the real API assembly, on a real control plane, with people logged in
// through the real OIDC provider: the sample catalog (crds/catalog, applied with kubectl as
// `make dev` does) browses, filters, searches, sorts and pages; templates created, changed and
// deleted with kubectl show in the API within a second (the watch, not a poll).
import { namespaceFor } from "@atrium/crds";
import { R } from "@atrium/kube";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBinaries, kubectlIn } from "../cluster/controlplane.ts";
import { catalogFiles, installCatalog } from "../cluster/install.ts";
import { until } from "../cluster/until.ts";
import { startWorld, type World } from "./api/world.ts";

let w: World;
let kubectl: (input: string | undefined, ...args: string[]) => string;

beforeAll(async () => {
  w = await startWorld({ provider: "sqlite" });
  const binDir = ensureBinaries();
  installCatalog({ binDir, kubeconfig: w.kubeconfig });
  kubectl = (input, ...args) => {
    const k = kubectlIn(binDir, w.kubeconfig, ...args);
    return input === undefined ? k.run() : k.stdin(input);
  };
  await until(
    "the sample catalog in the API",
    async () => w.api.services.catalog.all().length === catalogFiles().length,
    10_000,
  );
  // The expectations below are written for these apps: a new sample app needs them updated.
  expect(w.api.services.catalog.all().map((t) => t.metadata.name)).toEqual([...SAMPLE_BY_NAME].sort());
}, 300_000);
afterAll(() => w?.stop());

/** The sample catalog in display-name order. */
const SAMPLE_BY_NAME = [
  "demo-notes",
  "gitea",
  "mattermost",
  "n8n",
  "nextcloud",
  "open-webui",
  "uptime-kuma",
  "vaultwarden",
];

const apps = (query = "", who: "viewer" | "outsider" = "viewer") =>
  w.call(
    who === "viewer" ? w.people.viewer : w.outsider,
    "GET",
    `/api/orgs/${who === "viewer" ? w.orgA : w.orgB}/marketplace/apps${query}`,
  );
const names = (body: { items: Array<{ name: string }> }) => body.items.map((i) => i.name);

/** A template like the sample ones, small. */
const template = (name: string, over: Record<string, unknown> = {}) => ({
  apiVersion: "atrium.dev/v1alpha1",
  kind: "AppTemplate",
  metadata: { name },
  spec: {
    displayName: "Zephyr Notes",
    description: "Plain notes.",
    category: "Productivity",
    image: "registry.example/zephyr",
    versions: ["1.0"],
    defaultVersion: "1.0",
    ports: [{ name: "http", containerPort: 8080 }],
    ...over,
  },
});

describe("browsing the sample catalog", () => {
  it("lists every app by name with its card, and counts per category", async () => {
    const r = await apps();
    expect(r.status).toBe(200);
    expect(names(r.body)).toEqual(SAMPLE_BY_NAME);
    expect(r.body.total).toBe(8);
    expect(r.body.nextCursor).toBeNull();
    expect(r.body.items.find((i: { name: string }) => i.name === "nextcloud")).toEqual({
      name: "nextcloud",
      displayName: "Nextcloud",
      icon: null,
      publisher: "Nextcloud GmbH",
      description: "Files, calendars, contacts and office documents in one self-hosted workspace.",
      category: "Productivity",
      plans: [
        { id: "monthly", interval: "monthly", amount: 900, currency: "USD" },
        { id: "annual", interval: "annual", amount: 9000, currency: "USD" },
      ],
      trialDays: 30,
      installedInOrg: 0,
      trialAvailable: true,
    });
    const gitea = r.body.items.find((i: { name: string }) => i.name === "gitea");
    expect([gitea.trialDays, gitea.trialAvailable]).toEqual([0, false]);
    expect(r.body.categories).toEqual([
      { category: "Productivity", count: 2 },
      { category: "AI", count: 1 },
      { category: "Communication", count: 1 },
      { category: "Development", count: 1 },
      { category: "Analytics", count: 0 },
      { category: "Security", count: 1 },
      { category: "Storage", count: 0 },
      { category: "Automation", count: 1 },
      { category: "Monitoring", count: 1 },
    ]);
    const categories = await w.call(w.people.viewer, "GET", `/api/orgs/${w.orgA}/marketplace/categories`);
    expect(categories.body).toEqual({ categories: r.body.categories });
  });

  it("filters by category, keeping the counts of the unfiltered search", async () => {
    const r = await apps("?category=Development");
    expect(names(r.body)).toEqual(["gitea"]);
    expect(r.body.total).toBe(1);
    expect(r.body.categories.find((c: { category: string }) => c.category === "Productivity").count).toBe(2);
  });

  it("finds Nextcloud whatever the case or accents, name matches before description matches", async () => {
    for (const q of ["NEXTCLOUD", "nèxtcloud", "Next"])
      expect(names((await apps(`?q=${encodeURIComponent(q)}`)).body)).toEqual(["nextcloud"]);
    // "files" is only in Nextcloud's description.
    expect(names((await apps("?q=FILES")).body)).toEqual(["nextcloud"]);
    // "web" starts a word of Open WebUI's name ("websites" in Uptime Kuma's description ranks after it).
    expect(names((await apps("?q=web")).body)).toEqual(["open-webui", "uptime-kuma"]);
    const chat = await apps("?q=chat&category=AI");
    expect(names(chat.body)).toEqual(["open-webui"]);
    expect(chat.body.categories.filter((c: { count: number }) => c.count > 0)).toEqual([
      { category: "AI", count: 1 },
      { category: "Communication", count: 1 },
    ]);
  });

  it("sorts by price: free first, then by the cheapest plan (annual per month, one-time at face value)", async () => {
    // Demo Notes and Uptime Kuma free; Vaultwarden $30/yr = 250 ¢/mo; Nextcloud 750; Mattermost 834; Open WebUI 1250;
    // n8n 1667; Gitea a $49 one-time payment.
    const order = ["demo-notes", "uptime-kuma", "vaultwarden", "nextcloud", "mattermost", "open-webui", "n8n", "gitea"];
    expect(names((await apps("?sort=price")).body)).toEqual(order);
    const paged = [];
    let cursor = "";
    do {
      const page = await apps(`?sort=price&limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      paged.push(...names(page.body));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(paged).toEqual(order);
  });

  it("pages without duplicates or gaps, also when the catalog changes between pages", async () => {
    const first = await apps("?limit=3");
    expect(names(first.body)).toEqual(SAMPLE_BY_NAME.slice(0, 3));
    // A template that sorts before the page boundary arrives between the requests: an offset
    // would now repeat "mattermost"; the cursor continues after it.
    kubectl(JSON.stringify(template("aardvark", { displayName: "Aardvark" })), "apply", "-f", "-");
    await until("aardvark in the API", async () => !!w.api.services.catalog.get("aardvark"), 5_000, 20);
    const second = await apps(`?limit=3&cursor=${first.body.nextCursor}`);
    expect(names(second.body)).toEqual(SAMPLE_BY_NAME.slice(3, 6));
    const third = await apps(`?limit=3&cursor=${second.body.nextCursor}`);
    expect(names(third.body)).toEqual(SAMPLE_BY_NAME.slice(6));
    expect(third.body.nextCursor).toBeNull();
    kubectl(undefined, "delete", "apptemplate", "aardvark");
    await until("aardvark gone", async () => !w.api.services.catalog.get("aardvark"), 5_000, 20);
  });

  it("shows an app's detail: versions, settings schema, plans, trial terms, homepage", async () => {
    const r = await w.call(w.people.viewer, "GET", `/api/orgs/${w.orgA}/marketplace/apps/nextcloud`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      name: "nextcloud",
      displayName: "Nextcloud",
      description: "Files, calendars, contacts and office documents in one self-hosted workspace.",
      icon: null,
      publisher: "Nextcloud GmbH",
      homepage: "https://nextcloud.com",
      category: "Productivity",
      versions: ["30.0.4-apache", "29.0.10-apache"],
      defaultVersion: "30.0.4-apache",
      settings: [
        {
          name: "NEXTCLOUD_ADMIN_USER",
          description: "First administrator's login",
          required: true,
          secret: false,
          default: "admin",
          generated: false,
        },
        {
          name: "NEXTCLOUD_ADMIN_PASSWORD",
          description: "First administrator's password",
          required: true,
          secret: true,
          default: null,
          generated: true,
        },
        {
          name: "NEXTCLOUD_TRUSTED_DOMAINS",
          description: "Host names Nextcloud answers to (space separated)",
          required: false,
          secret: false,
          default: null,
          generated: false,
        },
      ],
      plans: [
        { id: "monthly", interval: "monthly", amount: 900, currency: "USD" },
        { id: "annual", interval: "annual", amount: 9000, currency: "USD" },
      ],
      trial: { days: 30, available: true },
      storage: { size: "20Gi", mountPath: "/var/www/html" },
      ports: [{ name: "http", containerPort: 80 }],
      installedInOrg: 0,
    });
  });

  it("answers 404 for an unknown app", async () => {
    const r = await w.call(w.people.viewer, "GET", `/api/orgs/${w.orgA}/marketplace/apps/no-such-app`);
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ error: { code: "not_found", message: 'App "no-such-app" not found' } });
  });

  it.each([
    ["an unknown sort", "?sort=cheapest", "/query/sort", "must be one of: relevance, name, popularity, price"],
    [
      "an unknown category",
      "?category=Games",
      "/query/category",
      "must be one of: Productivity, AI, Communication, Development, Analytics, Security, Storage, Automation, Monitoring",
    ],
    ["a limit of 0", "?limit=0", "/query/limit", "must be a whole number from 1 to 100"],
    ["a limit above the maximum", "?limit=101", "/query/limit", "must be a whole number from 1 to 100"],
    ["a limit that is no number", "?limit=ten", "/query/limit", "must be a whole number from 1 to 100"],
    ["a made-up cursor", "?cursor=bm90LWEtY3Vyc29y", "/query/cursor", "is not a cursor this API returned"],
  ])("refuses %s with a 400 naming the field", async (_name, query, path, message) => {
    const r = await apps(query);
    expect(r.status).toBe(400);
    expect(r.body).toEqual({
      error: { code: "validation_failed", message: `Invalid query: ${path}: ${message}`, fields: [{ path, message }] },
    });
  });

  it("refuses a cursor of another sort", async () => {
    const first = await apps("?limit=2&sort=name");
    const r = await apps(`?limit=2&sort=price&cursor=${first.body.nextCursor}`);
    const message = "belongs to sort=name, not sort=price: start again without a cursor";
    expect(r.status).toBe(400);
    expect(r.body.error.fields).toEqual([{ path: "/query/cursor", message }]);
  });
});

describe("installs", () => {
  it("counts installs in this org on the cards, and across orgs for popularity", async () => {
    const app = (org: string, name: string, tpl: string) =>
      w.kube.create(R.appInstance, {
        metadata: { name, namespace: namespaceFor(org) },
        spec: { template: tpl },
      } as never);
    await app(w.orgA, "kuma-1", "uptime-kuma");
    await app(w.orgA, "kuma-2", "uptime-kuma");
    await app(w.orgB, "vault", "vaultwarden");
    await until(
      "the installs in the API",
      async () => w.api.services.installs.installsPerTemplate().get("vaultwarden") === 1,
      5_000,
      20,
    );
    const mine = await apps("?sort=popularity");
    expect(names(mine.body).slice(0, 2)).toEqual(["uptime-kuma", "vaultwarden"]);
    const card = (body: { items: Array<{ name: string; installedInOrg: number }> }, name: string) =>
      body.items.find((i) => i.name === name)?.installedInOrg;
    expect([card(mine.body, "uptime-kuma"), card(mine.body, "vaultwarden")]).toEqual([2, 0]);
    const theirs = await apps("?sort=popularity", "outsider");
    expect([card(theirs.body, "uptime-kuma"), card(theirs.body, "vaultwarden")]).toEqual([0, 1]);
    const detail = await w.call(w.people.viewer, "GET", `/api/orgs/${w.orgA}/marketplace/apps/uptime-kuma`);
    expect(detail.body.installedInOrg).toBe(2);
  });

  it("says whether this org can still start a trial: not once billing granted it one", async () => {
    // The kubectl-created Vaultwarden of org B (above) gets its trial from billing.
    const vaultwarden = async (who: "viewer" | "outsider") =>
      (await apps("?q=vaultwarden", who)).body.items[0]?.trialAvailable as boolean;
    await until("org B's Vaultwarden trial", async () => (await vaultwarden("outsider")) === false, 10_000);
    expect(await vaultwarden("viewer")).toBe(true);
    const detail = await w.call(w.outsider, "GET", `/api/orgs/${w.orgB}/marketplace/apps/vaultwarden`);
    expect(detail.body.trial).toEqual({ days: 30, available: false });
  });
});

describe("catalog changes through kubectl", () => {
  /** Polls the API until `seen` holds or the deadline passes: a functional check, not a timing. */
  const within1s = (what: string, seen: () => Promise<boolean>) => until(what, seen, 1_000, 20);

  it("shows a created template, a changed one and a deleted one within a second", async () => {
    const name = "zephyr-notes";
    kubectl(JSON.stringify(template(name)), "apply", "-f", "-");
    await within1s("the new template in search", async () => names((await apps("?q=zephyr")).body).includes(name));

    kubectl(
      JSON.stringify(template(name, { description: "Plain notes with a kaleidoscope view.", category: "Storage" })),
      "apply",
      "-f",
      "-",
    );
    await within1s("the changed description in search", async () =>
      names((await apps("?q=kaleidoscope&category=Storage")).body).includes(name),
    );
    expect(names((await apps("?category=Productivity")).body)).not.toContain(name);

    kubectl(undefined, "delete", "apptemplate", name);
    await within1s(
      "the template gone",
      async () => (await w.call(w.people.viewer, "GET", `/api/orgs/${w.orgA}/marketplace/apps/${name}`)).status === 404,
    );
    expect(names((await apps("?q=zephyr")).body)).toEqual([]);
  });

  it("answers a search asked again afresh once an install or the catalog changed (kept answers are dropped)", async () => {
    // Whole answers are kept per org and query (answer-cache.ts): the same query, asked before
    // and right after each change is seen by the API, must show the change.
    const query = "?q=uptime&sort=popularity";
    type Card = { name: string; installedInOrg: number };
    const kuma = async () => ((await apps(query)).body.items as Card[]).find((i) => i.name === "uptime-kuma");
    const installs = (await kuma())?.installedInOrg as number;
    expect((await kuma())?.installedInOrg).toBe(installs);
    await w.kube.create(R.appInstance, {
      metadata: { name: "kuma-again", namespace: namespaceFor(w.orgA) },
      spec: { template: "uptime-kuma" },
    } as never);
    await until(
      "the install in the API",
      async () => w.api.services.installs.installsPerTemplateIn(w.orgA).get("uptime-kuma") === installs + 1,
      5_000,
      10,
    );
    expect((await kuma())?.installedInOrg).toBe(installs + 1);

    const name = "uptime-zephyr";
    kubectl(JSON.stringify(template(name, { displayName: "Uptime Zephyr" })), "apply", "-f", "-");
    await until("the template in the API", async () => w.api.services.catalog.get(name) !== undefined, 5_000, 10);
    expect(names((await apps(query)).body)).toContain(name);
    kubectl(undefined, "delete", "apptemplate", name);
    await until(
      "the template gone from the API",
      async () => w.api.services.catalog.get(name) === undefined,
      5_000,
      10,
    );
    expect(names((await apps(query)).body)).not.toContain(name);
  });
});
