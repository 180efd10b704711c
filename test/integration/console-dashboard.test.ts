// The console's dashboard, organization overview and notifications bell in Debian's chromium,
// against the real stack (api/world.ts: control plane, operator, the API assembly serving
// console/dist, OIDC, SMTP capture). Usage is read from the database's daily rollups, seeded here
// as the usage rollup writes them (the gateway, which reports the requests, is not part of this
// world). Every page and the bell's list are checked with axe and under the console's CSP.
import type { Browser, Locator, Page, Request } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorld, type World } from "./api/world.ts";
import { expectAccessible, launchBrowser, logIn, newProfile, screenshot, type Watched } from "./console/browser.ts";

const PLATFORM_ADMIN = "root@platform.example";
const POLL = { timeout: 20_000 };
/** Requests per past day (oldest first) of the org's app "notes": the chart's data. */
const REQUESTS = [120, 340, 90, 0, 410, 275, 300];

let w: World;
let browser: Browser;
let admin: Watched;
const scripts: string[] = [];
const others: string[] = [];

/**
 * Daily rollups of the last days (yesterday backwards), as api/src/usage writes them, of an app
 * "notes" that was uninstalled yesterday (its deletion stop is the transition the dashboard finds
 * it by: its requests still count).
 */
async function seedUsage() {
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  const rows = REQUESTS.flatMap((requests, i) => {
    const day = new Date(today - (REQUESTS.length - i) * 86_400_000);
    return [
      { org: w.orgA, app: "notes", metric: "requests", day, value: requests },
      { org: w.orgA, app: "notes", metric: "wakes", day, value: requests ? 2 : 0 },
      { org: w.orgA, app: "notes", metric: "errors_5xx", day, value: i === 4 ? 3 : 0 },
    ];
  });
  await w.api.db.prisma.usageDay.createMany({ data: rows });
  const at = new Date(today - 86_400_000 + 3_600_000);
  await w.api.db.prisma.appTransition.create({
    data: { key: `notes-uid:stop:${at.toISOString()}`, org: w.orgA, app: "notes", kind: "stop", cause: "deletion", at },
  });
}

beforeAll(async () => {
  w = await startWorld({ provider: "sqlite", env: { ATRIUM_PLATFORM_ADMINS: PLATFORM_ADMIN } });
  await seedUsage();
  browser = await launchBrowser();
  admin = await newProfile(browser);
  admin.page.on("request", (r: Request) => {
    if (r.resourceType() === "script") scripts.push(new URL(r.url()).pathname);
  });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await w?.stop();
});

/** The sides of a shown element that lie beyond the viewport (none: wholly inside it, not cut off). */
async function outsideViewport(page: Page, element: Locator): Promise<string[]> {
  const box = await element.boundingBox();
  const view = page.viewportSize();
  if (!box || !view) return ["not shown"];
  const out: string[] = [];
  if (box.x < 0) out.push(`left by ${-box.x} px`);
  if (box.y < 0) out.push(`top by ${-box.y} px`);
  if (box.x + box.width > view.width) out.push(`right by ${box.x + box.width - view.width} px`);
  if (box.y + box.height > view.height) out.push(`bottom by ${box.y + box.height - view.height} px`);
  return out;
}
const chartChunk = () => scripts.filter((s) => /UsageChart/.test(s));

describe("the console's dashboard, overview and bell", () => {
  it("lands on the dashboard after login; the chart's code is loaded by the dashboard only", async () => {
    const { page } = admin;
    await logIn(page, w.api.base, w.people.admin.email, `/orgs/${w.orgA}/members`);
    await page.getByRole("heading", { name: "Members" }).waitFor();
    expect(chartChunk()).toEqual([]);
    await page.goto(`${w.api.base}/`);
    await page.waitForURL(`**/orgs/${w.orgA}/dashboard`);
    await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
    await page.locator("canvas").first().waitFor(POLL);
    expect(chartChunk()).toHaveLength(1);
  });

  it("shows usage over 30 days by default, 7 days from the URL, with a summary and a table for screen readers", async () => {
    const { page } = admin;
    const total = new Intl.NumberFormat("en-GB").format(REQUESTS.reduce((a, b) => a + b, 0));
    await page.getByText(`Over the last 30 days: ${total} requests`).waitFor(POLL);
    // The chart's picture is named by the same summary.
    const chart = page.getByRole("img", { name: /Usage Over the last 30 days/ });
    await chart.waitFor();
    await page.getByRole("radiogroup", { name: "Period" }).locator("label").filter({ hasText: "7 days" }).click();
    await page.waitForURL(/days=7/);
    await page.getByText(/^Over the last 7 days: /).waitFor(POLL);
    await page.getByText("Show as a table").click();
    const table = page.getByRole("table", { name: "Usage per day, oldest first" });
    await expect.poll(() => table.getByRole("row").count(), POLL).toBe(8); // header + 7 days
    // Yesterday's requests, the last seeded day, in the row before today's.
    const rows = await table.getByRole("row").allTextContents();
    expect(rows[6]).toContain(String(REQUESTS.at(-1)));
    await expectAccessible(page, "dashboard, 7 days, table open");
    await page.goBack();
    await page.getByText(/^Over the last 30 days: /).waitFor(POLL);
  });

  it("shows the economic overview, and the formula of the auto-stop savings on hover and on focus", async () => {
    const { page } = admin;
    const spend = page.getByRole("heading", { name: "Spend" });
    await spend.waitFor();
    await page.getByText("Committed per month").waitFor();
    await page.getByText("No trial ends in the next 30 days.").waitFor();
    const how = page.getByRole("button", { name: "How is this estimated?" });
    // A person's pointer crosses the page before it reaches the button (react-aria shows tooltips
    // on hover once it has seen the pointer move).
    await page.mouse.move(400, 300);
    await how.hover();
    const tip = page.getByRole("tooltip");
    await tip.getByText(/CPU core-hours ×/).waitFor(POLL);
    await tip.getByText(/stopped for idleness/).waitFor();
    expect(await outsideViewport(page, tip), "the formula on hover").toEqual([]);
    await expectAccessible(page, "dashboard with the formula shown");
    await page.mouse.move(0, 0);
    await tip.waitFor({ state: "hidden" });
    // With the keyboard alone: Tab from the period choice reaches the button, and focus shows it too.
    await page.getByRole("radiogroup", { name: "Period" }).getByRole("radio", { checked: true }).focus();
    const focusedLabel = () =>
      page.evaluate(() => (globalThis as any).document.activeElement?.getAttribute("aria-label") ?? "");
    for (let i = 0; i < 20 && (await focusedLabel()) !== "How is this estimated?"; i++)
      await page.keyboard.press("Tab");
    expect(await focusedLabel()).toBe("How is this estimated?");
    await tip.waitFor(POLL);
    expect(await outsideViewport(page, tip), "the formula on focus").toEqual([]);
    await screenshot(page, "dashboard-formula");
    // Escape dismisses it (WCAG 1.4.13) while the focus stays.
    await page.keyboard.press("Escape");
    await tip.waitFor({ state: "hidden" });
    expect(await focusedLabel()).toBe("How is this estimated?");
    // With the tile at the window's top there is no room above it: the formula opens below,
    // still wholly in view. (Room to scroll that far, as a longer page below the card would give.)
    await page.evaluate(() => {
      (globalThis as any).document.getElementById("main").style.paddingBottom = "1200px";
    });
    await how.evaluate((b) => b.blur());
    await tip.waitFor({ state: "hidden" });
    await how.evaluate((b) => b.closest("dt")?.parentElement?.scrollIntoView({ block: "start" }));
    await page.mouse.move(400, 600);
    await how.hover();
    await tip.waitFor(POLL);
    await expect.poll(() => outsideViewport(page, tip), POLL).toEqual([]);
    await screenshot(page, "dashboard-formula-below");
    await page.mouse.move(0, 0);
    await page.evaluate(() => {
      (globalThis as any).document.getElementById("main").style.paddingBottom = "";
    });
    await page.evaluate(() => (globalThis as any).scrollTo(0, 0));
    await page.locator("canvas").first().waitFor();
    await screenshot(page, "dashboard");
    // The platform's figures are for platform administrators only.
    expect(await page.getByRole("heading", { name: "Platform" }).count()).toBe(0);
  });

  it("shows a platform administrator the platform's figures; a Viewer's role hides the spend with the reason", async () => {
    await w.declareMember(w.orgA, PLATFORM_ADMIN, "viewer");
    w.oidc.addUser({ email: PLATFORM_ADMIN, name: "Platform Root" });
    const root = await newProfile(browser);
    await logIn(root.page, w.api.base, PLATFORM_ADMIN, `/orgs/${w.orgA}/dashboard`);
    const { page } = root;
    await page.getByRole("heading", { name: "Platform" }).waitFor(POLL);
    const organizations = page.locator("dt", { hasText: /^Organizations$/ }).locator("xpath=..");
    expect(Number((await organizations.locator("dd").textContent())?.replace(/\D/g, ""))).toBeGreaterThanOrEqual(2);
    await page.getByText("lacks the permission billing:view").waitFor();
    await expectAccessible(page, "dashboard as a platform administrator");
    others.push(...root.problems);
    await root.context.close();
  });

  it("shows the organization overview: counts, recent activity, quick actions the caller may take", async () => {
    const { page } = admin;
    await w.call(w.people.admin, "POST", `/api/orgs/${w.orgA}/roles`, {
      name: "auditor",
      displayName: "Auditor",
      level: 30,
      permissions: ["audit:view"],
    });
    await page.getByRole("navigation", { name: "Organization" }).getByRole("link", { name: "Overview" }).click();
    await expect.poll(() => new URL(page.url()).pathname, POLL).toBe(`/orgs/${w.orgA}`);
    await page.getByRole("heading", { name: `Org ${w.orgA}`, level: 1 }).waitFor();
    const active = page.locator("dt", { hasText: /^Active members$/ }).locator("xpath=..");
    // One per built-in role, and the platform administrator who joined as a Viewer above.
    await expect.poll(async () => (await active.locator("dd").textContent())?.trim(), POLL).toBe("6");
    await page.getByRole("heading", { name: "Recent activity" }).waitFor();
    await page.getByText("roles.create").first().waitFor(POLL);
    const quick = page.getByRole("navigation", { name: "Quick actions" });
    await quick.getByRole("link", { name: "Invite a member" }).waitFor();
    await expectAccessible(page, "overview");
    await screenshot(page, "overview");
    await quick.getByRole("link", { name: "Invite a member" }).click();
    await page.waitForURL(`**/orgs/${w.orgA}/members`);

    // A Viewer gets no quick action they could not take.
    const v = await newProfile(browser);
    await logIn(v.page, w.api.base, w.people.viewer.email, `/orgs/${w.orgA}`);
    await v.page.getByRole("heading", { name: "Recent activity" }).waitFor(POLL);
    expect(await v.page.getByRole("link", { name: "Invite a member" }).count()).toBe(0);
    others.push(...v.problems);
    await v.context.close();
  });

  it("rings the bell when a key is created: unread count, the list, the link to the page, mark read", async () => {
    const { page } = admin;
    const made = await w.call(w.people["co-admin"], "POST", `/api/orgs/${w.orgA}/apikeys`, {
      name: "bell ringer",
      type: "STANDARD",
      scopes: ["members:view"],
      expiresInDays: 7,
    });
    expect(made.status).toBe(201);
    const bell = page.getByRole("button", { name: /^Notifications, \d+ unread$/ });
    await page.reload();
    await bell.waitFor(POLL);
    await bell.click();
    const list = page.getByRole("dialog", { name: "Notifications" });
    const item = list.getByRole("link", { name: /API key "bell ringer" created/ });
    await item.waitFor(POLL);
    await expectAccessible(page, "notifications list");
    await screenshot(page, "notifications");
    await item.click();
    await page.waitForURL(`**/orgs/${w.orgA}/api-keys`);
    await page.getByRole("row").filter({ hasText: "bell ringer" }).waitFor();
    // Opening it marked it read.
    await expect
      .poll(async () => {
        const feed = await w.call(w.people.admin, "GET", "/api/me/notifications");
        return feed.body.items.find((n: { title: string }) => n.title.includes("bell ringer"))?.readAt;
      }, POLL)
      .toBeTruthy();
    const left = await w.call(w.people.admin, "GET", "/api/me/notifications");
    if (left.body.unread) {
      await page
        .getByRole("button", { name: /^Notifications/ })
        .first()
        .click();
      await page.getByRole("dialog", { name: "Notifications" }).getByRole("button", { name: "Mark all read" }).click();
    }
    await page.getByRole("button", { name: "Notifications", exact: true }).waitFor(POLL);
  });

  it("works 375 px wide", async () => {
    const small = await newProfile(browser, { width: 375, height: 780 });
    await logIn(small.page, w.api.base, w.people.admin.email, `/orgs/${w.orgA}/dashboard`);
    const { page } = small;
    for (const path of ["dashboard", "", "settings"]) {
      await page.goto(`${w.api.base}/orgs/${w.orgA}${path ? `/${path}` : ""}`);
      await page.getByRole("heading", { level: 1 }).waitFor();
      await page.getByText("Loading", { exact: false }).first().waitFor({ state: "detached", timeout: 20_000 });
      const tooWide = await page.evaluate(() =>
        [...(globalThis as any).document.querySelectorAll("body *")]
          .filter((e: any) => e.getBoundingClientRect().right > 376 && !e.closest("[data-scrolls]"))
          .map((e: any) => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)
          .slice(0, 8),
      );
      expect(tooWide, path).toEqual([]);
    }
    await page.goto(`${w.api.base}/orgs/${w.orgA}/dashboard`);
    await page.locator("canvas").first().waitFor(POLL);
    await screenshot(page, "dashboard-375");
    others.push(...small.problems);
    await small.context.close();
  });

  it("ran without CSP violations or console errors", () => {
    expect([...others, ...admin.problems]).toEqual([]);
  });
});
