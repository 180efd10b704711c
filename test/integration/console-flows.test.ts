// The console end to end in Debian's chromium, against the real stack: control plane, operator,
// the API assembly serving console/dist, the OIDC provider and SMTP capture (api/world.ts).
// Every page and dialog is checked with axe and under the console's CSP; the main pages are
// saved as screenshots (console/browser.ts says where).
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorld, type World } from "./api/world.ts";
import { expectAccessible, launchBrowser, logIn, newProfile, screenshot, type Watched } from "./console/browser.ts";

let w: World;
let browser: Browser;
let admin: Watched;
const allProblems: string[] = [];
const invitee = `ivy@console-${Date.now()}.example`;

beforeAll(async () => {
  w = await startWorld({ provider: "sqlite" });
  browser = await launchBrowser();
  // The admin of org A belongs to org B too (as a Viewer), to switch between them.
  await w.declareMember(w.orgB, w.people.admin.email, "viewer");
  admin = await newProfile(browser);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await w?.stop();
});

const membersRow = (page: Page, text: string) => page.getByRole("row").filter({ hasText: text });

describe("the console", () => {
  it("serves its index with a fresh CSP nonce and immutable assets, and keeps the API's headers on /api", async () => {
    const a = await fetch(`${w.api.base}/orgs/x/members`);
    const b = await fetch(`${w.api.base}/`);
    const html = await a.text();
    const nonce = /nonce-([A-Za-z0-9+/=]+)'/.exec(a.headers.get("content-security-policy") ?? "")?.[1];
    expect(a.status).toBe(200);
    expect(nonce).toBeTruthy();
    expect(html).toContain(`nonce="${nonce}"`);
    expect(html).not.toContain("__ATRIUM_CSP_NONCE__");
    expect(b.headers.get("content-security-policy")).not.toContain(nonce as string);
    expect(a.headers.get("cache-control")).toBe("no-store");
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1] as string;
    const js = await fetch(w.api.base + asset);
    expect(js.status).toBe(200);
    expect(js.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    const apiReply = await fetch(`${w.api.base}/api/me`);
    expect(apiReply.headers.get("content-security-policy")).toBe("default-src 'none'; frame-ancestors 'none'");
    expect((await fetch(`${w.api.base}/api/nothing-here`)).status).toBe(404);
  });

  it("logs in through the identity provider and lands on the members of the organization", async () => {
    const { page } = admin;
    await page.goto(`${w.api.base}/orgs/${w.orgA}/roles`);
    await page.waitForURL(/\/login\?returnTo=/);
    await expectAccessible(page, "login");
    await screenshot(page, "login");
    await logIn(page, w.api.base, w.people.admin.email, `/orgs/${w.orgA}/members`);
    await expect.poll(() => page.url()).toContain(`/orgs/${w.orgA}/members`);
    await page.getByRole("heading", { name: "Members" }).waitFor();
    await membersRow(page, w.people.manager.email).waitFor();
    expect(await page.getByRole("row").count()).toBeGreaterThanOrEqual(6); // header + the five roles
    await expectAccessible(page, "members");
    await screenshot(page, "members");
  });

  it("switches organization with the switcher, and remembers it", async () => {
    const { page } = admin;
    const switcher = page.getByRole("combobox", { name: "Organization" });
    expect(await switcher.locator("option").allTextContents()).toEqual(
      expect.arrayContaining([`Org ${w.orgA}`, `Org ${w.orgB}`]),
    );
    await switcher.selectOption(w.orgB);
    await page.waitForURL(`**/orgs/${w.orgB}/members`);
    await membersRow(page, w.outsider.email).waitFor();
    // As a Viewer there: no inviting.
    expect(await page.getByRole("button", { name: "Add User" }).count()).toBe(0);
    // The console's home is the dashboard of the organization chosen last.
    await page.goto(`${w.api.base}/`);
    await page.waitForURL(`**/orgs/${w.orgB}/dashboard`);
    await page.getByRole("combobox", { name: "Organization" }).selectOption(w.orgA);
    await page.waitForURL(`**/orgs/${w.orgA}/dashboard`);
    await page.getByRole("navigation", { name: "Organization" }).getByRole("link", { name: "Members" }).click();
    await page.waitForURL(`**/orgs/${w.orgA}/members`);
  });

  it("invites a member: the email arrives, the invitee opens it, logs in and shows as Active", async () => {
    const { page } = admin;
    await page.getByRole("button", { name: "Add User" }).click();
    const dialog = page.getByRole("dialog", { name: "Add User" });
    await dialog.waitFor();
    await expectAccessible(page, "add user dialog");
    // A field-level refusal from the API shows beside its field.
    await dialog.getByLabel("Email").fill("not an address");
    await dialog.getByRole("button", { name: "Send invitation" }).click();
    await dialog.getByText("must be", { exact: false }).first().waitFor();
    await dialog.getByLabel("Name", { exact: true }).fill("Ivy Invitee");
    await dialog.getByLabel("Email").fill(invitee);
    await dialog.getByRole("button", { name: /Role/ }).click();
    await page.getByRole("listbox").getByRole("option", { name: "Viewer" }).click();
    await screenshot(page, "add-user");
    await dialog.getByRole("button", { name: "Send invitation" }).click();
    await dialog.getByText(`Invitation sent to ${invitee}`).waitFor();
    await dialog.getByRole("button", { name: "Done" }).click();
    await membersRow(page, invitee).getByText("Invited").waitFor();

    const mail = await w.smtp.waitForMessage(invitee);
    const link = /https?:\/\/\S+\/api\/invitations\/accept\?token=[\w-]+/.exec(mail.text)?.[0];
    expect(link).toBeTruthy();
    w.oidc.addUser({ email: invitee, name: "Ivy Invitee" });
    const ivy = await newProfile(browser);
    await ivy.page.goto(link as string);
    await ivy.page.getByLabel("Email").fill(invitee);
    await ivy.page.getByRole("button", { name: "Sign in" }).click();
    // The invitation lands on the organization's overview.
    await ivy.page.waitForURL(new RegExp(`/orgs/${w.orgA}$`));
    await ivy.page.getByRole("heading", { name: `Org ${w.orgA}`, level: 1 }).waitFor();
    allProblems.push(...ivy.problems);
    await ivy.context.close();

    await page.reload();
    await membersRow(page, invitee).getByText("Active").waitFor();
  });

  it("invites with the keyboard alone, and focus returns to Add User", async () => {
    const { page } = admin;
    const email = `kim@console-${Date.now()}.example`;
    await page.getByRole("button", { name: "Add User" }).focus();
    await page.keyboard.press("Enter");
    const dialog = page.getByRole("dialog", { name: "Add User" });
    await dialog.waitFor();
    await page.keyboard.type("Kim Keyboard"); // Name has the focus
    await page.keyboard.press("Tab");
    await page.keyboard.type(email);
    await page.keyboard.press("Tab"); // the Role select
    await page.keyboard.press("Enter");
    await page.getByRole("listbox").waitFor();
    await page.keyboard.press("End"); // the lowest role: Viewer
    await page.keyboard.press("Enter");
    await page.keyboard.press("Tab"); // Cancel
    await page.keyboard.press("Tab"); // Send invitation
    await page.keyboard.press("Enter");
    await dialog.getByText(`Invitation sent to ${email}`).waitFor();
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    // (react-aria hands the focus back once the dialog's exit is done, a frame or two later.)
    await expect
      .poll(() => page.evaluate(() => (globalThis as any).document.activeElement?.textContent), { timeout: 5_000 })
      .toBe("Add User");
    await membersRow(page, email).getByText("Viewer").waitFor();
  });

  it("changes a member's role, and views a member", async () => {
    const { page } = admin;
    await page.getByRole("button", { name: "Actions for Ivy Invitee" }).click();
    await page.getByRole("menuitem", { name: "Change role…" }).click();
    const dialog = page.getByRole("dialog", { name: /Change the role/ });
    await dialog.getByRole("button", { name: /Role/ }).click();
    await expectAccessible(page, "change role dialog");
    await page
      .getByRole("listbox")
      .getByRole("option", { name: /^Member Level/ })
      .click();
    await dialog.getByRole("button", { name: "Save role" }).click();
    await dialog.waitFor({ state: "hidden" });
    await membersRow(page, invitee).getByRole("cell", { name: "Member", exact: true }).waitFor();

    await page.getByRole("link", { name: "Ivy Invitee" }).click();
    await page.getByRole("heading", { name: "Effective permissions", exact: false }).waitFor();
    await page.getByText("Browse the marketplace").waitFor();
    await expectAccessible(page, "member page");
    await screenshot(page, "member");
    await page.getByRole("button", { name: "Deactivate" }).click();
    const confirm = page.getByRole("alertdialog", { name: "Deactivate member" });
    await expectAccessible(page, "deactivate dialog");
    await confirm.getByRole("button", { name: "Deactivate" }).click();
    await page.getByText("Deactivated", { exact: true }).waitFor();
    await page.getByRole("button", { name: "Activate" }).click();
    await page.getByRole("alertdialog", { name: "Activate member" }).getByRole("button", { name: "Activate" }).click();
    await page.getByText("Active", { exact: true }).waitFor();
    await page.goBack();
    await page.getByRole("heading", { name: "Members" }).waitFor();
  });

  it("keeps search, filters and sorting in the URL (deep links and back/forward)", async () => {
    const { page } = admin;
    await page.goto(`${w.api.base}/orgs/${w.orgA}/members?status=Active&sort=email&order=desc`);
    await membersRow(page, invitee).waitFor();
    expect(await page.getByRole("columnheader", { name: /Email/ }).getAttribute("aria-sort")).toBe("descending");
    const sortOf = (column: RegExp) => page.getByRole("columnheader", { name: column }).getAttribute("aria-sort");
    await page.getByRole("button", { name: /^Name/ }).click();
    await page.waitForURL(/sort=name/);
    await expect.poll(() => sortOf(/Name/), { timeout: 10_000 }).toBe("ascending");
    await page.goBack();
    await expect.poll(() => sortOf(/Email/), { timeout: 10_000 }).toBe("descending");
    await page.goForward();
    await expect.poll(() => sortOf(/Name/), { timeout: 10_000 }).toBe("ascending");
    // Search follows the typing into the URL (replacing the entry: no history step per key).
    await page.getByLabel("Search").fill("ivy");
    await page.waitForURL(/q=ivy/);
    await expect.poll(() => page.getByRole("row").count(), { timeout: 10_000 }).toBe(2);
  });

  it("pages through members with the page in the URL", async () => {
    const { page } = admin;
    // 25 more (sorting after everyone else by name): 32 in all, so a second page of 25 per page.
    for (let i = 1; i <= 25; i++)
      await w.declareMember(w.orgA, `zz${String(i).padStart(2, "0")}@${w.orgA}.example`, "viewer");
    await page.goto(`${w.api.base}/orgs/${w.orgA}/members?page=2`);
    await membersRow(page, `zz25@${w.orgA}.example`).waitFor();
    const pager = page.getByRole("navigation", { name: "Pages" });
    await pager.getByText("26–32 of 32").waitFor();
    expect(await pager.getByRole("button", { name: "Next" }).isDisabled()).toBe(true);
    await pager.getByRole("button", { name: "Previous" }).click();
    await membersRow(page, w.people.manager.email).waitFor();
    expect(page.url()).not.toContain("page=");
    await pager.getByText("1–25 of 32").waitFor();
    await page.goBack();
    await membersRow(page, `zz25@${w.orgA}.example`).waitFor();
    expect(page.url()).toContain("page=2");
  });

  it("creates a custom role from the grouped permissions", async () => {
    const { page } = admin;
    await page.getByRole("link", { name: "Roles" }).click();
    await page.getByRole("heading", { name: "Roles" }).waitFor();
    await expectAccessible(page, "roles");
    await screenshot(page, "roles");
    await page.getByRole("button", { name: "New Role" }).click();
    const dialog = page.getByRole("dialog", { name: "New Role" });
    await dialog.getByLabel("Display name").fill("Auditor");
    await dialog.getByLabel("Name", { exact: true }).fill("auditor");
    await dialog.getByLabel("Level").fill("30");
    await dialog.getByRole("group", { name: "Dashboard and audit" }).getByText("Read the audit log").click();
    await dialog.getByRole("group", { name: "Members" }).getByText("List and view members").click();
    await expectAccessible(page, "new role dialog");
    await screenshot(page, "new-role");
    await dialog.getByRole("button", { name: "Create role" }).click();
    await dialog.waitFor({ state: "hidden" });
    await page.getByRole("row").filter({ hasText: "Auditor" }).getByText("Custom").waitFor();
    const roles = await w.call(w.people.admin, "GET", `/api/orgs/${w.orgA}/roles`);
    expect(roles.body.items.find((r: { name: string }) => r.name === "auditor")).toMatchObject({
      level: 30,
      permissions: ["audit:view", "members:view"],
    });
  });

  it("edits a custom role, and deletes one that members hold by moving them to another role", async () => {
    const { page } = admin;
    const org = w.orgA;
    const made = await w.call(w.people.admin, "POST", `/api/orgs/${org}/roles`, {
      name: "release-manager",
      displayName: "Release manager",
      level: 35,
      permissions: ["members:view", "roles:view"],
    });
    expect(made.status).toBe(201);
    const ivy = (await w.call(w.people.admin, "GET", `/api/orgs/${org}/members?q=ivy`)).body.items[0];
    const moved = await w.call(w.people.admin, "PATCH", `/api/orgs/${org}/members/${ivy.name}`, {
      role: "release-manager",
    });
    expect(moved.status).toBe(200);
    await page.reload();
    const row = page.getByRole("row").filter({ hasText: "Release manager" });
    await row.getByRole("cell", { name: "1", exact: true }).waitFor(); // one member holds it

    await page.getByRole("button", { name: "Edit Auditor" }).click();
    const edit = page.getByRole("dialog", { name: "Edit role Auditor" });
    await edit.getByLabel("Level").fill("25");
    await edit.getByRole("button", { name: "Save role" }).click();
    await edit.waitFor({ state: "hidden" });
    await page.getByRole("row").filter({ hasText: "Auditor" }).getByRole("cell", { name: "25", exact: true }).waitFor();

    await page.getByRole("button", { name: "Delete Release manager" }).click();
    const confirm = page.getByRole("alertdialog", { name: "Delete role Release manager" });
    await confirm.getByText("1 member(s) hold this role").waitFor();
    await confirm.getByRole("button", { name: /Move its members to/ }).click();
    await page
      .getByRole("listbox")
      .getByRole("option", { name: /^Viewer/ })
      .click();
    await expectAccessible(page, "delete role dialog");
    await confirm.getByRole("button", { name: "Delete role" }).click();
    await confirm.waitFor({ state: "hidden" });
    await row.waitFor({ state: "detached" });
    const after = await w.call(w.people.admin, "GET", `/api/orgs/${org}/members/${ivy.name}`);
    expect(after.body.member.role).toBe("viewer");
  });

  it("creates an API key, shows its secret once, which a script uses until it is revoked", async () => {
    const { page } = admin;
    await page.getByRole("link", { name: "API keys" }).click();
    await page.getByRole("heading", { name: "API keys" }).waitFor();
    await page.getByRole("button", { name: "Create key" }).click();
    const dialog = page.getByRole("dialog", { name: "Create API key" });
    await dialog.getByLabel("Name", { exact: true }).fill("nightly report");
    await dialog.getByRole("group", { name: "Members" }).getByText("List and view members").click();
    await expectAccessible(page, "create key dialog");
    await dialog.getByRole("button", { name: "Create key" }).click();
    const shown = page.getByRole("dialog", { name: /created/ });
    const secret = (await shown.getByTestId("key-secret").textContent()) as string;
    expect(secret).toMatch(/^atr_sk_/);
    await expectAccessible(page, "key created dialog");
    const script = (key: string) =>
      fetch(`${w.api.base}/api/orgs/${w.orgA}/members`, { headers: { authorization: `Bearer ${key}` } });
    expect((await script(secret)).status).toBe(200);
    await shown.getByRole("button", { name: "I have stored it" }).click();
    await shown.waitFor({ state: "hidden" });
    // Gone from the page and from storage once the dialog is closed.
    expect(await page.content()).not.toContain(secret);
    const stored = await page.evaluate(
      () => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
    );
    expect(stored).not.toContain(secret);
    await expectAccessible(page, "api keys");
    await screenshot(page, "api-keys");

    await page.getByRole("button", { name: "Revoke nightly report" }).click();
    const confirm = page.getByRole("alertdialog", { name: /Revoke/ });
    await confirm.getByText("This cannot be undone").waitFor();
    await expectAccessible(page, "revoke dialog");
    await confirm.getByRole("button", { name: "Revoke key" }).click();
    await confirm.waitFor({ state: "hidden" });
    await page.getByRole("row").filter({ hasText: "nightly report" }).getByText("revoked").waitFor();
    expect((await script(secret)).status).toBe(401);
  });

  it("shows the help page", async () => {
    const { page } = admin;
    await page.getByRole("link", { name: "Help" }).click();
    await page.getByText("How do I invite a member?").waitFor();
    await expectAccessible(page, "help");
    await screenshot(page, "help");
  });

  it("shows a Manager no role controls, and only the default role to invite at", async () => {
    const m = await newProfile(browser);
    await logIn(m.page, w.api.base, w.people.manager.email, `/orgs/${w.orgA}/members`);
    const { page } = m;
    await membersRow(page, w.people.viewer.email).waitFor();
    await page.getByRole("button", { name: `Actions for ${w.people.viewer.email.split("@")[0]}` }).click();
    const changeRole = page.getByRole("menuitem", { name: /Change role/ });
    expect(await changeRole.getAttribute("aria-disabled")).toBe("true");
    await changeRole.getByText("lacks the permission members:role").waitFor();
    await page.keyboard.press("Escape");
    await page.getByRole("button", { name: "Add User" }).click();
    await page.getByRole("dialog", { name: "Add User" }).getByRole("button", { name: /Role/ }).click();
    const options = await page.getByRole("listbox").getByRole("option").allTextContents();
    expect(options.map((o) => o.replace(/Level.*/, "").trim())).toEqual(["Member"]);
    await page.keyboard.press("Escape"); // closes the list
    await page.getByRole("listbox").waitFor({ state: "hidden" });
    await page.getByRole("button", { name: "Cancel" }).click();
    await page.getByRole("dialog", { name: "Add User" }).waitFor({ state: "hidden" });
    await page.getByRole("link", { name: "Roles" }).click();
    await page.getByText("lacks the permission roles:create").waitFor();
    expect(await page.getByRole("button", { name: "New Role" }).count()).toBe(0);
    expect(
      await page
        .getByRole("button", { name: /^(Edit|Delete) / })
        .evaluateAll((b) => b.every((x) => x.getAttribute("aria-disabled") === "true" || (x as any).disabled)),
    ).toBe(true);
    allProblems.push(...m.problems);
    await m.context.close();
  });

  it("works 375 px wide, behind a menu", async () => {
    const small = await newProfile(browser, { width: 375, height: 780 });
    await logIn(small.page, w.api.base, w.people.admin.email, `/orgs/${w.orgA}/members`);
    const { page } = small;
    await page.getByRole("heading", { name: "Members" }).waitFor();
    const tooWide = await page.evaluate(() =>
      // (Runs in the page: the test's own typings have no DOM.)
      [...(globalThis as any).document.querySelectorAll("body *")]
        .filter((e: any) => e.getBoundingClientRect().right > 376 && !e.closest("[data-scrolls]"))
        .map((e: any) => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)
        .slice(0, 8),
    );
    expect(tooWide).toEqual([]);
    await screenshot(page, "members-375");
    await page.getByRole("button", { name: "Menu" }).click();
    await page.getByRole("link", { name: "Roles" }).click();
    await page.getByRole("heading", { name: "Roles" }).waitFor();
    await expectAccessible(page, "roles at 375 px");
    allProblems.push(...small.problems);
    await small.context.close();
  });

  it("ran without CSP violations or console errors", () => {
    expect([...allProblems, ...admin.problems]).toEqual([]);
  });
});
