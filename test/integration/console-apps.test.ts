// The console's marketplace and apps pages in Debian's chromium, against the real stack
// (api/world.ts: control plane, operator, the API assembly serving console/dist, OIDC). A free
// template's pods are KWOK's, with real HTTP servers at their addresses (fake-pods.ts), and KWOK
// serves their logs from world.podLogFile. Every page and dialog is checked with axe and under the
// console's CSP; the pages are saved as screenshots (console/browser.ts says where).
import { appendFileSync } from "node:fs";
import { namespaceFor } from "@atrium/crds";
import { R } from "@atrium/kube";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { echoTemplate, type FakeApp, serveAppPods } from "../cluster/fake-pods.ts";
import { until } from "../cluster/until.ts";
import { startWorld, type World } from "./api/world.ts";
import { expectAccessible, launchBrowser, logIn, newProfile, screenshot, type Watched } from "./console/browser.ts";

const SECRET = "tok-console-S3CRET-5d4c3b";
/** The page follows the URL or the API within this (slow on a busy machine, never a measure). */
const POLL = { timeout: 15_000 };
const FREE = "notes-echo";
const PAID = "team-board";
const LIFETIME = "key-vault";

let w: World;
let browser: Browser;
let admin: Watched;
const fakes: FakeApp[] = [];

/** Three apps: a free one with a required secret (installed here), two paid ones to browse. */
function templates() {
  const free = echoTemplate(FREE) as any;
  free.spec.displayName = "Echo Notes";
  free.spec.publisher = "Atrium Labs";
  free.spec.description = "Notes that echo back: a small app to try installs, logs and idle stops with.";
  free.spec.versions = ["v1.10", "v1.9"];
  free.spec.env = [
    { name: "GREETING", default: "hello", description: "What the app says first." },
    { name: "API_TOKEN", secret: true, required: true, description: "Token for the notes API." },
  ];
  const paid = echoTemplate(PAID) as any;
  paid.spec.displayName = "Team Board";
  paid.spec.category = "Productivity";
  paid.spec.publisher = "Boardworks";
  paid.spec.description = "Kanban boards for small teams, with swimlanes and due dates.";
  paid.spec.pricing = {
    trialDays: 30,
    plans: [
      { id: "monthly", interval: "monthly", amount: 900, currency: "USD" },
      { id: "annual", interval: "annual", amount: 9000, currency: "USD" },
    ],
  };
  const lifetime = echoTemplate(LIFETIME) as any;
  lifetime.spec.displayName = "Key Vault";
  lifetime.spec.category = "Security";
  lifetime.spec.description = "Secrets for your team's apps, kept encrypted.";
  lifetime.spec.pricing = { plans: [{ id: "forever", interval: "lifetime", amount: 4900, currency: "EUR" }] };
  return [free, paid, lifetime];
}

beforeAll(async () => {
  w = await startWorld({ provider: "sqlite" });
  for (const t of templates()) await w.kube.create(R.appTemplate, t);
  await until("the templates in the catalog", async () =>
    [FREE, PAID, LIFETIME].every((n) => w.api.services.catalog.get(n)),
  );
  browser = await launchBrowser();
  admin = await newProfile(browser);
}, 300_000);

afterAll(async () => {
  for (const f of fakes) await f.stop();
  await browser?.close();
  await w?.stop();
});

const card = (page: Page, name: string) => page.getByRole("article", { name });
const cards = (page: Page) => page.getByRole("list", { name: "Apps" }).getByRole("article");

describe("the console's marketplace and apps", () => {
  it("shows an empty apps page that points to the marketplace", async () => {
    const { page } = admin;
    await logIn(page, w.api.base, w.people.admin.email, `/orgs/${w.orgA}/apps`);
    await page.getByRole("heading", { name: "Apps" }).waitFor();
    await page.getByText("No apps installed yet").waitFor();
    await expectAccessible(page, "apps, empty");
    await page.getByRole("main").getByRole("link", { name: "marketplace", exact: true }).click();
    await page.waitForURL(`**/orgs/${w.orgA}/marketplace`);
  });

  it("browses the marketplace: cards, prices per view, trial, categories with counts, search and sort in the URL", async () => {
    const { page } = admin;
    await page.getByRole("heading", { name: "Marketplace" }).waitFor();
    await card(page, "Echo Notes").getByText("Free").waitFor();
    await card(page, "Team Board").getByText("30-day free trial").waitFor();
    expect(await card(page, "Team Board").textContent()).toMatch(/9\.00 \/ month/);
    expect(await card(page, "Key Vault").textContent()).toMatch(/49\.00 lifetime/);
    expect(await card(page, "Echo Notes").getByText("by Atrium Labs").count()).toBe(1);
    await expectAccessible(page, "marketplace");
    await screenshot(page, "marketplace");

    // The annual view: the annual plan as it is.
    await page.getByRole("radiogroup", { name: "Show prices" }).locator("label").filter({ hasText: "Annual" }).click();
    await page.waitForURL(/price=annual/);
    await expect.poll(async () => card(page, "Team Board").textContent(), POLL).toMatch(/90\.00 \/ year/);

    // A category, with the number of apps in it.
    await page.getByRole("button", { name: /Category/ }).click();
    await page.getByRole("option", { name: "Security (1)" }).click();
    await page.waitForURL(/category=Security/);
    await expect.poll(() => cards(page).count(), POLL).toBe(1);
    await card(page, "Key Vault").waitFor();
    await page.goBack();
    await expect.poll(() => cards(page).count(), POLL).toBe(3);

    // Search follows the typing into the URL; the categories count what it matches.
    await page.getByLabel("Search").fill("kanban");
    await page.waitForURL(/q=kanban/);
    await expect.poll(() => cards(page).count(), POLL).toBe(1);
    await card(page, "Team Board").waitFor();
    await page.getByRole("button", { name: /Category/ }).click();
    await page.getByRole("option", { name: "Productivity (1)" }).waitFor();
    await page.keyboard.press("Escape");
    await page.getByRole("listbox").waitFor({ state: "hidden" });

    // Sort by price: the free app first, then by currency code (EUR before USD).
    await page.goto(`${w.api.base}/orgs/${w.orgA}/marketplace?sort=price`);
    await expect.poll(() => cards(page).count(), POLL).toBe(3);
    const names = await page.getByRole("list", { name: "Apps" }).getByRole("link").allTextContents();
    expect(names).toEqual(["Echo Notes", "Key Vault", "Team Board"]);
  });

  it("shows an app's versions, settings and plans, and installs it: a field error first, then live progress to Running", async () => {
    const { page } = admin;
    await page.getByRole("link", { name: "Team Board" }).click();
    await page.getByRole("heading", { name: "Team Board" }).waitFor();
    await page.getByText("30-day free trial").waitFor();
    expect(await page.getByRole("main").textContent()).toMatch(/90\.00 \/ year/);
    await expectAccessible(page, "marketplace app, paid");
    await page.goBack();

    await page.getByRole("link", { name: "Echo Notes" }).click();
    await page.getByRole("heading", { name: "Echo Notes" }).waitFor();
    await page.getByRole("row").filter({ hasText: "API_TOKEN" }).getByText("required").waitFor();
    await page.getByText("v1.10, v1.9").waitFor();
    await expectAccessible(page, "marketplace app");

    await page.getByRole("button", { name: "Install" }).click();
    const dialog = page.getByRole("dialog", { name: "Install Echo Notes" });
    await dialog.waitFor();
    await dialog.getByLabel("App name").fill("notes");
    // The secret is a password field; without it the API refuses, and says so beside the field.
    expect(await dialog.getByLabel("API_TOKEN *").getAttribute("type")).toBe("password");
    await dialog.getByRole("button", { name: "Deploy" }).click();
    const tokenField = dialog.getByRole("textbox", { name: "API_TOKEN *" });
    await expect.poll(() => tokenField.getAttribute("aria-invalid"), POLL).toBe("true");
    await dialog.getByText("The app was not installed").waitFor();
    // Beside the field (the banner above says which field too).
    await dialog.getByText("is required", { exact: true }).waitFor();
    await expectAccessible(page, "install wizard with a field error");
    await tokenField.fill(SECRET);
    await dialog.locator("label").filter({ hasText: "Always on" }).click();
    await dialog
      .locator("label")
      .filter({ hasText: /^Public/ })
      .click();
    await screenshot(page, "install-wizard");
    await dialog.getByRole("button", { name: "Deploy" }).click();

    const progress = page.getByRole("dialog", { name: "Installing notes" });
    await progress.waitFor();
    fakes.push(serveAppPods(w.kc, { namespace: namespaceFor(w.orgA), app: "notes", port: 8080 }));
    await progress.getByText("Echo Notes is running.").waitFor({ timeout: 90_000 });
    await expectAccessible(page, "install progress");
    const made = await w.kube.get<any>(R.appInstance, "notes", namespaceFor(w.orgA));
    expect(made.spec).toMatchObject({ access: { policy: "Public" }, idle: { policy: "AlwaysOn" } });
    expect(JSON.stringify(made.spec)).not.toContain(SECRET);
    await progress.getByRole("link", { name: "Go to notes" }).click();
    await page.waitForURL(`**/orgs/${w.orgA}/apps/notes`);
  });

  it("shows the app's page: status, conditions, secrets as set, live logs", async () => {
    const { page } = admin;
    await page.getByRole("heading", { name: "notes", exact: true }).waitFor();
    await page.getByText("Running", { exact: true }).first().waitFor();
    await page.getByRole("row").filter({ hasText: "API_TOKEN" }).getByText("secret set").waitFor();
    await page.getByRole("row").filter({ hasText: "Ready" }).waitFor();
    // A line written to the pod's log after the page follows it arrives in the page.
    const log = page.getByRole("log", { name: "Log lines" });
    for (const n of [1, 2]) {
      const line = `console follows line ${n} ${Date.now()}`;
      appendFileSync(w.podLogFile, `${new Date().toISOString()} stdout F ${line}\n`);
      await log.getByText(line).waitFor({ timeout: 30_000 });
    }
    await page.getByText(/Following · last \d+ line/).waitFor();
    expect(await page.content()).not.toContain(SECRET);
    await expectAccessible(page, "app page");
    await screenshot(page, "app");
  });

  it("stops and starts the app from its page", async () => {
    const { page } = admin;
    await page.getByRole("button", { name: "Stop", exact: true }).click();
    await page.getByText("Stopped on request; Start runs it again").waitFor({ timeout: 60_000 });
    await page.getByRole("button", { name: "Start", exact: true }).click();
    await page.getByRole("button", { name: "Stop", exact: true }).waitFor({ timeout: 60_000 });
    await until(
      "notes running again",
      async () => (await w.kube.get<any>(R.appInstance, "notes", namespaceFor(w.orgA)))?.status?.phase === "Running",
      60_000,
    );
    await page.getByText("Running", { exact: true }).first().waitFor({ timeout: 30_000 });
  });

  it("changes the app's settings: the API's field error beside the field, then saved", async () => {
    const { page } = admin;
    await page.getByRole("button", { name: "Settings…" }).click();
    const dialog = page.getByRole("dialog", { name: "Settings of notes" });
    await dialog.waitFor();
    expect(await dialog.getByLabel("API_TOKEN").inputValue()).toBe(""); // never sent to the page
    await dialog.getByText("Set; leave empty to keep it.").waitFor();
    await dialog
      .locator("label")
      .filter({ hasText: /^Stop when idle/ })
      .click();
    await dialog.getByLabel("Idle timeout").fill("0s");
    await dialog.getByLabel("GREETING").fill("bonjour");
    await expectAccessible(page, "settings dialog");
    await dialog.getByRole("button", { name: "Save settings" }).click();
    await dialog.getByText("The settings were not saved").waitFor();
    await dialog.getByText("between 1s and 720h", { exact: false }).first().waitFor();
    expect(await dialog.getByLabel("Idle timeout").getAttribute("aria-invalid")).toBe("true");
    await dialog.getByLabel("Idle timeout").fill("30m");
    await dialog.getByRole("button", { name: "Save settings" }).click();
    await dialog.waitFor({ state: "hidden" });
    await page.getByRole("row").filter({ hasText: "GREETING" }).getByText("bonjour").waitFor();
    await page.getByText("Stops after 30m without a request").waitFor();
    const app = await w.kube.get<any>(R.appInstance, "notes", namespaceFor(w.orgA));
    expect(app.spec.idle).toEqual({ policy: "Auto", timeout: "30m" });
    expect(JSON.stringify(app.spec)).not.toContain(SECRET);
  });

  it("lists the app with its status, template and last activity", async () => {
    const { page } = admin;
    await page.getByRole("navigation", { name: "Organization" }).getByRole("link", { name: "Apps" }).click();
    await page.getByRole("heading", { name: "Apps" }).waitFor();
    const row = page.getByRole("row").filter({ hasText: "notes" });
    await row.getByText("Running").waitFor();
    await row.getByRole("cell", { name: "Echo Notes v1.10" }).waitFor();
    await expectAccessible(page, "apps");
    await screenshot(page, "apps");
    // Search and the status filter live in the URL (deep links, back and forward).
    await page.getByLabel("Search").fill("zzz");
    await page.waitForURL(/q=zzz/);
    await page.getByText("No app matches").waitFor();
    await page.goto(`${w.api.base}/orgs/${w.orgA}/apps?status=Failed`);
    await page.getByText("No app matches").waitFor();
    await page.goto(`${w.api.base}/orgs/${w.orgA}/apps?status=Running&q=not`);
    await page.getByRole("row").filter({ hasText: "notes" }).waitFor();
    await page.goBack();
    await page.getByText("No app matches").waitFor();
  });

  it("installs with the keyboard alone", async () => {
    const { page } = admin;
    await page.goto(`${w.api.base}/orgs/${w.orgA}/marketplace/${FREE}`);
    await page.getByRole("button", { name: "Install" }).focus();
    await page.keyboard.press("Enter");
    const dialog = page.getByRole("dialog", { name: "Install Echo Notes" });
    await dialog.waitFor();
    // App name has the focus, with a free name suggested ("notes-echo-2": one install so far).
    expect(await dialog.getByLabel("App name").inputValue()).toBe(`${FREE}-2`);
    await page.keyboard.press("ControlOrMeta+a");
    await page.keyboard.type("keys");
    await page.keyboard.press("Tab"); // Version
    await page.keyboard.press("Tab"); // GREETING
    await page.keyboard.type("hi from the keyboard");
    await page.keyboard.press("Tab"); // API_TOKEN
    await page.keyboard.type(SECRET);
    await page.keyboard.press("Enter"); // submits the form
    const progress = page.getByRole("dialog", { name: "Installing keys" });
    await progress.waitFor();
    fakes.push(serveAppPods(w.kc, { namespace: namespaceFor(w.orgA), app: "keys", port: 8080 }));
    await progress.getByText("Echo Notes is running.").waitFor({ timeout: 90_000 });
    await page.keyboard.press("Escape");
    await progress.waitFor({ state: "hidden" });
    const made = await w.kube.get<any>(R.appInstance, "keys", namespaceFor(w.orgA));
    expect(made.spec.env).toContainEqual({ name: "GREETING", value: "hi from the keyboard" });
  });

  it("uninstalls an app confirmed by its typed name", async () => {
    const { page } = admin;
    await page.goto(`${w.api.base}/orgs/${w.orgA}/apps/keys`);
    await page.getByRole("heading", { name: "keys", exact: true }).waitFor();
    await page.getByRole("button", { name: "Uninstall" }).click();
    const confirm = page.getByRole("alertdialog", { name: "Uninstall keys?" });
    await confirm.getByLabel("Type “keys” to confirm").fill("key");
    expect(await confirm.getByRole("button", { name: "Uninstall" }).isDisabled()).toBe(true);
    await confirm.getByLabel("Type “keys” to confirm").fill("keys");
    await confirm
      .locator("label")
      .filter({ hasText: /^Delete the volume/ })
      .click();
    await expectAccessible(page, "uninstall dialog");
    await confirm.getByRole("button", { name: "Uninstall" }).click();
    await page.waitForURL(`**/orgs/${w.orgA}/apps`);
    await page.getByRole("row").filter({ hasText: "notes" }).waitFor();
    expect(await page.getByRole("row").filter({ hasText: "keys" }).count()).toBe(0);
    await until("keys gone", async () => !w.api.services.installs.get(w.orgA, "keys"));
  });

  it("pages the marketplace with Load more (the API's cursor)", async () => {
    const { page } = admin;
    for (let i = 1; i <= 25; i++) {
      const t = echoTemplate(`bulk-${String(i).padStart(2, "0")}`) as any;
      t.spec.displayName = `Bulk ${String(i).padStart(2, "0")}`;
      t.spec.category = "Automation";
      await w.kube.create(R.appTemplate, t);
    }
    await until("the bulk templates in the catalog", async () => !!w.api.services.catalog.get("bulk-25"));
    await page.goto(`${w.api.base}/orgs/${w.orgA}/marketplace?category=Automation`);
    await page.getByText("Showing 24 of 25").waitFor();
    expect(await cards(page).count()).toBe(24);
    await page.getByRole("button", { name: "Load more" }).click();
    await page.getByText("Showing 25 of 25").waitFor();
    await card(page, "Bulk 25").waitFor();
    expect(await page.getByRole("button", { name: "Load more" }).count()).toBe(0);
  });

  it("works 375 px wide", async () => {
    const small = await newProfile(browser, { width: 375, height: 780 });
    await logIn(small.page, w.api.base, w.people.admin.email, `/orgs/${w.orgA}/marketplace`);
    const { page } = small;
    for (const path of ["marketplace", "apps", "apps/notes"]) {
      await page.goto(`${w.api.base}/orgs/${w.orgA}/${path}`);
      await page.getByRole("heading", { level: 1 }).waitFor();
      await page.getByText("Loading", { exact: false }).waitFor({ state: "detached" });
      const tooWide = await page.evaluate(() =>
        [...(globalThis as any).document.querySelectorAll("body *")]
          .filter((e: any) => e.getBoundingClientRect().right > 376 && !e.closest("[data-scrolls]"))
          .map((e: any) => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)
          .slice(0, 8),
      );
      expect(tooWide, path).toEqual([]);
    }
    await page.goto(`${w.api.base}/orgs/${w.orgA}/marketplace?sort=price&price=annual`);
    await card(page, "Bulk 01").waitFor();
    await screenshot(page, "marketplace-375");
    expect(small.problems).toEqual([]);
    await small.context.close();
  });

  it("hides Install from a Viewer", async () => {
    const v = await newProfile(browser);
    await logIn(v.page, w.api.base, w.people.viewer.email, `/orgs/${w.orgA}/marketplace/${FREE}`);
    await v.page.getByRole("heading", { name: "Echo Notes" }).waitFor();
    await v.page.getByText("lacks the permission apps:install").waitFor();
    expect(await v.page.getByRole("button", { name: "Install" }).count()).toBe(0);
    expect(v.problems).toEqual([]);
    await v.context.close();
  });

  it("ran without CSP violations or console errors", () => {
    expect(admin.problems).toEqual([]);
  });
});
