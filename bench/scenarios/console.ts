// console: what a person waits for in the web console, in Debian's chromium against the real
// API (in this process, on SQLite, serving console/dist) over a real control plane with an
// organization of 10,000 members (members-list's fixture) and the sample catalog:
// - the JavaScript a first visit loads (gzip level 9 of every script the page fetched): the login
//   page, the dashboard (the home after login, with its chart) and the members page, the largest
//   reported;
// - the members page's first rows: from navigation start to the first table row in the DOM,
//   20 navigations alternating with the members API call alone from the same page (the page's
//   own first request), p95 of each and their ratio;
// - Lighthouse 12.2.3 (the npm package, chrome-launcher on /usr/bin/chromium, desktop preset)
//   on the dashboard, members and marketplace pages, a fresh browser per run: the minimum score
//   over the three pages of the median of BENCH_LH_RUNS runs each.
import { gzipSync } from "node:zlib";
import { namespaceFor } from "@atrium/crds";
import { KubeClient, R } from "@atrium/kube";
import { KubeConfig } from "@kubernetes/client-node";
import * as chromeLauncher from "chrome-launcher";
import lighthouse from "lighthouse";
import desktopConfig from "lighthouse/core/config/desktop-config.js";
import type { Browser, BrowserContext } from "playwright-core";
import { startApi } from "../../test/cluster/api-stack.ts";
import { startControlPlane } from "../../test/cluster/controlplane.ts";
import { installCatalog, installCrds } from "../../test/cluster/install.ts";
import { loginWithOidc } from "../../test/cluster/oidc-login.ts";
import { startOidcProvider } from "../../test/cluster/oidc-provider.ts";
import { freePorts } from "../../test/cluster/ports.ts";
import { until } from "../../test/cluster/until.ts";
import { launchBrowser } from "../../test/integration/console/browser.ts";
import { writeResult } from "../results.ts";
import { median, percentile } from "../stats.ts";
import { createMembers, MEMBERS, ORG, seedOrg } from "./members-list.ts";

const NAVIGATIONS = Number(process.env.BENCH_NAVIGATIONS ?? 20);
const LH_RUNS = Number(process.env.BENCH_LH_RUNS ?? 3);
const ADMIN = "admin@bench.example";
const log = (m: string) => console.log(`[console] ${m}`);

/** A fresh profile (empty cache) with the session cookie, or without for the login page. */
async function profile(browser: Browser, base: string, cookies: Map<string, string> | undefined) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: "en-GB" });
  if (cookies)
    await context.addCookies(
      [...cookies].map(([name, value]) => ({ name, value, url: base, sameSite: "Lax" as const })),
    );
  return context;
}

/** Kilobytes (1,000 bytes) of gzip level 9 of every script a first visit to `path` fetched. */
async function firstVisitJs(context: BrowserContext, base: string, path: string, ready: string): Promise<number> {
  const page = await context.newPage();
  const bodies: Promise<Buffer>[] = [];
  page.on("response", (r) => {
    if (r.request().resourceType() === "script") bodies.push(r.body());
  });
  await page.goto(base + path);
  await page.locator(ready).first().waitFor({ timeout: 60_000 });
  await page.waitForLoadState("networkidle");
  const sizes = (await Promise.all(bodies)).map((b) => gzipSync(b, { level: 9 }).length);
  await page.close();
  return sizes.reduce((a, b) => a + b, 0) / 1000;
}

/** Milliseconds from navigation start to the members table's first row, and for the API call alone. */
async function membersFirstRows(context: BrowserContext, base: string) {
  const page = await context.newPage();
  // Set before the page's own scripts run: the moment a row enters the DOM, on the page's clock.
  await page.addInitScript(() => {
    const g = globalThis as any;
    const seen = () => g.document.querySelector("main table tbody tr");
    new g.MutationObserver((_m: unknown, observer: { disconnect(): void }) => {
      if (seen()) {
        g.__firstRows = g.performance.now();
        observer.disconnect();
      }
    }).observe(g.document, { childList: true, subtree: true });
  });
  const url = `${base}/orgs/${ORG}/members`;
  const warm = async () => {
    await page.goto(url);
    await page.waitForFunction(() => (globalThis as any).__firstRows !== undefined, null, { timeout: 60_000 });
  };
  await warm(); // the assets into the cache, as for anyone's second visit
  const pageMs: number[] = [];
  const apiMs: number[] = [];
  for (let i = 0; i < NAVIGATIONS; i++) {
    await warm();
    pageMs.push(await page.evaluate(() => (globalThis as any).__firstRows as number));
    apiMs.push(
      await page.evaluate(async (org) => {
        const g = globalThis as any;
        const t = g.performance.now();
        const r = await g.fetch(`/api/orgs/${org}/members?limit=25`, { credentials: "same-origin" });
        await r.json();
        return g.performance.now() - t;
      }, ORG),
    );
  }
  await page.close();
  return { pageMs, apiMs };
}

type Scores = { performance: number; accessibility: number; bestPractices: number };
const lighthouseErrors: string[] = [];

async function lighthouseScores(urls: string[], cookieHeader: string): Promise<Record<string, Scores>> {
  const out: Record<string, Scores> = {};
  for (const url of urls) {
    const runs: Scores[] = [];
    for (let i = 0; i < LH_RUNS; i++) {
      // A fresh browser per run: nothing of one run (cache, history) reaches the next.
      const chrome = await chromeLauncher.launch({
        chromePath: process.env.ATRIUM_CHROMIUM ?? "/usr/bin/chromium",
        chromeFlags: ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage"],
      });
      try {
        const result = await lighthouse(
          url,
          {
            port: chrome.port,
            output: "json",
            logLevel: "error",
            onlyCategories: ["performance", "accessibility", "best-practices"],
            extraHeaders: { Cookie: cookieHeader },
          },
          desktopConfig,
        );
        const c = result?.lhr.categories;
        if (!c) throw new Error(`Lighthouse gave no result for ${url}`);
        // A run Lighthouse itself could not finish (e.g. NO_NAVSTART on a busy machine) scores 0: counted and said.
        if (result.lhr.runtimeError) {
          lighthouseErrors.push(`${new URL(url).pathname}: ${result.lhr.runtimeError.code}`);
          log(`lighthouse ${new URL(url).pathname}: runtime error ${result.lhr.runtimeError.code}`);
        }
        const failed = Object.values(result.lhr.audits)
          .filter((a) => a.score !== null && a.score < 1 && a.scoreDisplayMode === "binary")
          .map((a) => a.id);
        runs.push({
          performance: c.performance?.score ?? 0,
          accessibility: c.accessibility?.score ?? 0,
          bestPractices: c["best-practices"]?.score ?? 0,
        });
        log(
          `lighthouse ${new URL(url).pathname}: ${JSON.stringify(runs.at(-1))} failed: ${failed.join(", ") || "none"}`,
        );
      } finally {
        chrome.kill();
      }
    }
    out[url] = {
      performance: median(runs.map((r) => r.performance)),
      accessibility: median(runs.map((r) => r.accessibility)),
      bestPractices: median(runs.map((r) => r.bestPractices)),
    };
  }
  return out;
}

export async function run() {
  const cp = await startControlPlane({ log });
  try {
    installCrds(cp);
    installCatalog(cp);
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    const kube = new KubeClient(kc, { fieldManager: "atrium-bench" });
    await seedOrg(kube);
    const started = performance.now();
    await createMembers(kube);
    log(`${MEMBERS} members created in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    // The caller: an Admin declared by email, who joins at the first login.
    await kube.create(R.member, {
      metadata: { name: "admin", namespace: namespaceFor(ORG) },
      spec: { email: ADMIN, role: "admin", displayName: "Bench Admin" },
    } as never);
    const [port] = (await freePorts(1)) as [number];
    const idp = await startOidcProvider({
      clients: [
        {
          clientId: "atrium",
          clientSecret: "atrium-test-secret",
          redirectUris: [`http://127.0.0.1:${port}/api/auth/callback`],
        },
      ],
      users: [{ email: ADMIN, name: "Bench Admin" }],
    });
    const api = await startApi({ kubeconfig: cp.kubeconfig, port, oidcIssuer: idp.issuer, quiet: true });
    let browser: Browser | undefined;
    try {
      await until("the API's caches", async () => api.directory.membersOf(ORG).length === MEMBERS + 1, 120_000);
      const session = await loginWithOidc({ apiBase: api.base, email: ADMIN });
      await until("the admin's permissions", async () => api.directory.authorizer.can(ADMIN, ORG, "members:view"));
      browser = await launchBrowser();

      const js = {
        login: await firstVisitJs(
          await profile(browser, api.base, undefined),
          api.base,
          "/",
          "text=Continue to sign in",
        ),
        dashboard: await firstVisitJs(await profile(browser, api.base, session.cookies), api.base, "/", "canvas"),
        members: await firstVisitJs(
          await profile(browser, api.base, session.cookies),
          api.base,
          `/orgs/${ORG}/members`,
          "main table tbody tr",
        ),
      };
      log(`first-visit JS (kB gzip): ${JSON.stringify(js)}`);

      const rows = await membersFirstRows(await profile(browser, api.base, session.cookies), api.base);
      const pageP95 = percentile(rows.pageMs, 95);
      const apiP95 = percentile(rows.apiMs, 95);
      log(
        `members first rows p95 ${pageP95.toFixed(0)} ms (median ${median(rows.pageMs).toFixed(0)}), API call p95 ${apiP95.toFixed(1)} ms`,
      );
      await browser.close();
      browser = undefined;

      const pages = ["dashboard", "members", "marketplace"].map((p) => `${api.base}/orgs/${ORG}/${p}`);
      const scores = await lighthouseScores(pages, session.cookieHeader);
      const min = (k: keyof Scores) => Math.min(...Object.values(scores).map((s) => s[k]));

      writeResult({
        scenario: "console",
        method:
          `Debian chromium (playwright-core) against the API in one Node process on SQLite serving console/dist, an org of ` +
          `${MEMBERS} members and the sample catalog. First-visit JS: gzip -9 of every script fetched with an empty cache ` +
          `(login ${js.login.toFixed(1)}, dashboard ${js.dashboard.toFixed(1)}, members ${js.members.toFixed(1)} kB; the ` +
          `largest reported). Members first rows: navigation start to the first table row (MutationObserver, page clock), ` +
          `${NAVIGATIONS} navigations with a warm cache alternating with the page's own API call ` +
          `(GET /api/orgs/${ORG}/members?limit=25 by fetch from the page), p95 of each; ratio = page p95 / API p95. ` +
          `Lighthouse 12.2.3, desktop preset, chrome-launcher on /usr/bin/chromium (a fresh browser per run), session cookie as a header; ` +
          `median of ${LH_RUNS} runs per page, minimum over dashboard, members and marketplace` +
          (lighthouseErrors.length
            ? ` (runs Lighthouse could not finish, scored 0 and kept in the median: ${lighthouseErrors.join(", ")}).`
            : "."),
        metrics: {
          initial_js_kb_gzip: Number(Math.max(js.login, js.dashboard, js.members).toFixed(1)),
          members_first_rows_p95_ms: Math.round(pageP95),
          api_call_p95_ms: Number(apiP95.toFixed(1)),
          ratio_vs_api_call: Number((pageP95 / apiP95).toFixed(1)),
          lighthouse_performance: min("performance"),
          lighthouse_accessibility: min("accessibility"),
          lighthouse_best_practices: min("bestPractices"),
        },
        goals: {
          initial_js_kb_gzip: "<= 170",
          members_first_rows_p95_ms: "<= 300",
          lighthouse_performance: ">= 0.95",
          lighthouse_accessibility: ">= 1",
          lighthouse_best_practices: ">= 0.95",
        },
      });
    } finally {
      await browser?.close();
      await api.stop();
      await idp.stop();
    }
  } finally {
    await cp.stop();
  }
}
