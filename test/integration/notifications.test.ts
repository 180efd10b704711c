// Notifications on the real stack: the API assembled as main.ts does (two replicas on one
// database), the real operator and control plane, a real SMTP capture, SQLite and PostgreSQL.
// Each source (publish, the API's own events, billing's Outbox, the Installs watch, the digest)
// reaches the feed and, per preferences, the mailbox exactly once; unsubscribing needs no login
// and a forged token does nothing; one user can neither read nor mark another's notices.
import { namespaceFor } from "@atrium/crds";
import { R, resourcePath } from "@atrium/kube";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMailer, type Mailer } from "../../api/src/mail/mailer.ts";
import { type Notice, Notifications, type Recipients } from "../../api/src/notifications/notifications.ts";
import { type ApiStack, type Caller, call, startApi } from "../cluster/api-stack.ts";
import { echoTemplate } from "../cluster/fake-pods.ts";
import type { CapturedMessage } from "../cluster/smtp-capture.ts";
import { until } from "../cluster/until.ts";
import { startWorld, type World } from "./api/world.ts";

let seq = 0;
const uniq = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${++seq}`;

describe.each(["sqlite", "postgresql"] as const)("notifications on %s", (provider) => {
  let w: World;
  /**
   * A second replica on the same database (and mail server) on PostgreSQL. SQLite serves one
   * replica (api/README.md), so there "the other replica" is the same API called concurrently.
   */
  let b: Pick<ApiStack, "base" | "services" | "directory">;

  beforeAll(async () => {
    w = await startWorld({ provider, api: { scheduler: false } });
    b =
      provider === "postgresql"
        ? await startApi({
            kubeconfig: w.kubeconfig,
            databaseUrl: w.api.config.databaseUrl,
            smtpUrl: w.smtp.url,
            quiet: true,
            scheduler: false,
          })
        : w.api;
  }, 300_000);
  afterAll(async () => {
    if (b && b !== w?.api) await (b as ApiStack).stop();
    await w?.stop();
  });

  const a = () => w.api.services.notifications;
  const idle = async () => {
    await a().idle();
    await b.services.notifications.idle();
  };
  const feed = async (who: Caller, query = "") => {
    const r = await w.call(who, "GET", `/api/me/notifications${query}`);
    expect(r.status).toBe(200);
    return r.body as { items: Array<Record<string, any>>; unread: number; nextCursor: string | null };
  };
  const mails = (to: string, subject: string): CapturedMessage[] =>
    w.smtp.messages.filter((m) => m.to.some((t) => t.toLowerCase() === to.toLowerCase()) && m.subject === subject);
  /** Waits for the one email, then lets every delivery settle and checks no second came. */
  const exactlyOneMail = async (to: string, subject: string) => {
    await until(`mail "${subject}" to ${to}`, async () => mails(to, subject).length > 0, 20_000);
    await idle();
    await a().retryEmails();
    expect(mails(to, subject), `${subject} to ${to}`).toHaveLength(1);
    return mails(to, subject)[0] as CapturedMessage;
  };
  const notice = (event: Notice["event"], org: string | null, title = uniq(event)): Notice => ({
    key: uniq("key"),
    event,
    org,
    title,
    body: `Body of ${title}: <b>not bold</b> & plain`,
    link: org ? `/orgs/${org}` : "/",
  });
  const userId = async (email: string) => (await w.api.db.prisma.user.findUniqueOrThrow({ where: { email } })).id;

  it("publish: the same key twice and from two replicas reaches the feed and the mailbox once, with both unsubscribe headers", async () => {
    const member = w.people.member;
    const n = notice("export.ready", w.orgA);
    const to: Recipients = { emails: [member.email] };
    await Promise.all([a().publish(n, to), a().publish(n, to), b.services.notifications.publish(n, to)]);
    const items = (await feed(member)).items.filter((i) => i.title === n.title);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      org: w.orgA,
      event: "export.ready",
      body: n.body,
      link: `/orgs/${w.orgA}`,
      readAt: null,
    });
    const mail = await exactlyOneMail(member.email, n.title);
    expect(mail.text).toContain(n.body);
    expect(mail.html).toContain("&lt;b&gt;not bold&lt;/b&gt; &amp; plain");
    expect(mail.headers.get("list-unsubscribe-post")).toBe("List-Unsubscribe=One-Click");
    expect(mail.headers.get("list-unsubscribe")).toMatch(
      new RegExp(`^<${w.api.base.replace(/[.]/g, "\\.")}/api/unsubscribe\\?token=[\\w.%-]+>$`),
    );
  });

  it("unsubscribe: the page only asks, the one-click POST works without a login, a forged or altered token is refused", async () => {
    const viewer = w.people.viewer;
    const first = notice("export.ready", w.orgA);
    await a().publish(first, { emails: [viewer.email] });
    const mail = await exactlyOneMail(viewer.email, first.title);
    const url = /^<(.+)>$/.exec(mail.headers.get("list-unsubscribe") ?? "")?.[1] as string;
    const token = new URL(url).searchParams.get("token") as string;
    const emailPref = async () => {
      const r = await w.call(viewer, "GET", `/api/me/notification-preferences?org=${w.orgA}`);
      return r.body.events.find((e: { event: string }) => e.event === "export.ready").channels.email;
    };
    expect(await emailPref()).toMatchObject({ enabled: true, overridden: false });

    // A link scanner's GET changes nothing: a page with a button.
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    const html = await page.text();
    expect(html).toMatch(/<form method="post" action="\/api\/unsubscribe\?token=/);
    expect(await emailPref()).toMatchObject({ enabled: true, overridden: false });

    // Forged: another user's id under this signature; altered signature; garbage.
    const [v, payload, sig] = token.split(".") as [string, string, string];
    const someoneElse = Buffer.from(
      JSON.stringify({ u: await userId(w.people.admin.email), e: "export.ready", o: w.orgA }),
    ).toString("base64url");
    const flipped = `${sig.slice(0, 5)}${sig[5] === "A" ? "B" : "A"}${sig.slice(6)}`;
    for (const bad of [`${v}.${someoneElse}.${sig}`, `${v}.${payload}.${flipped}`, "1.e30.x"]) {
      const r = await fetch(`${w.api.base}/api/unsubscribe?token=${encodeURIComponent(bad)}`, { method: "POST" });
      expect(r.status, bad).toBe(400);
      const get = await fetch(`${w.api.base}/api/unsubscribe?token=${encodeURIComponent(bad)}`);
      expect(get.status).toBe(400);
    }
    const adminPrefs = await w.call(w.people.admin, "GET", `/api/me/notification-preferences?org=${w.orgA}`);
    expect(
      adminPrefs.body.events.find((e: { event: string }) => e.event === "export.ready").channels.email.enabled,
    ).toBe(true);

    // One click, as a mail client does it (RFC 8058): no cookie, the form body, on the other replica.
    const one = await fetch(url.replace(w.api.base, b.base), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "List-Unsubscribe=One-Click",
    });
    expect(one.status).toBe(200);
    expect(await one.json()).toEqual({ unsubscribed: true, event: "export.ready", org: w.orgA });
    expect(await emailPref()).toMatchObject({ enabled: false, overridden: true });

    // The next notice of that event in that org: in the feed, not by email.
    const second = notice("export.ready", w.orgA);
    await a().publish(second, { emails: [viewer.email] });
    await idle();
    expect((await feed(viewer)).items.some((i) => i.title === second.title)).toBe(true);
    expect(mails(viewer.email, second.title)).toHaveLength(0);
    // Logged in, the page's button works too (no CSRF header: the token is the authority).
    const clicked = await fetch(url, {
      method: "POST",
      headers: { cookie: viewer.cookie, accept: "text/html" },
    });
    expect(clicked.status).toBe(200);
    expect(await clicked.text()).toContain("Unsubscribed");
  });

  it("preferences: an organization override beats the user default; null goes back to the default; bad changes are 422", async () => {
    const who = w.people["co-admin"];
    const put = (body: unknown) => w.call(who, "PUT", "/api/me/notification-preferences", body);
    expect((await put({ changes: [{ event: "key.revoked", channel: "email", enabled: false }] })).status).toBe(200);
    const org = await put({ org: w.orgA, changes: [{ event: "key.revoked", channel: "email", enabled: true }] });
    expect(org.status).toBe(200);
    expect(org.body.events.find((e: { event: string }) => e.event === "key.revoked").channels.email).toEqual({
      enabled: true,
      default: false,
      overridden: true,
      available: true,
    });
    const inOrg = notice("key.revoked", w.orgA);
    const account = notice("key.revoked", null);
    await a().publish(inOrg, { emails: [who.email] });
    await a().publish(account, { emails: [who.email] });
    await exactlyOneMail(who.email, inOrg.title);
    expect(mails(who.email, account.title)).toHaveLength(0);
    expect((await feed(who)).items.filter((i) => i.title === account.title)).toHaveLength(1);

    // Back to the default in the org: the user default (off) holds there again.
    await put({ org: w.orgA, changes: [{ event: "key.revoked", channel: "email", enabled: null }] });
    const again = notice("key.revoked", w.orgA);
    await a().publish(again, { emails: [who.email] });
    await idle();
    expect(mails(who.email, again.title)).toHaveLength(0);
    await put({ changes: [{ event: "key.revoked", channel: "email", enabled: null }] });

    const feedOnly = await put({ changes: [{ event: "app.woken", channel: "email", enabled: true }] });
    expect(feedOnly.status).toBe(422);
    expect(feedOnly.body.error.fields).toEqual([
      { path: "/body/changes/0/channel", message: "app.woken is not sent by email" },
    ]);
    const unknown = await put({ changes: [{ event: "nope", channel: "email", enabled: true }] });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.fields[0].path).toBe("/body/changes/0/event");
    const foreign = await w.call(who, "GET", `/api/me/notification-preferences?org=${w.orgB}`);
    expect(foreign.status).toBe(404);
  });

  it("an Organization with notifications.email false gets feed entries but no notice emails", async () => {
    const org = await w.createOrg("quiet");
    const email = `admin@${org}.example`;
    await w.declareMember(org, email, "admin");
    const who = await w.login(email);
    await w.kube.mergePatch(R.organization, org, undefined, {
      spec: { notifications: { email: false, digest: "none" } },
    } as never);
    await until(
      "email off in the cache",
      async () => w.api.directory.organization(org)?.spec.notifications?.email === false,
    );
    const n = notice("app.failed", org);
    await a().publish(n, { orgAdmins: org });
    await idle();
    expect((await feed(who)).items.filter((i) => i.title === n.title)).toHaveLength(1);
    expect(mails(email, n.title)).toHaveLength(0);
  });

  it("the feed: unread count, cursor pages, mark read; one user can neither see nor mark another's", async () => {
    const manager = w.people.manager;
    const titles = [1, 2, 3].map(() => uniq("page"));
    for (const t of titles) await a().publish(notice("export.ready", w.orgA, t), { emails: [manager.email] });
    const unread = (await feed(manager)).unread;
    expect(unread).toBeGreaterThanOrEqual(3);
    const page1 = await feed(manager, "?limit=2");
    expect(page1.items).toHaveLength(2);
    expect(page1.items.map((i) => i.title)).toEqual([titles[2], titles[1]]);
    const page2 = await feed(manager, `?limit=2&cursor=${page1.nextCursor}`);
    expect(page2.items[0]?.title).toBe(titles[0]);
    expect((await w.call(manager, "GET", "/api/me/notifications?cursor=bogus")).status).toBe(400);

    const target = page1.items[0]?.id as string;
    // Another user marking it: nothing changes for its owner.
    const intruder = await w.call(w.people.viewer, "POST", "/api/me/notifications/read", { ids: [target] });
    expect(intruder.status).toBe(200);
    expect((await feed(manager)).unread).toBe(unread);
    expect((await feed(w.people.viewer)).items.some((i) => i.id === target)).toBe(false);
    expect((await feed(w.outsider)).items.some((i) => i.id === target)).toBe(false);
    // Nobody logged in: 401.
    expect((await call(w.api.base, {}, "GET", "/api/me/notifications")).status).toBe(401);
    expect((await call(w.api.base, {}, "POST", "/api/me/notifications/read", { all: true })).status).toBe(401);

    const marked = await w.call(manager, "POST", "/api/me/notifications/read", { ids: [target] });
    expect(marked.body.unread).toBe(unread - 1);
    expect((await feed(manager, "?unread=true")).items.some((i) => i.id === target)).toBe(false);
    const all = await w.call(manager, "POST", "/api/me/notifications/read", { all: true });
    expect(all.body).toEqual({ unread: 0 });
    expect((await w.call(manager, "POST", "/api/me/notifications/read", {})).status).toBe(422);
  });

  it("the API's own events: role changed, key created and revoked, invitation accepted", async () => {
    const { admin } = w.people;
    // Role changed: to the member.
    const email = `${uniq("rc")}@${w.orgA}.example`;
    const name = await w.declareMember(w.orgA, email, "viewer");
    await w.login(email);
    const patched = await w.call(admin, "PATCH", `/api/orgs/${w.orgA}/members/${name}`, { role: "member" });
    expect(patched.status).toBe(200);
    const subject = `Your role in ${w.orgA} is now Member`;
    const mail = await exactlyOneMail(email, subject);
    expect(mail.text).toContain(`${admin.email} changed your role`);

    // Key created and revoked: to its creator and the Admins, once each.
    const creator = w.people.member;
    const created = await w.call(creator, "POST", `/api/orgs/${w.orgA}/apikeys`, {
      name: uniq("ci"),
      type: "STANDARD",
      scopes: ["apps:view"],
    });
    expect(created.status).toBe(201);
    const keyName = created.body.key.name as string;
    const createdSubject = `API key "${keyName}" created in ${w.orgA}`;
    await exactlyOneMail(creator.email, createdSubject);
    await exactlyOneMail(admin.email, createdSubject);
    expect(mails(w.people.viewer.email, createdSubject)).toHaveLength(0);
    expect((await w.call(admin, "DELETE", `/api/orgs/${w.orgA}/apikeys/${created.body.key.id}`)).status).toBe(204);
    expect((await w.call(admin, "DELETE", `/api/orgs/${w.orgA}/apikeys/${created.body.key.id}`)).status).toBe(204);
    const revokedSubject = `API key "${keyName}" revoked in ${w.orgA}`;
    await exactlyOneMail(creator.email, revokedSubject);
    await exactlyOneMail(admin.email, revokedSubject);

    // Invitation accepted: feed only by default, to who invited and the Admins.
    const invitee = `${uniq("inv")}@x.example`;
    expect((await w.call(w.people["co-admin"], "POST", `/api/orgs/${w.orgA}/members`, { email: invitee })).status).toBe(
      201,
    );
    const token = /token=([\w-]+)/.exec((await w.smtp.waitForMessage(invitee)).text)?.[1];
    const who = await w.login(invitee);
    expect((await w.call(who, "GET", `/api/invitations/accept?token=${token}`)).status).toBe(302);
    await idle();
    const joined = `${invitee} joined ${w.orgA}`;
    for (const p of [admin, w.people["co-admin"]])
      expect(
        (await feed(p)).items.filter((i) => i.title === joined),
        p.email,
      ).toHaveLength(1);
    expect(mails(admin.email, joined)).toHaveLength(0);
    expect((await feed(w.people.viewer)).items.some((i) => i.title === joined)).toBe(false);
  });

  it("billing's Outbox: delivered once to billing managers, with the timer run twice and on two replicas at once", async () => {
    const org = w.orgA;
    const sub = uniq("sub");
    const prisma = w.api.db.prisma;
    await prisma.outbox.createMany({
      data: [
        {
          key: `trial-ending-1d:${sub}`,
          type: "trial.ending",
          org,
          payload: JSON.stringify({
            subscription: sub,
            app: "wiki",
            template: "gitea",
            days: 1,
            trialEndsAt: "2026-12-02T00:00:00.000Z",
          }),
        },
        {
          key: `invoice-due:${sub}`,
          type: "invoice.due",
          org,
          payload: JSON.stringify({ invoice: sub, total: 4200, currency: "EUR", dueAt: "2026-12-01T00:00:00.000Z" }),
        },
        { key: `payment-recorded:${sub}`, type: "payment.recorded", org, payload: "{}" },
      ],
    });
    const passes = await Promise.all([
      a().runDue(),
      b.services.notifications.runDue(),
      a().runDue(),
      b.services.notifications.runDue(),
    ]);
    passes.push(await a().runDue());
    // Each row was taken by exactly one pass (payment.recorded tells nobody).
    expect(passes.reduce((sum, p) => sum + p.outbox, 0)).toBe(2);
    const rows = await prisma.outbox.findMany({ where: { key: { endsWith: sub } } });
    expect(rows.map((r) => r.deliveredAt !== null)).toEqual([true, true, true]);
    const { admin } = w.people;
    await exactlyOneMail(admin.email, "The trial of wiki ends tomorrow");
    await exactlyOneMail(admin.email, "Invoice of 42.00 EUR due");
    expect(await prisma.notification.count({ where: { key: `outbox:trial-ending-1d:${sub}` } })).toBe(1);
    // Co-Admins cannot manage billing: not told.
    expect(mails(w.people["co-admin"].email, "Invoice of 42.00 EUR due")).toHaveLength(0);
  });

  it("a failed email is tried again and sent once", async () => {
    const who = w.people.admin;
    // The real service with a mail server that is down (nothing listens on the discard port).
    const deadMailer = createMailer({ url: "smtp://127.0.0.1:9", from: w.api.config.mailFrom });
    const s = w.api.services;
    /** Another replica of the real service on the same database, with its own way to send. */
    const replica = (send: Mailer["send"], db = s.db) =>
      new Notifications({
        db,
        mailer: { kind: "smtp", send, close: async () => {} },
        directory: s.directory,
        log: () => {},
        now: Date.now,
        publicUrl: s.config.publicUrl,
        consoleUrl: s.config.consoleUrl,
        peppers: s.config.peppers,
      });
    const dead = replica((m) => deadMailer.send(m));
    try {
      const n = notice("app.failed", w.orgA);
      await dead.publish(n, { emails: [who.email] });
      const row = await w.api.db.prisma.notification.findFirstOrThrow({ where: { key: n.key } });
      expect(row.emailState).toBe("failed");
      await a().retryEmails(); // not before EMAIL_RETRY_MS
      expect((await w.api.db.prisma.notification.findUniqueOrThrow({ where: { id: row.id } })).emailState).toBe(
        "failed",
      );
      await w.api.db.prisma.notification.update({
        where: { id: row.id },
        data: { emailedAt: new Date(Date.now() - 120_000) },
      });
      // The race two replicas can run into: "late" lists the row as due, then reads it only after
      // "slow" claimed it (and while slow's mail server takes its time). Late must leave a claim
      // just taken (emailClaimable), or the mail goes out twice.
      const claimed = async () => {
        const r = await w.api.db.prisma.notification.findUniqueOrThrow({ where: { id: row.id } });
        return (r.emailedAt?.getTime() ?? 0) > Date.now() - 60_000;
      };
      let lateListed = false;
      const lateReads = new Proxy(s.db.prisma.notification, {
        get: (target, prop, receiver) =>
          prop === "findUnique"
            ? async (args: Parameters<typeof target.findUnique>[0]) => {
                lateListed = true;
                await until("slow's claim", claimed);
                return target.findUnique(args);
              }
            : Reflect.get(target, prop, receiver),
      });
      const late = replica((m) => s.mailer.send(m), {
        ...s.db,
        prisma: new Proxy(s.db.prisma, {
          get: (target, prop, receiver) => (prop === "notification" ? lateReads : Reflect.get(target, prop, receiver)),
        }),
      });
      const slow = replica(async (m) => {
        await new Promise((r) => setTimeout(r, 1_000));
        await s.mailer.send(m);
      });
      const lateDone = late.retryEmails();
      await until("late listed the row", async () => lateListed);
      await Promise.all([slow.retryEmails(), lateDone, a().retryEmails(), b.services.notifications.retryEmails()]);
      await exactlyOneMail(who.email, n.title);
      expect((await w.api.db.prisma.notification.findUniqueOrThrow({ where: { id: row.id } })).emailState).toBe("sent");
    } finally {
      await deadMailer.close();
    }
  });

  it("apps: failed by email and feed, stopped and woken in the feed only, once per transition", async () => {
    const org = w.orgA;
    const ns = namespaceFor(org);
    const template = uniq("echo");
    await w.kube.create(R.appTemplate, echoTemplate(template) as never);
    const broken = uniq("broken");
    await w.kube.create(R.appInstance, {
      metadata: { name: broken, namespace: ns },
      spec: { template: "no-such-template" },
    } as never);
    const failedTitle = `App ${broken} failed in ${org}`;
    const { admin, manager, viewer } = w.people;
    await exactlyOneMail(admin.email, failedTitle);
    await exactlyOneMail(manager.email, failedTitle);
    expect((await feed(viewer)).items.some((i) => i.title === failedTitle)).toBe(false);

    const sleepy = uniq("sleepy");
    await w.kube.create(R.appInstance, {
      metadata: { name: sleepy, namespace: ns },
      spec: { template, idle: { policy: "Stopped" } },
    } as never);
    const has = async (title: string) => (await feed(admin)).items.filter((i) => i.title === title).length;
    // On a timeout, say what the app and the notices looked like (a flaky run was seen once).
    const explain = async (error: unknown) => {
      const status = (await w.kube.get<any>(R.appInstance, sleepy, ns))?.status;
      const rows = await w.api.db.prisma.notification.findMany({ where: { title: { contains: sleepy } } });
      const logs = w.api.logs.filter((l) => l.message !== "request").slice(-10);
      throw new Error(
        `${String(error)}; status ${JSON.stringify(status)}; notices ${JSON.stringify(rows)}; logs ${JSON.stringify(logs)}`,
      );
    };
    await until(`${sleepy} stopped in the feed`, async () => (await has(`App ${sleepy} stopped`)) === 1, 60_000).catch(
      explain,
    );
    // The operator writes stoppedAt from its cache, which can lag its own write: one stop was
    // seen with two stoppedAt a second apart (two notices, before restatesTransition). Do that.
    const stoppedAt = (await w.kube.get<any>(R.appInstance, sleepy, ns)).status.stoppedAt as string;
    const restated = new Date(Date.parse(stoppedAt) + 1000).toISOString().replace(/\.\d+Z$/, "Z");
    await w.kube.request("PATCH", resourcePath(R.appInstance, ns, sleepy, "status"), {
      body: { status: { stoppedAt: restated } },
      contentType: "application/merge-patch+json",
    });
    await until("the restated stop in both replicas' caches", async () =>
      [w.api.services.installs, b.services.installs].every((i) => i.get(org, sleepy)?.status?.stoppedAt === restated),
    );
    await idle();
    expect(await has(`App ${sleepy} stopped`)).toBe(1);
    // The wake below must come after that stoppedAt (times are whole seconds).
    while (Date.now() < Date.parse(restated) + 1000) await new Promise((r) => setTimeout(r, 100));
    await w.kube.mergePatch(R.appInstance, sleepy, ns, { spec: { idle: { policy: "Auto" } } } as never);
    await until(`${sleepy} woken in the feed`, async () => (await has(`App ${sleepy} woke up`)) === 1, 60_000).catch(
      explain,
    );
    await idle();
    expect(await has(`App ${sleepy} stopped`)).toBe(1);
    expect(mails(admin.email, `App ${sleepy} stopped`)).toHaveLength(0);
    expect(mails(admin.email, `App ${sleepy} woke up`)).toHaveLength(0);
    // Both replicas watch; each person still has one notice per transition.
    const uid = (await w.kube.get<any>(R.appInstance, sleepy, ns)).metadata.uid;
    const rows = await w.api.db.prisma.notification.findMany({ where: { key: { startsWith: `app:${uid}:` } } });
    const perUserAndKey = new Set(rows.map((r) => `${r.userId} ${r.key}`));
    expect(perUserAndKey.size).toBe(rows.length);
  });

  it("the activity digest: daily per the Organization's field, to its Admins, once per period", async () => {
    const org = w.orgA;
    await w.kube.mergePatch(R.organization, org, undefined, {
      spec: { notifications: { email: true, digest: "daily" } },
    } as never);
    await until("digest daily in both replicas' caches", async () =>
      [w.api.directory, b.directory].every((d) => d.organization(org)?.spec.notifications?.digest === "daily"),
    );
    const yesterday = new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000 - 3_600_000);
    await w.api.db.prisma.auditEvent.createMany({
      data: [
        {
          at: yesterday,
          org,
          actor: "someone@x.example",
          actorType: "user",
          action: "members.invite",
          result: "success",
        },
        {
          at: yesterday,
          org,
          actor: "someone@x.example",
          actorType: "user",
          action: "members.invite",
          result: "denied",
        },
      ],
    });
    await Promise.all([a().sendDigests(), b.services.notifications.sendDigests()]);
    await a().sendDigests();
    const subject = `Activity digest for Org ${org}, ${yesterday.toISOString().slice(0, 10)}`;
    const mail = await exactlyOneMail(w.people.admin.email, subject);
    expect(mail.text).toContain("2 recorded actions, 1 refused, 0 failed");
    expect(mails(w.people["co-admin"].email, subject)).toHaveLength(0);
  });
});
