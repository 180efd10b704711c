// The API against real parts (see world.ts). Run once per database provider by
// api-sqlite.test.ts and api-postgres.test.ts.
import { namespaceFor } from "@atrium/crds";
import { R } from "@atrium/kube";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Caller, call, startApi } from "../../cluster/api-stack.ts";
import { echoTemplate, serveAppPods } from "../../cluster/fake-pods.ts";
import { startGateway } from "../../cluster/gateway-process.ts";
import { loginWithOidc } from "../../cluster/oidc-login.ts";
import { freePorts } from "../../cluster/ports.ts";
import { until } from "../../cluster/until.ts";
import { MATRIX } from "./matrix.ts";
import { ROLES, type RoleName, startWorld, type World } from "./world.ts";

export function apiSuite(provider: "sqlite" | "postgresql") {
  let w: World;
  // The gateway's port is known before the API starts: a login may return to apps under it.
  let gatewayPort: number;
  beforeAll(async () => {
    [gatewayPort] = (await freePorts(1)) as [number];
    w = await startWorld({ provider, env: { ATRIUM_GATEWAY_PUBLIC_URL: `http://127.0.0.1:${gatewayPort}` } });
  }, 300_000);
  afterAll(() => w?.stop());

  describe(`authorization matrix (${provider})`, () => {
    for (const row of MATRIX)
      it(`${row.method} ${row.path}: ${row.name}`, async () => {
        const outcomes: string[] = [];
        const expected: string[] = [];
        for (const role of ROLES) {
          const prepared = row.setup ? await row.setup(w, w.orgA, role) : {};
          const body = prepared.body ?? row.body?.(role);
          const path = (org: string) => row.path.replace("{org}", org).replace("{target}", prepared.target ?? "x");
          const own = await w.call(w.people[role], row.method, path(w.orgA), body);
          const other = await w.call(w.people[role], row.method, path(w.orgB), body);
          outcomes.push(`${role}: own ${own.status}, other ${other.status}`);
          expected.push(`${role}: own ${row.allowed.includes(role) ? row.success : 403}, other 404`);
        }
        expect(outcomes).toEqual(expected);
      });

    it("answers 401 to nobody and never leaks another org's existence", async () => {
      expect((await w.call({}, "GET", `/api/orgs/${w.orgA}/members`)).status).toBe(401);
      const missing = await w.call(w.people.admin, "GET", "/api/orgs/no-such-org/members");
      const foreign = await w.call(w.people.admin, "GET", `/api/orgs/${w.orgB}/members`);
      expect(missing.status).toBe(404);
      expect(foreign.status).toBe(404);
      expect(foreign.body.error.message.replace(w.orgB, "X")).toBe(
        missing.body.error.message.replace("no-such-org", "X"),
      );
    });
  });

  describe(`rank rules (${provider})`, () => {
    it("refuses escalation: assigning a role at or above one's own, or permissions one lacks", async () => {
      const { orgA: org, people } = w;
      const target = await w.declareMember(org, `esc-${Date.now()}@x.example`, "viewer");
      const path = `/api/orgs/${org}/members/${target}`;
      const attempts = [
        ["co-admin makes someone Admin", people["co-admin"], "PATCH", path, { role: "admin" }],
        ["co-admin makes someone Co-Admin", people["co-admin"], "PATCH", path, { role: "co-admin" }],
        [
          "manager invites a Manager",
          people.manager,
          "POST",
          `/api/orgs/${org}/members`,
          { email: "m2@x.example", role: "manager" },
        ],
        ["manager changes a role", people.manager, "PATCH", path, { role: "member" }],
        [
          "co-admin edits the Admin",
          people["co-admin"],
          "PATCH",
          `/api/orgs/${org}/members/${people.admin.member}`,
          { displayName: "x" },
        ],
        [
          "co-admin promotes themself",
          people["co-admin"],
          "PATCH",
          `/api/orgs/${org}/members/${people["co-admin"].member}`,
          { role: "admin" },
        ],
        [
          "co-admin defines a role with org:delete",
          people["co-admin"],
          "POST",
          `/api/orgs/${org}/roles`,
          { name: "deleter", displayName: "D", level: 10, permissions: ["org:delete"] },
        ],
        [
          "co-admin defines a role at their own level",
          people["co-admin"],
          "POST",
          `/api/orgs/${org}/roles`,
          { name: "peer", displayName: "P", level: 80, permissions: [] },
        ],
        [
          "member makes a key with a permission they lack",
          people.member,
          "POST",
          `/api/orgs/${org}/apikeys`,
          { name: "k", type: "STANDARD", scopes: ["members:invite"] },
        ],
        ["manager edits a built-in role", people.manager, "PATCH", `/api/orgs/${org}/roles/viewer`, { level: 30 }],
        ["admin edits a built-in role", people.admin, "PATCH", `/api/orgs/${org}/roles/viewer`, { level: 30 }],
      ] as const;
      const results = [];
      for (const [what, who, method, p, body] of attempts)
        results.push(`${what}: ${(await w.call(who, method, p, body)).status}`);
      expect(results).toEqual(attempts.map(([what]) => `${what}: 403`));
      expect(w.api.directory.member(org, target)?.spec.role).toBe("viewer");
    });

    it("protects the last Admin from removal, demotion and deactivation", async () => {
      const org = await w.createOrg("api-last");
      const email = `solo@${org}.example`;
      const name = await w.declareMember(org, email, "admin");
      const solo = await w.login(email);
      const self = `/api/orgs/${org}/members/${name}`;
      expect((await w.call(solo, "PATCH", self, { role: "co-admin" })).status).toBe(409);
      expect((await w.call(solo, "PATCH", self, { active: false })).status).toBe(409);
      expect((await w.call(solo, "DELETE", self)).status).toBe(409);
      const second = `second@${org}.example`;
      await w.declareMember(org, second, "admin");
      await w.login(second);
      const demoted = await w.call(solo, "PATCH", self, { role: "co-admin" });
      expect(demoted.status).toBe(200);
      expect(demoted.body.role).toBe("co-admin");
    });
  });

  describe(`roles (${provider})`, () => {
    it("deletes a role in use only with a reassignment, and lists member counts", async () => {
      const org = w.orgA;
      const admin = w.people.admin;
      const created = await w.call(admin, "POST", `/api/orgs/${org}/roles`, {
        name: "support",
        displayName: "Support",
        level: 30,
        permissions: ["members:view", "apps:view"],
      });
      expect(created.status).toBe(201);
      expect((await w.call(admin, "POST", `/api/orgs/${org}/roles`, { ...created.body, name: "support" })).status).toBe(
        422,
      );
      const holder = await w.declareMember(org, `support-${Date.now()}@x.example`, "support");
      const roles = await w.call(admin, "GET", `/api/orgs/${org}/roles`);
      // Highest rank first: the custom role at level 30 sits between Member (40) and Viewer (20).
      expect(roles.body.items.map((r: { name: string }) => r.name).slice(0, 6)).toEqual([
        "admin",
        "co-admin",
        "manager",
        "member",
        "support",
        "viewer",
      ]);
      expect(roles.body.items.find((r: { name: string }) => r.name === "support").memberCount).toBe(1);
      const inUse = await w.call(admin, "DELETE", `/api/orgs/${org}/roles/support`);
      expect(inUse.status).toBe(409);
      expect(inUse.body.error.message).toContain("reassignTo");
      expect((await w.call(admin, "DELETE", `/api/orgs/${org}/roles/support?reassignTo=nope`)).status).toBe(422);
      expect((await w.call(admin, "DELETE", `/api/orgs/${org}/roles/support?reassignTo=viewer`)).status).toBe(204);
      expect(w.api.directory.member(org, holder)?.spec.role).toBe("viewer");
      expect(w.api.directory.role(org, "support")).toBeUndefined();
      expect((await w.call(admin, "DELETE", `/api/orgs/${org}/roles/admin`)).status).toBe(403);
    });
  });

  describe(`decisions follow the custom resources (${provider})`, () => {
    it("a role change made with kubectl shows in decisions within 1 s", async () => {
      const org = w.orgA;
      const email = `flip-${Date.now()}@x.example`;
      const name = await w.declareMember(org, email, "viewer");
      const who = await w.login(email);
      const audit = `/api/orgs/${org}/audit`;
      expect((await w.call(who, "GET", audit)).status).toBe(403);
      const started = Date.now();
      await w.kube.mergePatch(R.member, name, namespaceFor(org), { spec: { role: "co-admin" } });
      await until(
        "the new role to be effective",
        async () => (await w.call(who, "GET", audit)).status === 200,
        5000,
        20,
      );
      expect(Date.now() - started).toBeLessThan(1000);
    });
  });

  describe(`invitations end to end (${provider})`, () => {
    it("invite → email → accept link → login with the invited email → Active; the link is single use", async () => {
      const org = w.orgA;
      const email = `invitee-${Date.now()}@x.example`;
      const invited = await w.call(w.people.manager, "POST", `/api/orgs/${org}/members`, { email, displayName: "Ivy" });
      expect(invited.status).toBe(201);
      expect(invited.body.member).toMatchObject({ email, status: "Invited", role: "member" });
      expect(invited.body.emailSent).toBe(true);
      const mail = await w.smtp.waitForMessage(email);
      expect(mail.subject).toContain(`Org ${org}`);
      const link = /http:\/\/127\.0\.0\.1:\d+\/api\/invitations\/accept\?token=[\w-]+/.exec(mail.text)?.[0];
      expect(link).toBeDefined();
      const acceptPath = new URL(link as string).pathname + new URL(link as string).search;

      // Opening the link without a session starts a login that comes back to the link.
      const anonymous = await w.call({}, "GET", acceptPath);
      expect(anonymous.status).toBe(302);
      expect(anonymous.headers.get("location")).toBe(`/api/auth/login?returnTo=${encodeURIComponent(acceptPath)}`);

      w.oidc.addUser({ email, name: "Ivy Invitee" });
      const login = await loginWithOidc({ apiBase: w.api.base, email, returnTo: acceptPath });
      expect(login.finalLocation).toBe(acceptPath);
      const session = { cookie: login.cookieHeader };
      const accepted = await w.call(session, "GET", acceptPath);
      expect(accepted.status).toBe(302);
      expect(accepted.headers.get("location")).toMatch(new RegExp(`/orgs/${org}$`));
      const member = await w.call(w.people.admin, "GET", `/api/orgs/${org}/members/${invited.body.member.name}`);
      expect(member.body.member.status).toBe("Active");
      expect(member.body.permissions).toContain("apps:access");
      expect((await w.call(session, "GET", acceptPath)).status).toBe(410);
      await until(
        "the operator to agree",
        async () => w.api.directory.member(org, invited.body.member.name)?.status?.phase === "Active",
        10_000,
      );
    });

    it("a resend kills the old link; another email cannot accept; a cancelled one is gone", async () => {
      const org = w.orgA;
      const email = `resend-${Date.now()}@x.example`;
      const invited = await w.call(w.people.admin, "POST", `/api/orgs/${org}/members`, { email });
      const first = (await w.smtp.waitForMessage(email)).text;
      const resent = await w.call(
        w.people.admin,
        "POST",
        `/api/orgs/${org}/members/${invited.body.member.name}/invitation`,
      );
      expect(resent.status).toBe(200);
      const second = (await w.smtp.waitForMessage(email)).text;
      const tokenOf = (text: string) => /token=([\w-]+)/.exec(text)?.[1];
      expect(tokenOf(first)).not.toBe(tokenOf(second));
      const someoneElse = w.people.viewer;
      expect((await w.call(someoneElse, "GET", `/api/invitations/accept?token=${tokenOf(first)}`)).status).toBe(410);
      const wrongPerson = await w.call(someoneElse, "GET", `/api/invitations/accept?token=${tokenOf(second)}`);
      expect(wrongPerson.status).toBe(403);
      expect(wrongPerson.body.error.message).toContain(email);
      expect(
        (await w.call(w.people.admin, "DELETE", `/api/orgs/${org}/members/${invited.body.member.name}/invitation`))
          .status,
      ).toBe(204);
      w.oidc.addUser({ email, name: "Late" });
      const late = await loginWithOidc({ apiBase: w.api.base, email });
      expect(
        (await w.call({ cookie: late.cookieHeader }, "GET", `/api/invitations/accept?token=${tokenOf(second)}`)).status,
      ).toBe(410);
    });

    it("an expired invitation is refused", async () => {
      const org = w.orgA;
      const email = `expired-${Date.now()}@x.example`;
      await w.call(w.people.admin, "POST", `/api/orgs/${org}/members`, { email });
      const token = /token=([\w-]+)/.exec((await w.smtp.waitForMessage(email)).text)?.[1];
      await w.api.db.prisma.invitation.updateMany({
        where: { email },
        data: { expiresAt: new Date(Date.now() - 1000) },
      });
      const who = await w.login(email);
      expect((await w.call(who, "GET", `/api/invitations/accept?token=${token}`)).status).toBe(410);
    });

    it("refuses a bad invitation with field-level errors and keeps nothing", async () => {
      const org = w.orgA;
      const bad = await w.call(w.people.admin, "POST", `/api/orgs/${org}/members`, { email: "not-an-email", extra: 1 });
      expect(bad.status).toBe(422);
      expect(bad.body.error.fields.map((f: { path: string }) => f.path).sort()).toEqual(["/body/email", "/body/extra"]);
      const role = await w.call(w.people.admin, "POST", `/api/orgs/${org}/members`, {
        email: "a@b.example",
        role: "nope",
      });
      expect(role.status).toBe(422);
      expect(role.body.error.fields).toEqual([{ path: "/body/role", message: expect.stringContaining("nope") }]);
      expect(w.api.directory.memberByEmail(org, "a@b.example")).toBeUndefined();
      const dup = await w.call(w.people.admin, "POST", `/api/orgs/${org}/members`, { email: w.people.viewer.email });
      expect(dup.status).toBe(409);
    });
  });

  describe(`sessions (${provider})`, () => {
    it("refuses a cookie-authenticated write without the CSRF token, and logout ends the session", async () => {
      const who = await w.login(`csrf-${Date.now()}@x.example`);
      const noToken = await w.call({ cookie: who.cookie }, "POST", "/api/auth/logout");
      expect(noToken.status).toBe(403);
      expect(noToken.body.error.message).toContain("x-csrf-token");
      expect((await w.call(who, "POST", "/api/auth/logout")).status).toBe(204);
      expect((await w.call(who, "GET", "/api/me")).status).toBe(401);
    });

    it("a login rotates the session and sets a hardened cookie", async () => {
      const email = `rotate-${Date.now()}@x.example`;
      w.oidc.addUser({ email, name: "R" });
      const first = await loginWithOidc({ apiBase: w.api.base, email });
      const second = await loginWithOidc({ apiBase: w.api.base, email });
      expect(first.cookies.get("atrium_session")).not.toBe(second.cookies.get("atrium_session"));
      const res = await fetch(`${w.api.base}/api/auth/login`, { redirect: "manual" });
      expect(res.status).toBe(302);
      expect(new URL(res.headers.get("location") as string).searchParams.get("code_challenge_method")).toBe("S256");
    });

    it("answers a cancelled login with 401 and the one error body", async () => {
      const email = `cancel-${Date.now()}@x.example`;
      w.oidc.addUser({ email, name: "C" });
      await expect(loginWithOidc({ apiBase: w.api.base, email, cancel: true })).rejects.toThrow(
        /401|login_failed|access_denied/,
      );
    });

    it("lists the organizations a person can switch between", async () => {
      const orgs = await w.call(w.people.admin, "GET", "/api/me/organizations");
      expect(orgs.body.items).toEqual([expect.objectContaining({ name: w.orgA, role: "admin", canAct: true })]);
    });
  });

  describe(`API keys (${provider})`, () => {
    const create = (who: World["people"][RoleName], body: Record<string, unknown> = {}) =>
      w.call(who, "POST", `/api/orgs/${w.orgA}/apikeys`, {
        name: "k",
        type: "STANDARD",
        scopes: ["members:view"],
        ...body,
      });

    it("shows the secret once, works, and a revocation reaches another replica within 1 s", async () => {
      const created = await create(w.people.manager, { type: "AI_AGENT" });
      expect(created.status).toBe(201);
      const secret = created.body.secret as string;
      expect(secret).toMatch(/^atr_ai_/);
      const list = await w.call(w.people.manager, "GET", `/api/orgs/${w.orgA}/apikeys`);
      expect(JSON.stringify(list.body)).not.toContain(secret.slice(20));
      expect(list.body.items[0]).toMatchObject({ id: created.body.key.id, status: "active", type: "AI_AGENT" });

      const replica = await startApi({
        kubeconfig: w.kubeconfig,
        databaseUrl: w.api.config.databaseUrl,
        quiet: true,
      });
      try {
        const key = { key: secret };
        expect((await w.call(key, "GET", `/api/orgs/${w.orgA}/members`)).status).toBe(200);
        const onReplica = () =>
          fetch(`${replica.base}/api/orgs/${w.orgA}/members`, { headers: { authorization: `Bearer ${secret}` } });
        expect((await onReplica()).status).toBe(200);
        // The key holds members:view only.
        expect((await w.call(key, "GET", `/api/orgs/${w.orgA}/roles`)).status).toBe(403);
        // A key may not mint keys or act where a person is needed.
        expect(
          (
            await w.call(key, "POST", `/api/orgs/${w.orgA}/apikeys`, {
              name: "x",
              type: "STANDARD",
              scopes: ["members:view"],
            })
          ).status,
        ).toBe(403);
        const revoked = await w.call(w.people.manager, "DELETE", `/api/orgs/${w.orgA}/apikeys/${created.body.key.id}`);
        expect(revoked.status).toBe(204);
        const t0 = Date.now();
        await until("the replica to refuse the key", async () => (await onReplica()).status === 401, 3000, 20);
        expect(Date.now() - t0).toBeLessThan(1000);
        expect((await w.call(key, "GET", `/api/orgs/${w.orgA}/members`)).body.error.message).toContain("revoked");
      } finally {
        await replica.stop();
      }
    });

    it("refuses an expired key, and one whose member was deactivated", async () => {
      const a = await create(w.people.member);
      await w.api.db.prisma.apiKey.update({
        where: { id: a.body.key.id },
        data: { expiresAt: new Date(Date.now() - 1) },
      });
      w.api.services.keys.forget(a.body.key.id);
      const expired = await w.call({ key: a.body.secret }, "GET", `/api/orgs/${w.orgA}/members`);
      expect(expired.status).toBe(401);
      expect(expired.body.error.message).toContain("expired");

      const email = `keyholder-${Date.now()}@x.example`;
      const name = await w.declareMember(w.orgA, email, "member");
      const holder = await w.login(email);
      const b = await w.call(holder, "POST", `/api/orgs/${w.orgA}/apikeys`, {
        name: "b",
        type: "STANDARD",
        scopes: ["members:view"],
      });
      expect((await w.call({ key: b.body.secret }, "GET", `/api/orgs/${w.orgA}/members`)).status).toBe(200);
      expect(
        (await w.call(w.people.admin, "PATCH", `/api/orgs/${w.orgA}/members/${name}`, { active: false })).status,
      ).toBe(200);
      const disabled = await w.call({ key: b.body.secret }, "GET", `/api/orgs/${w.orgA}/members`);
      expect(disabled.status).toBe(401);
      expect(disabled.body.error.message).toContain("deactivated");
    });

    it("caps the expiry at the org maximum and refuses a key used on another org", async () => {
      const tooLong = await create(w.people.admin, { expiresInDays: 10_000 });
      expect(tooLong.status).toBe(422);
      const long = await create(w.people.admin, { expiresInDays: 366 });
      expect(long.body.error.fields).toEqual([
        { path: "/body/expiresInDays", message: expect.stringContaining("365") },
      ]);
      const key = await create(w.people.admin);
      expect((await w.call({ key: key.body.secret }, "GET", `/api/orgs/${w.orgB}/members`)).status).toBe(404);
    });
  });

  describe(`rate limits (${provider})`, () => {
    it("AI_AGENT keys have their own limit, answered 429 with Retry-After and rate-limit headers", async () => {
      const limited = await startApi({
        kubeconfig: w.kubeconfig,
        databaseUrl: w.api.config.databaseUrl,
        env: { ATRIUM_RATE_AI_AGENT: "3/1m", ATRIUM_RATE_STANDARD: "20/1m" },
        quiet: true,
      });
      try {
        const make = async (type: string) =>
          (
            await w.call(w.people.admin, "POST", `/api/orgs/${w.orgA}/apikeys`, {
              name: type,
              type,
              scopes: ["members:view"],
            })
          ).body.secret as string;
        const agent = await make("AI_AGENT");
        const standard = await make("STANDARD");
        const hit = (key: string) => fetch(`${limited.base}/api/me`, { headers: { authorization: `Bearer ${key}` } });
        const agentStatuses = [];
        for (let i = 0; i < 4; i++) agentStatuses.push((await hit(agent)).status);
        expect(agentStatuses).toEqual([200, 200, 200, 429]);
        const refused = await hit(agent);
        expect(refused.status).toBe(429);
        expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
        expect(refused.headers.get("ratelimit-limit")).toBe("3");
        expect(refused.headers.get("ratelimit-remaining")).toBe("0");
        const ok = await hit(standard);
        expect(ok.status).toBe(200);
        expect(ok.headers.get("ratelimit-limit")).toBe("20");
      } finally {
        await limited.stop();
      }
    });

    it("limits invitations per organization (sessions work on any replica)", async () => {
      const limited = await startApi({
        kubeconfig: w.kubeconfig,
        databaseUrl: w.api.config.databaseUrl,
        env: { ATRIUM_RATE_INVITATIONS: "5/1h" },
        quiet: true,
      });
      try {
        const invite = async (who: Caller, org: string, i: number) =>
          (await call(limited.base, who, "POST", `/api/orgs/${org}/members`, { email: `p${i}@${org}.example` })).status;
        const statuses = [];
        for (let i = 0; i < 7; i++) statuses.push(await invite(w.people.admin, w.orgA, i));
        expect(statuses).toEqual([201, 201, 201, 201, 201, 429, 429]);
        // Another organization has its own budget.
        expect(await invite(w.outsider, w.orgB, 0)).toBe(201);
      } finally {
        await limited.stop();
      }
    });
  });

  describe(`forward-auth for the gateway (${provider})`, () => {
    it("answers by the app's access policy: Public, Members, Roles", async () => {
      const org = w.orgA;
      const app = (name: string, access: Record<string, unknown>) =>
        w.kube.create(R.appInstance, {
          metadata: { name, namespace: namespaceFor(org) },
          spec: { template: "uptime-kuma", access },
        } as never);
      await app("fa-public", { policy: "Public" });
      await app("fa-members", { policy: "Members" });
      await app("fa-managers", { policy: "Roles", roles: ["manager"] });
      await until(
        "the apps in the API's cache",
        async () => w.api.directory.apps.get(`${namespaceFor(org)}/fa-managers`),
        10_000,
      );
      const ask = async (who: { cookie?: string; key?: string }, name: string) =>
        (await w.call(who, "GET", `/api/forward-auth/${org}/${name}`)).status;
      expect(await ask({}, "fa-public")).toBe(204);
      expect(await ask({}, "fa-members")).toBe(401);
      expect(await ask(w.people.viewer, "fa-members")).toBe(403); // viewers lack apps:access
      expect(await ask(w.people.member, "fa-members")).toBe(204);
      expect(await ask(w.people.member, "fa-managers")).toBe(403);
      expect(await ask(w.people.manager, "fa-managers")).toBe(204);
      // Another organization's app answers as an unknown one: 404 to others, 401 to nobody.
      expect(await ask(w.outsider, "fa-members")).toBe(404);
      expect(await ask(w.outsider, "no-such-app")).toBe(404);
      expect(await ask(w.people.member, "no-such-app")).toBe(404);
      expect(await ask({}, "no-such-app")).toBe(401);
      const allowed = await w.call(w.people.manager, "GET", `/api/forward-auth/${org}/fa-managers`);
      expect(allowed.headers.get("x-atrium-user")).toBe(w.people.manager.email);
    });
  });

  describe(`the gateway enforces access through forward-auth (${provider})`, () => {
    it("401 without a login (browsers: to the login and back), 403 for a role without apps:access, the app for a member, without Atrium's credentials", async () => {
      const org = w.orgA;
      const template = `echo-${provider}`;
      await w.kube.create(R.appTemplate, echoTemplate(template) as never).catch(() => {});
      await w.kube.create(R.appInstance, {
        metadata: { name: "wiki", namespace: namespaceFor(org) },
        spec: { template, access: { policy: "Members" }, idle: { policy: "AlwaysOn" } },
      } as never);
      const pods = serveAppPods(w.kc, {
        namespace: namespaceFor(org),
        app: "wiki",
        port: 8080,
        body: (_ip, _path, headers) => JSON.stringify({ user: headers["x-atrium-user"], cookie: headers.cookie ?? "" }),
      });
      const gateway = await startGateway({
        kubeconfig: w.kubeconfig,
        port: gatewayPort,
        env: { ATRIUM_GATEWAY_AUTH_URL: w.api.base, ATRIUM_GATEWAY_LOGIN_URL: `${w.api.base}/api/auth/login` },
      });
      try {
        const open = (who: Caller) =>
          fetch(`${gateway.url}/apps/${org}/wiki/`, {
            headers: who.cookie ? { cookie: `${who.cookie}; theme=dark` } : {},
          });
        await until("the app served to a member", async () => (await open(w.people.member)).status === 200, 60_000);
        expect((await open({})).status).toBe(401);
        expect((await open(w.people.viewer)).status).toBe(403);
        expect((await open(w.outsider)).status).toBe(404); // as for an app that does not exist
        const seen = (await (await open(w.people.member)).json()) as { user: string; cookie: string };
        expect(seen).toEqual({ user: w.people.member.email, cookie: "theme=dark" });

        // A browser without a login goes to log in, and comes back to the page it asked for.
        const page = `${gateway.url}/apps/${org}/wiki/docs?x=1`;
        const browser = await fetch(page, { headers: { accept: "text/html" }, redirect: "manual" });
        expect(browser.status).toBe(302);
        const login = browser.headers.get("location") as string;
        expect(login).toBe(`${w.api.base}/api/auth/login?returnTo=${encodeURIComponent(page)}`);
        const back = await loginWithOidc({ apiBase: w.api.base, email: w.people.member.email, returnTo: page });
        expect(back.finalLocation).toBe(page);
        const after = await fetch(page, { headers: { accept: "text/html", cookie: back.cookieHeader } });
        expect(after.status).toBe(200);
        // Only app URLs the API knows: anything else returns to the console.
        const elsewhere = await loginWithOidc({
          apiBase: w.api.base,
          email: w.people.member.email,
          returnTo: "http://127.0.0.1:1/apps/x/y/",
        });
        expect(elsewhere.finalLocation).toBe(`${w.api.config.consoleUrl}/`);
      } finally {
        await gateway.kill();
        await pods.stop();
      }
    });
  });

  describe(`audit log (${provider})`, () => {
    it("records writes, allowed and refused, with actor, target, result and address", async () => {
      const target = await w.declareMember(w.orgA, `audited-${Date.now()}@x.example`, "viewer");
      await w.call(w.people.viewer, "DELETE", `/api/orgs/${w.orgA}/members/${target}`);
      await w.call(w.people.admin, "PATCH", `/api/orgs/${w.orgA}/members/${target}`, { displayName: "Audited" });
      await w.api.services.audit.flushed();
      const log = await w.call(w.people.admin, "GET", `/api/orgs/${w.orgA}/audit?action=members.&limit=200`);
      const mine = log.body.items.filter((e: { target: string }) => e.target === `member/${target}`);
      expect(mine).toEqual([
        expect.objectContaining({
          actor: w.people.admin.email,
          action: "members.update",
          result: "success",
          status: 200,
          ip: expect.any(String),
        }),
        expect.objectContaining({
          actor: w.people.viewer.email,
          action: "members.delete",
          result: "denied",
          status: 403,
        }),
      ]);
    });
  });

  describe(`OpenAPI and errors (${provider})`, () => {
    it("serves an OpenAPI 3.1 document naming every route", async () => {
      const doc = await w.call({}, "GET", "/api/openapi.json");
      expect(doc.status).toBe(200);
      expect(doc.body.openapi).toBe("3.1.0");
      expect(Object.keys(doc.body.paths)).toEqual(
        expect.arrayContaining(["/api/orgs/{org}/members", "/api/orgs/{org}/members/{member}"]),
      );
    });

    it("answers unknown routes and bad JSON with the one error body", async () => {
      const unknown = await w.call(w.people.admin, "GET", "/api/nope");
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.code).toBe("not_found");
      const res = await fetch(`${w.api.base}/api/orgs/${w.orgA}/members`, {
        method: "POST",
        headers: {
          cookie: w.people.admin.cookie,
          "x-csrf-token": w.people.admin.csrf,
          "content-type": "application/json",
        },
        body: "{",
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as any).error.code).toBe("invalid_request");
    });
  });
}
