// An organization's life end to end: the real API assembly with people logged in through the
// real OIDC provider, the real operator process (with a short deletion grace period), the real
// apiserver and SMTP capture. A platform administrator creates an organization with its first
// Admin; the Admin renames it, deletes it (apps stop, API keys are refused), restores it, and
// deletes it again for good: after the grace period the Organization and its namespace are gone.
import { namespaceFor } from "@atrium/crds";
import { R } from "@atrium/kube";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Caller } from "../cluster/api-stack.ts";
import { echoTemplate } from "../cluster/fake-pods.ts";
import { loginWithOidc } from "../cluster/oidc-login.ts";
import { until } from "../cluster/until.ts";
import { startWorld, type World } from "./api/world.ts";
import { unique } from "./kube.ts";

const PLATFORM_ADMIN = "platform@ops.example";
/** Listed, but their identity provider has not verified the address: not an administrator. */
const UNVERIFIED = "unverified@ops.example";
const GRACE_S = 45;

let w: World;
let platform: Caller;
const org = unique("life");
const firstAdmin = `first@${org}.example`;
let admin: Caller;

const orgObj = () => w.kube.get<any>(R.organization, org);
const deployment = (app: string) => w.kube.get<any>(R.deployment, app, namespaceFor(org));
const appObj = (app: string) => w.kube.get<any>(R.appInstance, app, namespaceFor(org));
const auditOf = async (action: string) =>
  until(`audit ${action}`, async () => {
    const r = await w.call(admin, "GET", `/api/orgs/${org}/audit?action=${action}&result=success`);
    return r.body.items?.length ? r.body.items : undefined;
  });

beforeAll(async () => {
  w = await startWorld({
    provider: "sqlite",
    env: {
      ATRIUM_PLATFORM_ADMINS: `${UNVERIFIED}, ${PLATFORM_ADMIN.toUpperCase()}`,
      // The scheduler's passes (deletion notices, the purge) every 2 s instead of every minute.
      ATRIUM_SCHEDULER_INTERVAL_SECONDS: "2",
    },
    operatorEnv: { ATRIUM_ORG_DELETION_GRACE: `${GRACE_S}s` },
  });
  // The scheduler's Lease lives there (the chart makes it); until it exists no replica leads.
  await w.kube.create(R.namespace, { metadata: { name: "atrium-system" } } as never);
  platform = await w.login(PLATFORM_ADMIN);
}, 300_000);
afterAll(() => w?.stop());

describe("creating organizations", () => {
  it("is for platform administrators only", async () => {
    const body = { name: unique("nope"), displayName: "Nope", admin: { email: "x@nope.example" } };
    // An organization's own Admin is not a platform administrator.
    const orgAdmin = await w.call(w.people.admin, "POST", "/api/orgs", body);
    expect(orgAdmin.status).toBe(403);
    expect(orgAdmin.body.error.message).toContain("platform administrators");
    expect((await w.call(w.people.admin, "GET", "/api/platform/orgs")).status).toBe(403);
    expect((await w.call({}, "POST", "/api/orgs", body)).status).toBe(401);
    w.oidc.addUser({ email: UNVERIFIED, name: "Unverified", emailVerified: false });
    const login = await loginWithOidc({ apiBase: w.api.base, email: UNVERIFIED });
    const me = await w.call({ cookie: login.cookieHeader }, "GET", "/api/me");
    const unverified = await w.call({ cookie: login.cookieHeader, csrf: me.body.csrfToken }, "POST", "/api/orgs", body);
    expect(unverified.status).toBe(403);
    expect(unverified.body.error.message).toContain("not verified");
    expect(await w.kube.get(R.organization, body.name)).toBeUndefined();
  });

  it("refuses a name that cannot name a namespace, with a field error", async () => {
    for (const name of ["Upper", "dotted.name", "x".repeat(60), "-dash"]) {
      const r = await w.call(platform, "POST", "/api/orgs", {
        name,
        displayName: "Bad",
        admin: { email: "a@b.example" },
      });
      expect(r.status, name).toBeGreaterThanOrEqual(400);
      expect(r.status, name).toBeLessThan(500);
      expect(r.body.error.fields?.[0]?.path, name).toBe("/body/name");
    }
  });

  it("makes the Organization, Ready, with its first Admin invited by email", async () => {
    const created = await w.call(platform, "POST", "/api/orgs", {
      name: org,
      displayName: "Life Inc",
      description: "Born in a test",
      admin: { email: `  ${firstAdmin.toUpperCase()} `, displayName: "First" },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.organization).toMatchObject({ name: org, displayName: "Life Inc", deletion: null });
    expect(created.body.admin).toMatchObject({
      emailSent: true,
      member: { email: firstAdmin, role: "admin", status: "Invited" },
    });
    const stored = await orgObj();
    expect(stored.spec).toMatchObject({ displayName: "Life Inc", description: "Born in a test" });
    await until("the org Ready", async () => {
      const o = await orgObj();
      return o?.status?.conditions?.find((c: any) => c.type === "Ready")?.status === "True";
    });
    // Same name again: a conflict, not a second org.
    const again = await w.call(platform, "POST", "/api/orgs", {
      name: org,
      displayName: "Twice",
      admin: { email: "b@b.example" },
    });
    expect(again.status).toBe(409);

    // The invitation reaches the mailbox; the first Admin accepts it and can act.
    const mail = await w.smtp.waitForMessage(firstAdmin);
    const token = /token=([\w-]+)/.exec(mail.text)?.[1];
    expect(token).toBeTruthy();
    admin = await w.login(firstAdmin);
    const accepted = await w.call(admin, "GET", `/api/invitations/accept?token=${token}`);
    expect(accepted.status).toBe(302);
    const view = await w.call(admin, "GET", `/api/orgs/${org}`);
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({ name: org, displayName: "Life Inc", ready: true });

    const created_ = await until(
      "orgs.create audited",
      async () =>
        (await w.api.db.prisma.auditEvent.findFirst({
          where: { action: "orgs.create", target: `organization/${org}` },
        })) ?? undefined,
    );
    expect(created_).toMatchObject({ actor: PLATFORM_ADMIN, result: "success" });
  });

  it("lists every organization with its counts for platform administrators", async () => {
    const listed = await until("the new org counted", async () => {
      const r = await w.call(platform, "GET", "/api/platform/orgs");
      const mine = r.body.items?.find((o: any) => o.name === org);
      return mine?.memberCount === 1 ? r.body.items : undefined;
    });
    expect(listed.map((o: any) => o.name)).toEqual(expect.arrayContaining([org, w.orgA, w.orgB]));
  });
});

describe("settings", () => {
  it("renames and describes the organization on its resource, audited", async () => {
    const r = await w.call(admin, "PATCH", `/api/orgs/${org}`, { displayName: "Life & Co", description: "Renamed" });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ displayName: "Life & Co", description: "Renamed" });
    const stored = await orgObj();
    expect(stored.spec).toMatchObject({ displayName: "Life & Co", description: "Renamed" });
    expect(stored.metadata.managedFields.map((f: any) => f.manager)).toContain("atrium-api");
    const cleared = await w.call(admin, "PATCH", `/api/orgs/${org}`, { description: null });
    expect(cleared.body.description).toBeNull();
    expect((await orgObj()).spec.description).toBeUndefined();
    const bad = await w.call(admin, "PATCH", `/api/orgs/${org}`, { displayName: "" });
    expect(bad.status).toBeGreaterThanOrEqual(400);
    expect(bad.status).toBeLessThan(500);
    const events = await auditOf("orgs.update");
    expect(events[0]).toMatchObject({ actor: firstAdmin, target: `organization/${org}`, result: "success" });
    // Someone who is not a member: the organization does not exist for them.
    expect((await w.call(w.outsider, "PATCH", `/api/orgs/${org}`, { displayName: "Mine" })).status).toBe(404);
    expect((await w.call(w.outsider, "GET", `/api/orgs/${org}`)).status).toBe(404);
  });
});

describe("deletion with a grace period", () => {
  const app = "life-app";
  let key: string;
  const keyWorks = async () => (await w.call({ key }, "GET", `/api/orgs/${org}/members`)).status;

  beforeAll(async () => {
    const template = unique("life-tpl");
    await w.kube.create(R.appTemplate, echoTemplate(template) as never);
    await w.kube.create(R.appInstance, {
      metadata: { name: app, namespace: namespaceFor(org) },
      spec: { template, idle: { policy: "AlwaysOn" } },
    } as never);
    await until("the app's Deployment at 1", async () => (await deployment(app))?.spec?.replicas === 1);
    const created = await w.call(admin, "POST", `/api/orgs/${org}/apikeys`, {
      name: "life-key",
      type: "STANDARD",
      scopes: ["members:view"],
    });
    expect(created.status).toBe(201);
    key = created.body.secret;
    expect(await keyWorks()).toBe(200);
  }, 120_000);

  it("is refused without the organization's name typed, and nothing changes", async () => {
    for (const confirm of ["", "nope", org.toUpperCase(), ` ${org}`]) {
      const r = await w.call(admin, "DELETE", `/api/orgs/${org}`, { confirm });
      expect(r.status, confirm).toBe(422);
      expect(r.body.error.fields).toEqual([{ path: "/body/confirm", message: expect.stringContaining(org) }]);
    }
    expect((await w.call(admin, "DELETE", `/api/orgs/${org}`, {})).status).toBe(422);
    expect((await orgObj()).spec.deletion).toBeUndefined();
    expect(await keyWorks()).toBe(200);
    expect((await deployment(app)).spec.replicas).toBe(1);
  });

  it("stops the apps and refuses the keys at once; a restore gives both back", async () => {
    const deleted = await w.call(admin, "DELETE", `/api/orgs/${org}`, { confirm: org });
    expect(deleted.status).toBe(202);
    expect(deleted.body.deletion).toMatchObject({ requestedBy: firstAdmin });
    const requestedAt = Date.parse(deleted.body.deletion.requestedAt);

    const refused = await w.call({ key }, "GET", `/api/orgs/${org}/members`);
    expect(refused.status).toBe(401);
    expect(refused.body.error.message).toContain("scheduled for deletion");
    expect((await w.call(admin, "DELETE", `/api/orgs/${org}`, { confirm: org })).status).toBe(409);

    await until("the app held at zero", async () => (await deployment(app))?.spec?.replicas === 0);
    const held = await until("the app's Idle reason", async () => {
      const a = await appObj(app);
      return a?.status?.conditions?.find((c: any) => c.type === "Idle" && c.reason === "OrganizationDeleting");
    });
    expect(held.status).toBe("True");
    // The operator's deadline: the request time plus ATRIUM_ORG_DELETION_GRACE.
    const scheduled = await until("deletesAt", async () => (await orgObj())?.status?.deletesAt);
    expect(Date.parse(scheduled)).toBe(requestedAt + GRACE_S * 1000);
    const view = await w.call(admin, "GET", `/api/orgs/${org}`);
    expect(view.body.deletion).toMatchObject({ deletesAt: scheduled });

    const restored = await w.call(admin, "POST", `/api/orgs/${org}/restore`);
    expect(restored.status).toBe(200);
    expect(restored.body.deletion).toBeNull();
    expect(await keyWorks()).toBe(200);
    await until("the app back at 1", async () => (await deployment(app))?.spec?.replicas === 1);
    await until("DeletionScheduled False", async () => {
      const o = await orgObj();
      const c = o?.status?.conditions?.find((x: any) => x.type === "DeletionScheduled");
      return c?.status === "False" && o.status.deletesAt === undefined;
    });
    expect((await w.call(admin, "POST", `/api/orgs/${org}/restore`)).status).toBe(409);
    for (const action of ["orgs.delete", "orgs.restore"])
      expect((await auditOf(action))[0]).toMatchObject({ actor: firstAdmin, result: "success" });
  }, 120_000);

  it(
    "deletes the Organization and its namespace when the grace period is over",
    async () => {
      // Independent of the test before: should it have failed half-way, start from a restored org.
      if ((await orgObj())?.spec?.deletion) await w.call(admin, "POST", `/api/orgs/${org}/restore`);
      const deleted = await w.call(admin, "DELETE", `/api/orgs/${org}`, { confirm: org });
      expect(deleted.status).toBe(202);
      const deadline = Date.parse(deleted.body.deletion.requestedAt) + GRACE_S * 1000;
      // The scheduler's own pass tells the Admin, once the operator has set the deadline.
      const deletesAt = await until("deletesAt", async () => (await orgObj())?.status?.deletesAt);
      await until("the Admin told at the start", async () =>
        w.api.db.prisma.notification
          .findFirst({ where: { key: `deletion:${org}:${deletesAt}:start` } })
          .then((n) => n ?? undefined),
      );
      await until("the Organization gone", async () => (await orgObj()) === undefined, (GRACE_S + 90) * 1000);
      // Not before its time (the request time is whole seconds: allow the second it was cut to).
      expect(Date.now()).toBeGreaterThanOrEqual(deadline);
      await until(
        "the namespace gone",
        async () => (await w.kube.get(R.namespace, namespaceFor(org))) === undefined,
        90_000,
      );
      expect(await keyWorks()).toBe(401);
      expect((await w.call(admin, "GET", `/api/orgs/${org}`)).status).toBe(404);
      // The scheduler's own pass purges the rows once the Organization is gone.
      const prisma = w.api.db.prisma;
      await until(
        "the org's rows purged",
        async () => (await prisma.auditEvent.count({ where: { org, action: "orgs.purge" } })) === 1,
        30_000,
      );
      expect(await prisma.apiKey.count({ where: { org } })).toBe(0);
      expect(await prisma.notification.count({ where: { org } })).toBe(0);
    },
    (GRACE_S + 200) * 1000,
  );
});
