// The end of an organization's and a person's life, on the real API assembly, operator, apiserver,
// OIDC provider and SMTP capture, on SQLite and PostgreSQL. The API's clock is injected (the
// grace period is the operator's default 30 days): deletion notices to the Admins at the start,
// 7 days and 1 day before, each once even from two replicas; a notice on restore; the purge of
// the organization's rows once the Organization is gone (invoices kept); erasing a person
// (their account and memberships deleted, the audit log pseudonymized; refused for a last Admin).
import { createHmac } from "node:crypto";
import { namespaceFor } from "@atrium/crds";
import { R } from "@atrium/kube";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrgLifecycle } from "../../api/src/orgs/jobs.ts";
import type { Caller } from "../cluster/api-stack.ts";
import { loginWithOidc } from "../cluster/oidc-login.ts";
import { until } from "../cluster/until.ts";
import { startWorld, type World } from "./api/world.ts";

const PLATFORM_ADMIN = "platform@ops.example";
const PSEUDONYM_KEY = "test-pseudonym-key-0123456789";
const PLATFORM_GROUP = "atrium-platform";
const DAY = 24 * 3_600_000;

for (const provider of ["sqlite", "postgresql"] as const)
  describe(`organization purge and erasure (${provider})`, () => {
    let w: World;
    let offset = 0;
    const clock = () => Date.now() + offset;
    let platform: Caller;
    let org: string;
    const adminEmail = () => `admin@${org}.example`;
    let admin: Caller;
    const prisma = () => w.api.db.prisma;
    /** The scheduler's job (assemble.ts runs the same class on the leader); the test runs its passes. */
    let lifecycle: OrgLifecycle;

    beforeAll(async () => {
      w = await startWorld({
        provider,
        env: {
          ATRIUM_PLATFORM_ADMINS: PLATFORM_ADMIN,
          ATRIUM_PSEUDONYM_KEY: PSEUDONYM_KEY,
          ATRIUM_PLATFORM_ADMIN_GROUP: PLATFORM_GROUP,
          // Sessions must outlive the clock's jumps of a month.
          ATRIUM_SESSION_TTL_HOURS: String(24 * 400),
        },
        api: { now: clock, scheduler: false },
      });
      platform = await w.login(PLATFORM_ADMIN);
      org = await w.createOrg("purge");
      await w.declareMember(org, adminEmail(), "admin");
      await w.declareMember(org, `co@${org}.example`, "co-admin");
      lifecycle = new OrgLifecycle(w.api.services);
      admin = await w.login(adminEmail());
      // Logged in, so that a notice could reach them: the notices must still go to Admins only.
      await w.login(`co@${org}.example`);
    }, 300_000);
    afterAll(() => w?.stop());

    const noticesOf = async (email: string) => {
      await w.api.services.notifications.idle();
      const user = await prisma().user.findUnique({ where: { email } });
      return prisma().notification.findMany({
        where: { userId: user?.id ?? "-", org, event: "deletion.scheduled" },
        orderBy: { createdAt: "asc" },
      });
    };
    const orgObj = () => w.kube.get<any>(R.organization, org);

    describe("deletion notices", () => {
      let deletesAt: number;

      it("reach the Admins at the start, 7 days and 1 day before, each once (two replicas)", async () => {
        const deleted = await w.call(admin, "DELETE", `/api/orgs/${org}`, { confirm: org });
        expect(deleted.status).toBe(202);
        const iso = await until("the operator's deadline", async () => (await orgObj())?.status?.deletesAt);
        deletesAt = Date.parse(iso);
        expect(deletesAt - Date.parse(deleted.body.deletion.requestedAt)).toBe(30 * DAY);
        await until(
          "the directory sees the deadline",
          async () => !!w.api.directory.organization(org)?.status?.deletesAt,
        );

        const other = new OrgLifecycle(w.api.services); // a second replica's pass
        const runBoth = async () => {
          await lifecycle.runDue();
          await other.runDue();
        };
        await runBoth();
        await runBoth();
        let keys = (await noticesOf(adminEmail())).map((n) => n.key);
        expect(keys).toEqual([`deletion:${org}:${iso}:start`]);
        const mail = await w.smtp.waitForMessage(adminEmail());
        expect(mail.subject).toContain("scheduled for deletion");
        expect(mail.text).toContain(iso.slice(0, 10));

        offset = deletesAt - 7 * DAY + 60_000 - Date.now();
        await runBoth();
        await runBoth();
        offset = deletesAt - DAY + 60_000 - Date.now();
        await runBoth();
        offset = deletesAt - 3_600_000 - Date.now();
        await runBoth();
        keys = (await noticesOf(adminEmail())).map((n) => n.key);
        expect(keys).toEqual([
          `deletion:${org}:${iso}:start`,
          `deletion:${org}:${iso}:7d`,
          `deletion:${org}:${iso}:1d`,
        ]);
        expect((await noticesOf(adminEmail())).map((n) => n.title)).toEqual([
          expect.stringContaining("is scheduled for deletion"),
          expect.stringContaining("will be deleted in 7 days"),
          expect.stringContaining("will be deleted in 1 day"),
        ]);
        // Admins only: the Co-Admin got none.
        expect(await noticesOf(`co@${org}.example`)).toEqual([]);
        offset = 0;
      });

      it("tell the Admins of a restore", async () => {
        const restored = await w.call(admin, "POST", `/api/orgs/${org}/restore`);
        expect(restored.status).toBe(200);
        const notices = await noticesOf(adminEmail());
        expect(notices.find((n) => n.key.endsWith(":restored"))).toMatchObject({
          key: expect.stringMatching(new RegExp(`^deletion:${org}:.*:restored$`)),
          title: expect.stringContaining("will not be deleted"),
        });
        // Restored: no notice is due any more, whatever the clock says.
        await until("the directory sees the restore", async () => !w.api.directory.organization(org)?.spec.deletion);
        const before = notices.length;
        offset = deletesAt - DAY + 120_000 - Date.now();
        await lifecycle.runDue();
        offset = 0;
        expect((await noticesOf(adminEmail())).length).toBe(before);
      });
    });

    describe("purge", () => {
      const rowsOf = async (o: string) => ({
        apiKeys: await prisma().apiKey.count({ where: { org: o } }),
        invitations: await prisma().invitation.count({ where: { org: o } }),
        subscriptions: await prisma().subscription.count({ where: { org: o } }),
        logo: await prisma().orgLogo.count({ where: { org: o } }),
        notifications: await prisma().notification.count({ where: { org: o } }),
        usage:
          (await prisma().usageHour.count({ where: { org: o } })) +
          (await prisma().usageAppHour.count({ where: { org: o } })) +
          (await prisma().usageDay.count({ where: { org: o } })),
        activeMembers: await prisma().activeMember.count({ where: { org: o } }),
        exports: await prisma().exportJob.count({ where: { org: o } }),
        outbox: await prisma().outbox.count({ where: { org: o } }),
        invoices: await prisma().invoice.count({ where: { org: o } }),
        invoiceLines: await prisma().invoiceLine.count({ where: { invoice: { org: o } } }),
        billingDetails: await prisma().billingDetails.count({ where: { org: o } }),
        trialGrants: await prisma().trialGrant.count({ where: { org: o } }),
      });

      it("removes the namespace and the organization's rows once it is gone, keeping invoices", async () => {
        // What an organization leaves in the database: through the API where there is a route…
        const key = await w.call(admin, "POST", `/api/orgs/${org}/apikeys`, {
          name: "purge-key",
          type: "STANDARD",
          scopes: ["members:view"],
        });
        expect(key.status).toBe(201);
        expect((await w.call(admin, "POST", `/api/orgs/${org}/members`, { email: "later@purge.example" })).status).toBe(
          201,
        );
        const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: "red" } })
          .png()
          .toBuffer();
        const logo = await fetch(`${w.api.base}/api/orgs/${org}/logo`, {
          method: "PUT",
          headers: { cookie: admin.cookie, "x-csrf-token": admin.csrf, "content-type": "image/png" },
          body: png,
        });
        expect(logo.status).toBe(200);
        expect(
          (
            await w.call(admin, "PUT", `/api/orgs/${org}/billing/details`, {
              contactName: "Ada",
              email: "billing@purge.example",
              addressLine1: "1 Engine Street",
              city: "London",
              country: "GB",
            })
          ).status,
        ).toBe(200);
        // …and directly where the rows come from elsewhere (billing's scheduler, usage, exports).
        const p = prisma();
        const now = new Date();
        const sub = await p.subscription.create({ data: { org, template: "tpl", app: "app", state: "active" } });
        await p.invoice.create({
          data: {
            org,
            subscriptionId: sub.id,
            key: `sub:${sub.id}:purge`,
            status: "paid",
            currency: "EUR",
            total: 1200,
            issuedAt: now,
            dueAt: now,
            lines: { create: [{ position: 0, description: "Plan", unitAmount: 1200, amount: 1200 }] },
          },
        });
        await p.trialGrant.create({ data: { org, template: "tpl", app: "app", grantedAt: now, endsAt: now } });
        await p.usageHour.create({ data: { org, app: "", metric: "requests", hour: now, value: 3 } });
        await p.usageAppHour.create({ data: { org, app: "app", hour: now, requests: 3 } });
        await p.usageDay.create({ data: { org, app: "", metric: "requests", day: now, value: 3 } });
        await p.activeMember.create({ data: { org, user: adminEmail(), day: now } });
        await p.exportJob.create({
          data: {
            kind: "org",
            org,
            requestedBy: "u",
            state: "succeeded",
            chunks: { create: [{ seq: 0, bytes: new Uint8Array([1]) }] },
          },
        });
        await p.outbox.create({ data: { key: `purge-test:${org}`, type: "invoice.due", org, payload: "{}" } });
        // Another organization's rows, which must stay.
        const keep = await w.call(w.people.admin, "POST", `/api/orgs/${w.orgA}/apikeys`, {
          name: "kept-key",
          type: "STANDARD",
          scopes: ["members:view"],
        });
        expect(keep.status).toBe(201);
        const otherBefore = await rowsOf(w.orgA);
        await w.api.services.audit.flushed();
        const before = await rowsOf(org);
        expect(
          Object.values(before).every((n) => n > 0),
          JSON.stringify(before),
        ).toBe(true);

        // While the Organization exists nothing is purged, deleting or not (a fresh replica's first
        // pass searches every table).
        expect((await new OrgLifecycle(w.api.services).runDue()).purged).toEqual([]);
        // Nor when a replica's cache has lost it (a watch gap): the apiserver's list decides.
        const blind = { ...w.api.services, directory: { organizations: { list: () => [] } } };
        expect((await new OrgLifecycle(blind as never).runDue()).purged).toEqual([]);
        expect(await rowsOf(org)).toEqual(before);
        expect(await rowsOf(w.orgA)).toEqual(otherBefore);
        expect(await rowsOf(org)).toEqual(before);

        // Deleted for good (what the operator does when the grace period is over, tested with a
        // short grace in org-lifecycle.test.ts): the finalizer removes the namespace.
        expect((await w.call(admin, "DELETE", `/api/orgs/${org}`, { confirm: org })).status).toBe(202);
        await w.kube.delete(R.organization, org);
        await until("the Organization gone", async () => (await orgObj()) === undefined, 120_000);
        await until(
          "the namespace gone",
          async () => (await w.kube.get(R.namespace, namespaceFor(org))) === undefined,
          120_000,
        );
        await until("the directory forgets it", async () => !w.api.directory.organization(org));

        expect((await lifecycle.runDue()).purged).toEqual([org]);
        expect(await rowsOf(org)).toEqual({
          apiKeys: 0,
          invitations: 0,
          subscriptions: 0,
          logo: 0,
          notifications: 0,
          usage: 0,
          activeMembers: 0,
          exports: 0,
          outbox: 0,
          invoices: before.invoices,
          invoiceLines: before.invoiceLines,
          billingDetails: 1,
          trialGrants: 1,
        });
        expect(await p.exportChunk.count({ where: { job: { org } } })).toBe(0);
        const audit = await p.auditEvent.findMany({ where: { org }, orderBy: { at: "asc" } });
        expect([...new Set(audit.map((e) => e.action))].sort()).toEqual(["orgs.delete", "orgs.purge", "orgs.restore"]);
        const purge = audit.find((e) => e.action === "orgs.purge");
        expect(purge).toMatchObject({ actor: "system", actorType: "system", target: `organization/${org}` });
        expect(JSON.parse(purge?.detail ?? "{}")).toMatchObject({
          deleted: { apiKeys: 1, logo: 1 },
          kept: { invoices: 1 },
        });
        // Idempotent (another replica's first pass finds nothing left), and nobody else's rows were touched.
        expect((await new OrgLifecycle(w.api.services).runDue()).purged).toEqual([]);
        expect(await rowsOf(w.orgA)).toEqual(otherBefore);
        // The key died with its organization.
        expect((await w.call({ key: key.body.secret }, "GET", `/api/orgs/${org}/members`)).status).toBe(401);
      }, 300_000);
    });

    describe("erasing a person", () => {
      const pseudonym = (email: string) =>
        `erased:${createHmac("sha256", PSEUDONYM_KEY).update(email).digest("hex").slice(0, 24)}`;

      it("deletes the account and memberships and pseudonymizes the audit log", async () => {
        const email = `leaver-${provider}@${w.orgA}.example`;
        const member = await w.declareMember(w.orgA, email, "manager");
        const leaver = await w.login(email);
        expect(
          (await w.call(leaver, "POST", `/api/orgs/${w.orgA}/members`, { email: `friend-${provider}@x.example` }))
            .status,
        ).toBe(201);
        const key = await w.call(leaver, "POST", `/api/orgs/${w.orgA}/apikeys`, {
          name: "leaver-key",
          type: "STANDARD",
          scopes: ["members:view"],
        });
        expect(key.status).toBe(201);
        await w.api.services.audit.flushed();
        const own = await prisma().auditEvent.count({ where: { actor: email } });
        expect(own).toBeGreaterThanOrEqual(2);

        // Only platform administrators erase others.
        expect((await w.call(w.people.admin, "POST", "/api/platform/users/erase", { email })).status).toBe(403);
        const erased = await w.call(platform, "POST", "/api/platform/users/erase", {
          email: ` ${email.toUpperCase()} `,
        });
        expect(erased.status, JSON.stringify(erased.body)).toBe(200);
        expect(erased.body).toEqual({
          pseudonym: pseudonym(email),
          organizations: [w.orgA],
          accountDeleted: true,
          auditEntries: own,
        });

        expect(await prisma().user.findUnique({ where: { email } })).toBeNull();
        expect((await w.call(leaver, "GET", "/api/me")).status).toBe(401);
        expect(await w.kube.get(R.member, member, namespaceFor(w.orgA))).toBeUndefined();
        expect((await w.call({ key: key.body.secret }, "GET", `/api/orgs/${w.orgA}/members`)).status).toBe(401);
        await w.api.services.audit.flushed();
        expect(await prisma().auditEvent.count({ where: { actor: email } })).toBe(0);
        const renamed = await prisma().auditEvent.findMany({ where: { actor: pseudonym(email) } });
        expect(renamed.length).toBe(own);
        expect(renamed.every((e) => e.ip === null)).toBe(true);
        expect(
          await prisma().auditEvent.findMany({
            where: { OR: [{ target: { contains: email } }, { detail: { contains: email } }] },
          }),
        ).toEqual([]);
        expect(await prisma().apiKey.count({ where: { OR: [{ createdBy: email }, { revokedBy: email }] } })).toBe(0);
        const record = await until(
          "the erasure audited",
          async () =>
            (await prisma().auditEvent.findFirst({
              where: { action: "users.erase", target: `user/${pseudonym(email)}` },
            })) ?? undefined,
        );
        expect(record).toMatchObject({ actor: PLATFORM_ADMIN, result: "success" });
      });

      it("is refused while the person is the last Admin of an organization", async () => {
        const r = await w.call(platform, "POST", "/api/platform/users/erase", { email: w.outsider.email });
        expect(r.status).toBe(409);
        expect(r.body.error.message).toContain(`last Admin of ${w.orgB}`);
        expect(await prisma().user.findUnique({ where: { email: w.outsider.email } })).not.toBeNull();
        expect((await w.call(w.outsider, "GET", `/api/orgs/${w.orgB}`)).status).toBe(200);
      });

      it("can be asked for by the person, confirmed by typing their email", async () => {
        const email = `self-${provider}@${w.orgA}.example`;
        await w.declareMember(w.orgA, email, "viewer");
        const me = await w.login(email);
        const wrong = await w.call(me, "POST", "/api/me/erase", { confirm: "someone@else.example" });
        expect(wrong.status).toBe(422);
        expect(wrong.body.error.fields).toEqual([{ path: "/body/confirm", message: expect.stringContaining(email) }]);
        const done = await w.call(me, "POST", "/api/me/erase", { confirm: email });
        expect(done.status).toBe(200);
        expect(done.body.pseudonym).toBe(pseudonym(email));
        expect((await w.call(me, "GET", "/api/me")).status).toBe(401);
        await w.api.services.audit.flushed();
        expect(await prisma().auditEvent.count({ where: { actor: email } })).toBe(0);
        // The refused attempt (wrong confirmation) and the erasure, both under the pseudonym.
        const entries = await prisma().auditEvent.findMany({
          where: { action: "users.erase", actor: pseudonym(email) },
          orderBy: { at: "asc" },
        });
        expect(entries.map((e) => [e.result, e.status, e.target])).toEqual([
          ["error", 422, null],
          ["success", 200, `user/${pseudonym(email)}`],
        ]);
      });
    });

    describe("platform administrators by OIDC group", () => {
      const loginWith = async (email: string, groups: string[]) => {
        w.oidc.addUser({ email, name: email, groups });
        const { cookies } = await loginWithOidc({ apiBase: w.api.base, email });
        return cookies;
      };
      const header = (cookies: Map<string, string>) => [...cookies].map(([k, v]) => `${k}=${v}`).join("; ");

      it("are the people whose login carried the group, for that session only", async () => {
        const grouped = await loginWith(`grouped-${provider}@ops.example`, ["staff", PLATFORM_GROUP]);
        const staff = await loginWith(`staff-${provider}@ops.example`, ["staff"]);
        expect(grouped.get("atrium_platform")).toMatch(/^1\./);
        expect(staff.get("atrium_platform") ?? "").toBe("");
        expect((await w.call({ cookie: header(grouped) }, "GET", "/api/platform/orgs")).status).toBe(200);
        expect((await w.call({ cookie: header(staff) }, "GET", "/api/platform/orgs")).status).toBe(403);
        // The group's cookie proves nothing with another session.
        const replayed = new Map(staff);
        replayed.set("atrium_platform", grouped.get("atrium_platform") as string);
        expect((await w.call({ cookie: header(replayed) }, "GET", "/api/platform/orgs")).status).toBe(403);
        // Nor without its own session (logged out, expired): only the session makes a person.
        const sessionless = new Map(grouped);
        sessionless.delete("atrium_session");
        expect((await w.call({ cookie: header(sessionless) }, "GET", "/api/platform/orgs")).status).toBe(401);
      });
    });
  });
