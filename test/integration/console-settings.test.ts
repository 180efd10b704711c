// The console's settings page in Debian's chromium, against the real stack (api/world.ts:
// control plane, operator, the API assembly serving console/dist, OIDC, SMTP capture): name and
// description, the logo (preview, the API's refusal, the served image), billing details with the
// API's field errors and the invoices, notification preferences with the org override, a data
// export run to its download, and the danger zone (delete by typed name, restore). Each section
// and dialog is checked with axe and under the console's CSP; screenshots as console/browser.ts says.
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
import { makePng } from "./console/png.ts";

let w: World;
let browser: Browser;
let admin: Watched;
const others: string[] = [];
/** The page follows the API within this (slow on a busy machine, never a measure). */
const POLL = { timeout: 20_000 };

beforeAll(async () => {
  w = await startWorld({ provider: "sqlite" });
  browser = await launchBrowser();
  admin = await newProfile(browser);
  await logIn(admin.page, w.api.base, w.people.admin.email, `/orgs/${w.orgA}/settings`);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await w?.stop();
});

describe("the console's settings", () => {
  it("shows every section, accessible", async () => {
    const { page } = admin;
    await page.getByRole("heading", { name: "Settings", level: 1 }).waitFor();
    for (const name of ["Name and description", "Logo", "Billing", "Notifications", "Data export", "Danger zone"])
      await section(page, name).waitFor();
    await section(page, "Billing").getByText("No invoices yet").waitFor();
    await section(page, "Notifications").getByRole("checkbox").first().waitFor();
    await expectAccessible(page, "settings");
    await screenshot(page, "settings");
  });

  it("renames the organization and sets its description", async () => {
    const { page } = admin;
    const general = section(page, "Name and description");
    await general.getByLabel("Display name").fill("Acme Research");
    await general.getByLabel("Description").fill("Lab tools for the research team");
    await general.getByRole("button", { name: "Save" }).click();
    await general.getByText("Saved.").waitFor();
    const org = await w.call(w.people.admin, "GET", `/api/orgs/${w.orgA}`);
    expect(org.body).toMatchObject({ displayName: "Acme Research", description: "Lab tools for the research team" });
    // The switcher (the layout's list of organizations) follows.
    const chosen = page.getByRole("combobox", { name: "Organization" }).locator("option:checked");
    await expect.poll(() => chosen.textContent(), POLL).toBe("Acme Research");
  });

  it("uploads a logo: a preview first, the API's refusal of a broken image, then the served image", async () => {
    const { page } = admin;
    const logo = section(page, "Logo");
    // Bytes that claim to be a PNG and are not: the API refuses, and the page says why.
    await logo.getByLabel("Image file").setInputFiles({
      name: "broken.png",
      mimeType: "image/png",
      buffer: Buffer.from("not really a png at all"),
    });
    await logo.getByRole("button", { name: "Upload logo" }).click();
    await logo.getByText("The logo was not saved").waitFor();
    await expectAccessible(page, "logo refused");

    await logo.getByLabel("Image file").setInputFiles({
      name: "acme.png",
      mimeType: "image/png",
      buffer: makePng(120, 80, [31, 75, 179]),
    });
    const preview = logo.getByRole("img", { name: "Preview of the chosen logo" });
    await preview.waitFor();
    expect(await preview.getAttribute("src")).toMatch(/^data:image\/png;base64,/);
    await logo.getByRole("button", { name: "Upload logo" }).click();
    await logo.getByText("Logo saved.").waitFor();
    const served = logo.getByRole("img", { name: "Logo of Acme Research" });
    await served.waitFor();
    const src = (await served.getAttribute("src")) as string;
    expect(src).toMatch(new RegExp(`^/api/orgs/${w.orgA}/logo/[0-9a-f]+`));
    // The browser loaded it from the API (under the console's CSP): a 256 × 256 PNG.
    await expect
      .poll(() => served.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth), POLL)
      .toBe(256);
    await screenshot(page, "settings-logo");
    const org = await w.call(w.people.admin, "GET", `/api/orgs/${w.orgA}`);
    expect(org.body.logoUrl).toBe(src);

    // The overview shows it too.
    await page.goto(`${w.api.base}/orgs/${w.orgA}`);
    await page.getByRole("img", { name: "Logo of Acme Research" }).waitFor();
    await page.goto(`${w.api.base}/orgs/${w.orgA}/settings`);
  });

  it("saves billing details: the API's field error beside the field, then saved", async () => {
    const { page } = admin;
    const billing = section(page, "Billing");
    await billing.getByLabel("Contact name").fill("Ada Accounts");
    await billing.getByLabel("Billing email").fill("billing@acme.example");
    await billing.getByLabel("Address", { exact: true }).fill("1 Main Street");
    await billing.getByLabel("City").fill("Berlin");
    await billing.getByLabel("Country").fill("Germany");
    await billing.getByRole("button", { name: "Save billing details" }).click();
    await billing.getByText("The billing details were not saved").waitFor();
    await expect.poll(() => billing.getByLabel("Country").getAttribute("aria-invalid"), POLL).toBe("true");
    await expectAccessible(page, "billing with a field error");
    await billing.getByLabel("Country").fill("DE");
    await billing.getByRole("button", { name: "Save billing details" }).click();
    await billing.getByText("Billing details saved.").waitFor();
    const details = await w.call(w.people.admin, "GET", `/api/orgs/${w.orgA}/billing/details`);
    expect(details.body).toMatchObject({ contactName: "Ada Accounts", city: "Berlin", country: "DE" });
  });

  it("turns an email notice off for this organization, and back to the default", async () => {
    const { page } = admin;
    const prefs = section(page, "Notifications");
    const box = prefs.getByRole("checkbox", { name: "Email: An API key was created" });
    const before = await box.isChecked();
    await box.click();
    await expect.poll(() => box.isChecked(), POLL).toBe(!before);
    const row = prefs.getByRole("row").filter({ hasText: "An API key was created" });
    await row.getByRole("button", { name: /Use defaults/ }).waitFor();
    const saved = await w.call(w.people.admin, "GET", `/api/me/notification-preferences?org=${w.orgA}`);
    const event = saved.body.events.find((e: { event: string }) => e.event === "key.created");
    expect(event.channels.email).toMatchObject({ enabled: !before, overridden: true });
    await page.reload();
    await expect.poll(() => box.isChecked(), POLL).toBe(!before);
    await row.getByRole("button", { name: /Use defaults/ }).click();
    await expect.poll(() => box.isChecked(), POLL).toBe(before);
    await row.getByText("Default").waitFor();
  });

  it("runs a data export to its download", async () => {
    const { page } = admin;
    const exports = section(page, "Data export");
    await exports.getByRole("button", { name: "Export data" }).click();
    const download = exports.getByRole("link", { name: "Download" });
    await download.waitFor({ timeout: 60_000 });
    await exports.getByText("succeeded").waitFor();
    await expectAccessible(page, "export done");
    const [file] = await Promise.all([page.waitForEvent("download"), download.click()]);
    const path = await file.path();
    const { readFileSync } = await import("node:fs");
    const zip = readFileSync(path);
    expect(zip.subarray(0, 2).toString("latin1")).toBe("PK");
    expect(zip.length).toBeGreaterThan(100);
    await screenshot(page, "settings-export");
  });

  it("shows a Viewer every section disabled with the reason", async () => {
    const v = await newProfile(browser);
    await logIn(v.page, w.api.base, w.people.viewer.email, `/orgs/${w.orgA}/settings`);
    const { page } = v;
    await page.getByRole("heading", { name: "Settings", level: 1 }).waitFor();
    await section(page, "Name and description").getByText("lacks the permission org:update").waitFor();
    expect(await section(page, "Name and description").getByRole("button", { name: "Save" }).isDisabled()).toBe(true);
    expect(await section(page, "Logo").getByLabel("Image file").isDisabled()).toBe(true);
    await section(page, "Billing").getByText("lacks the permission billing:view").waitFor();
    await section(page, "Data export").getByText("lacks the permission org:export").waitFor();
    expect(
      await section(page, "Danger zone")
        .getByRole("button", { name: /Delete organization/ })
        .isDisabled(),
    ).toBe(true);
    // Their own notification preferences are theirs to set.
    await section(page, "Notifications").getByRole("checkbox").first().waitFor();
    await expectAccessible(page, "settings as a Viewer");
    others.push(...v.problems);
    await v.context.close();
  });

  it("deletes the organization by its typed name, and restores it during the grace period", async () => {
    const { page } = admin;
    const danger = section(page, "Danger zone");
    await danger.getByRole("button", { name: "Delete organization…" }).click();
    const confirm = page.getByRole("alertdialog", { name: "Delete Acme Research?" });
    await confirm.getByLabel(`Type “${w.orgA}” to confirm`).fill("acme");
    expect(await confirm.getByRole("button", { name: "Delete organization" }).isDisabled()).toBe(true);
    await confirm.getByLabel(`Type “${w.orgA}” to confirm`).fill(w.orgA);
    await expectAccessible(page, "delete organization dialog");
    await confirm.getByRole("button", { name: "Delete organization" }).click();
    await confirm.waitFor({ state: "hidden" });
    await danger.getByText(`Deletion requested by ${w.people.admin.email}`).waitFor();
    expect((await w.call(w.people.admin, "GET", `/api/orgs/${w.orgA}`)).body.deletion).toMatchObject({
      requestedBy: w.people.admin.email,
    });
    await expectAccessible(page, "deletion scheduled");
    await danger.getByRole("button", { name: "Restore organization" }).click();
    await danger.getByRole("button", { name: "Delete organization…" }).waitFor();
    expect((await w.call(w.people.admin, "GET", `/api/orgs/${w.orgA}`)).body.deletion).toBeNull();
  });

  it("ran without CSP violations or console errors", () => {
    expect([...others, ...admin.problems]).toEqual([]);
  });
});
