// The console's account page (/account) in Debian's chromium, against the real stack
// (api/world.ts: control plane, operator, the API assembly serving console/dist, OIDC, SMTP
// capture): reached from the signed-in user in the layout; the person's default notification
// preferences (no organization), which an organization's settings then show as their default;
// the person's own data export run to its download; and the export-ready notice's link
// (/account#export) landing on the export section. Checked with axe and under the console's CSP.
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorld, type World } from "./api/world.ts";
import {
  expectAccessible,
  launchBrowser,
  logIn,
  newProfile,
  screenshot,
  section,
  type Watched,
} from "./console/browser.ts";

let w: World;
let browser: Browser;
let admin: Watched;
/** The page follows the API within this (slow on a busy machine, never a measure). */
const POLL = { timeout: 20_000 };

beforeAll(async () => {
  w = await startWorld({ provider: "sqlite" });
  browser = await launchBrowser();
  admin = await newProfile(browser);
  await logIn(admin.page, w.api.base, w.people.admin.email, `/orgs/${w.orgA}/dashboard`);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await w?.stop();
});

type Prefs = { events: Array<{ event: string; channels: Record<string, { enabled: boolean; overridden: boolean }> }> };
const emailOfKeyCreated = (body: Prefs) =>
  body.events.find((e) => e.event === "key.created")?.channels.email as { enabled: boolean; overridden: boolean };

describe("the console's account page", () => {
  it("is linked from the signed-in user in the layout, and accessible", async () => {
    const { page } = admin;
    await page.getByRole("heading", { level: 1 }).waitFor();
    await page.getByRole("complementary", { name: "Sidebar" }).getByRole("link", { name: "Your account" }).click();
    await page.waitForURL(`${w.api.base}/account`);
    await page.getByRole("heading", { name: "Your account", level: 1 }).waitFor();
    await section(page, "Notifications").getByRole("checkbox").first().waitFor();
    await section(page, "Your data").getByRole("button", { name: "Export data" }).waitFor();
    // The frame stays: the organization last opened, its pages one click away.
    await page.getByRole("navigation", { name: "Organization" }).getByRole("link", { name: "Dashboard" }).waitFor();
    await expectAccessible(page, "account");
    await screenshot(page, "account");
  });

  it("sets a default notification preference (no organization), which an organization then shows as its default", async () => {
    const { page } = admin;
    const prefs = section(page, "Notifications");
    const box = prefs.getByRole("checkbox", { name: "Email: An API key was created" });
    const before = await box.isChecked();
    await box.click();
    await expect.poll(() => box.isChecked(), POLL).toBe(!before);
    const row = prefs.getByRole("row").filter({ hasText: "An API key was created" });
    await row.getByRole("button", { name: /Use defaults/ }).waitFor();
    // Saved at the person's level, not in any organization.
    const mine = await w.call(w.people.admin, "GET", "/api/me/notification-preferences");
    expect(emailOfKeyCreated(mine.body)).toMatchObject({ enabled: !before, overridden: true });
    const inOrg = await w.call(w.people.admin, "GET", `/api/me/notification-preferences?org=${w.orgA}`);
    expect(emailOfKeyCreated(inOrg.body)).toMatchObject({ enabled: !before, overridden: false });
    await page.reload();
    await expect.poll(() => box.isChecked(), POLL).toBe(!before);
    await row.getByRole("button", { name: /Use defaults/ }).click();
    await expect.poll(() => box.isChecked(), POLL).toBe(before);
    await row.getByText("Default").waitFor();
    const reset = await w.call(w.people.admin, "GET", "/api/me/notification-preferences");
    expect(emailOfKeyCreated(reset.body)).toMatchObject({ enabled: before, overridden: false });
  });

  it("runs the person's own data export to its download", async () => {
    const { page } = admin;
    const exports = section(page, "Your data");
    await exports.getByRole("button", { name: "Export data" }).click();
    const download = exports.getByRole("link", { name: "Download" });
    await download.waitFor({ timeout: 60_000 });
    await exports.getByText("succeeded").waitFor();
    expect(await download.getAttribute("href")).toMatch(/^\/api\/me\/exports\/[^/]+\/download$/);
    await expectAccessible(page, "account export done");
    const [file] = await Promise.all([page.waitForEvent("download"), download.click()]);
    const { readFileSync } = await import("node:fs");
    const zip = readFileSync(await file.path());
    expect(zip.subarray(0, 2).toString("latin1")).toBe("PK");
    // The person's export, not an organization's.
    const mine = await w.call(w.people.admin, "GET", "/api/me/exports");
    expect(mine.body.items).toHaveLength(1);
    expect(mine.body.items[0]).toMatchObject({ state: "succeeded" });
    await screenshot(page, "account-export");
  });

  it("lands on the export section from the export-ready notice (/account#export), in the bell and as a link", async () => {
    const { page } = admin;
    const exports = section(page, "Your data");
    // Scrolled to it (it starts below the fold at 860 px): its heading and the download are in view.
    const inView = async () => {
      const height = page.viewportSize()?.height ?? 0;
      const boxes = await Promise.all(
        [exports.getByRole("heading", { name: "Your data" }), exports.getByRole("link", { name: "Download" })].map(
          (l) => l.boundingBox(),
        ),
      );
      return boxes.map((b) => (b ? b.y >= 0 && b.y + b.height <= height : false));
    };
    const scrolled = () => page.evaluate(() => (globalThis as any).scrollY as number);

    // The notice the API sent when the export was ready, opened from the bell on another page.
    await page.goto(`${w.api.base}/orgs/${w.orgA}/dashboard`);
    await page.getByRole("button", { name: /^Notifications, \d+ unread$/ }).click(POLL);
    const notice = page
      .getByRole("dialog", { name: "Notifications" })
      .getByRole("link", { name: /Your data export is ready/ });
    expect(await notice.getAttribute("href")).toBe("/account#export");
    await notice.click();
    await page.waitForURL(`${w.api.base}/account#export`);
    await expect.poll(inView, POLL).toEqual([true, true]);
    expect(await scrolled()).toBeGreaterThan(0);

    // The same link opened afresh (from the email, a bookmark): the page loads, then lands.
    await page.goto(`${w.api.base}/orgs/${w.orgA}/dashboard`);
    await page.getByRole("heading", { level: 1 }).waitFor();
    await page.goto(`${w.api.base}/account#export`);
    await exports.getByRole("link", { name: "Download" }).waitFor(POLL);
    await expect.poll(inView, POLL).toEqual([true, true]);
    expect(await scrolled()).toBeGreaterThan(0);
    await screenshot(page, "account-notice-link");
  });

  it("ran without CSP violations or console errors", () => {
    expect(admin.problems).toEqual([]);
  });
});
