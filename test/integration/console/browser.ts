// The console in a real browser: Debian's chromium driven by playwright-core (never a
// downloaded browser), with what every console test checks on every page: axe (WCAG 2.2 A and
// AA) and no Content-Security-Policy violation.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { expect } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..", "..");
/**
 * Where screenshots go: into docs/screenshots (the README's pictures, committed) only when
 * ATRIUM_SCREENSHOTS=1 (`make screenshots`), so an ordinary test run leaves the git tree clean;
 * otherwise into the git-ignored test-output/screenshots, so a failing run still leaves pictures.
 */
export const SCREENSHOTS =
  process.env.ATRIUM_SCREENSHOTS === "1" ? join(ROOT, "docs", "screenshots") : join(ROOT, "test-output", "screenshots");

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.ATRIUM_CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    // Root in CI has no user namespaces for chromium's sandbox.
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
}

export type Watched = { page: Page; context: BrowserContext; problems: string[] };

/**
 * A fresh browser profile (its own cookies and storage) whose pages report CSP violations and
 * console errors into `problems`.
 */
export async function newProfile(
  browser: Browser,
  viewport = { width: 1280, height: 860 },
  locale = "en-GB",
): Promise<Watched> {
  const context = await browser.newContext({ viewport, locale, timezoneId: "Europe/Berlin" });
  const problems: string[] = [];
  // Runs in the page (the test's typings have no DOM).
  await context.addInitScript(() => {
    (globalThis as any).document.addEventListener("securitypolicyviolation", (e: any) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
    });
  });
  const page = await context.newPage();
  page.on("console", (m) => {
    // A refused request (401 before login, a 422 shown beside its field) is the console's to
    // handle, and the browser logs each one; anything else logged as an error is a problem.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource"))
      problems.push(`${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`${page.url()}: ${e.message}`));
  return { page, context, problems };
}

/** Zero axe violations under the WCAG 2.x A and AA rules (2.2 included). */
export async function axeViolations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"])
    .analyze();
  return result.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`,
  );
}

/** Fails the test with axe's findings, named by where the page was. */
export const expectAccessible = async (page: Page, where: string) =>
  expect(await axeViolations(page), where).toEqual([]);

/** A labelled section of a page (a region: a `<section>` with an accessible name). */
export const section = (page: Page, name: string) => page.getByRole("region", { name });

export async function screenshot(page: Page, name: string) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: false });
}

/** Through the console's login page and the test IdP's form, back to the console. */
export async function logIn(page: Page, base: string, email: string, start = "/") {
  await page.goto(base + start);
  await page.getByRole("link", { name: "Continue to sign in" }).click();
  await page.getByLabel("Email").fill(email);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => u.origin === base && u.pathname.startsWith("/orgs/"));
}
