// The whole OIDC login against a real provider (test/cluster/oidc-provider.ts), through a tiny
// Express app built on api/src/auth/oidc.ts and driven by test/cluster/oidc-login.ts; and one
// invitation mail through api/src/mail/mailer.ts into a real SMTP server (test/cluster/smtp-capture.ts).
import { randomBytes } from "node:crypto";
import type { Server } from "node:http";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createOidcClient,
  type OidcClient,
  OidcError,
  type OidcIdentity,
  type PendingLogin,
} from "../../api/src/auth/oidc.ts";
import { createMailer, invitationEmail } from "../../api/src/mail/mailer.ts";
import { loginWithOidc } from "../cluster/oidc-login.ts";
import { type OidcProviderHandle, startOidcProvider } from "../cluster/oidc-provider.ts";
import { freePorts } from "../cluster/ports.ts";
import { startSmtpCapture } from "../cluster/smtp-capture.ts";

const SESSION_COOKIE = "test_session";

/**
 * The smallest API that logs in with OIDC: pending logins in a Map keyed by state, a session
 * cookie at the callback. With `hold`, the callback keeps the callback URL and its pending login
 * for the test instead of completing it.
 */
async function startApp(issuer: string, port: number) {
  const apiBase = `http://127.0.0.1:${port}`;
  const redirectUri = `${apiBase}/api/auth/callback`;
  const oidc: OidcClient = await createOidcClient({
    issuer,
    clientId: "atrium-test",
    clientSecret: "test-secret",
    redirectUri,
    allowInsecure: true,
  });
  const pending = new Map<string, PendingLogin & { returnTo: string }>();
  const sessions = new Map<string, OidcIdentity>();
  const held: Array<{ url: URL; pending: PendingLogin }> = [];
  const state = { hold: false };

  const app = express();
  app.get("/api/auth/login", async (req, res) => {
    const { url, pending: p } = await oidc.beginLogin();
    pending.set(p.state, { ...p, returnTo: typeof req.query.returnTo === "string" ? req.query.returnTo : "/" });
    res.redirect(302, url);
  });
  app.get("/api/auth/callback", async (req, res) => {
    const url = new URL(req.originalUrl, apiBase);
    const login = pending.get(url.searchParams.get("state") ?? "");
    if (!login) {
      res.status(400).json({ code: "unknown_state" });
      return;
    }
    pending.delete(login.state);
    if (state.hold) {
      held.push({ url, pending: login });
      res.redirect(302, login.returnTo);
      return;
    }
    try {
      const identity = await oidc.completeLogin(url, login);
      const sid = randomBytes(16).toString("base64url");
      sessions.set(sid, identity);
      res.cookie(SESSION_COOKIE, sid, { httpOnly: true, sameSite: "lax", path: "/" });
      res.redirect(302, login.returnTo);
    } catch (error) {
      const e = error as OidcError;
      res.redirect(302, `/login-failed?${new URLSearchParams({ code: e.code, error: e.error ?? "" })}`);
    }
  });
  app.get("/api/me", (req, res) => {
    const sid = /(?:^|;\s*)test_session=([^;]+)/.exec(req.headers.cookie ?? "")?.[1];
    const identity = sid ? sessions.get(sid) : undefined;
    if (identity) res.json(identity);
    else res.status(401).json({ code: "unauthenticated" });
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(port, "127.0.0.1", () => resolve(s));
  });
  return {
    apiBase,
    redirectUri,
    oidc,
    held,
    state,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("OIDC login against a real provider", () => {
  let idp: OidcProviderHandle;
  let app: Awaited<ReturnType<typeof startApp>>;

  beforeAll(async () => {
    const [apiPort] = (await freePorts(1)) as [number];
    const started = performance.now();
    idp = await startOidcProvider({
      clients: [
        {
          clientId: "atrium-test",
          clientSecret: "test-secret",
          redirectUris: [`http://127.0.0.1:${apiPort}/api/auth/callback`],
        },
      ],
      users: [
        { email: "Ada@Acme.example", name: "Ada Admin", password: "demo" },
        { email: "unverified@acme.example", name: "Una Verified", emailVerified: false },
      ],
    });
    console.log(`[oidc] provider started in ${Math.round(performance.now() - started)} ms at ${idp.issuer}`);
    app = await startApp(idp.issuer, apiPort);
  });
  afterAll(async () => {
    await app?.stop();
    await idp?.stop();
  });

  const me = async (cookieHeader: string) => {
    const response = await fetch(`${app.apiBase}/api/me`, { headers: { cookie: cookieHeader } });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it("logs in: a session cookie, back at returnTo, the identity from the ID token", async () => {
    const started = performance.now();
    const login = await loginWithOidc({
      apiBase: app.apiBase,
      email: "ada@acme.example",
      password: "demo",
      returnTo: "/orgs/acme",
    });
    console.log(`[oidc] one full login took ${Math.round(performance.now() - started)} ms`);
    expect(login.finalLocation).toBe("/orgs/acme");
    expect([...login.cookies.keys()]).toEqual([SESSION_COOKIE]);
    expect(login.cookieHeader).toMatch(/^test_session=[\w-]+$/);
    expect(await me(login.cookieHeader)).toEqual({
      status: 200,
      body: {
        issuer: idp.issuer,
        subject: idp.subjectFor("ada@acme.example"),
        email: "ada@acme.example",
        emailVerified: true,
        name: "Ada Admin",
        groups: [],
      },
    });
    expect((await me("test_session=forged")).status).toBe(401);
  });

  it("brings back an unverified email as emailVerified false", async () => {
    const login = await loginWithOidc({ apiBase: app.apiBase, email: "unverified@acme.example" });
    expect(login.finalLocation).toBe("/");
    expect((await me(login.cookieHeader)).body).toMatchObject({
      email: "unverified@acme.example",
      emailVerified: false,
      name: "Una Verified",
    });
  });

  it("knows users added later, and refuses a wrong password at the IdP", async () => {
    idp.addUser({ email: "late@acme.example", name: "Lee Late", password: "pw" });
    const login = await loginWithOidc({ apiBase: app.apiBase, email: "late@acme.example", password: "pw" });
    expect((await me(login.cookieHeader)).body).toMatchObject({ email: "late@acme.example", name: "Lee Late" });
    await expect(loginWithOidc({ apiBase: app.apiBase, email: "late@acme.example", password: "nope" })).rejects.toThrow(
      "the IdP refused the login of late@acme.example: Unknown user or wrong password.",
    );
  });

  it("refuses a callback whose state is not the pending login's", async () => {
    // A state the API never issued does not even reach completeLogin.
    const forged = await fetch(`${app.apiBase}/api/auth/callback?code=abc&state=forged`, { redirect: "manual" });
    expect(forged.status).toBe(400);

    // A genuine callback (real code from the IdP), checked against another login's pending values.
    app.state.hold = true;
    try {
      await loginWithOidc({ apiBase: app.apiBase, email: "ada@acme.example", password: "demo" });
      await loginWithOidc({ apiBase: app.apiBase, email: "ada@acme.example", password: "demo" });
    } finally {
      app.state.hold = false;
    }
    const [first, second] = app.held.splice(0) as [(typeof app.held)[0], (typeof app.held)[0]];
    const mismatch = await app.oidc.completeLogin(first.url, second.pending).catch((e: unknown) => e);
    expect(mismatch).toBeInstanceOf(OidcError);
    expect(mismatch).toMatchObject({ code: "state_mismatch" });
    expect((mismatch as Error).message).not.toContain(first.url.searchParams.get("code") ?? "-");
    // The same code with its own pending login still works: only the state was wrong.
    expect(await app.oidc.completeLogin(first.url, first.pending)).toMatchObject({ email: "ada@acme.example" });
    // And a code is good once.
    const replay = await app.oidc.completeLogin(first.url, first.pending).catch((e: unknown) => e);
    expect(replay).toMatchObject({ code: "provider_error", error: "invalid_grant" });
  });

  it("requires PKCE at the IdP", async () => {
    const auth = new URL("/auth", idp.issuer);
    const params = { client_id: "atrium-test", response_type: "code", scope: "openid", state: "s" };
    for (const [key, value] of Object.entries({ ...params, redirect_uri: app.redirectUri })) {
      auth.searchParams.set(key, value);
    }
    const response = await fetch(auth, { redirect: "manual" });
    const back = new URL(response.headers.get("location") ?? "", auth);
    expect(back.origin + back.pathname).toBe(app.redirectUri);
    expect(back.searchParams.get("error")).toBe("invalid_request");
    expect(back.searchParams.get("error_description")).toMatch(/PKCE/);
  });

  it("reports the IdP's access_denied when the user cancels", async () => {
    const login = await loginWithOidc({ apiBase: app.apiBase, email: "ada@acme.example", cancel: true });
    expect(login.cookies.size).toBe(0);
    expect(login.finalLocation).toBe("/login-failed?code=provider_error&error=access_denied");
  });

  it("takes email and name from userinfo when the IdP issues minimal ID tokens", async () => {
    const [port] = (await freePorts(1)) as [number];
    const minimal = await startOidcProvider({
      minimalIdToken: true,
      clients: [
        {
          clientId: "atrium-test",
          clientSecret: "test-secret",
          redirectUris: [`http://127.0.0.1:${port}/api/auth/callback`],
        },
      ],
      users: [{ email: "min@acme.example", name: "Min Imal" }],
    });
    const other = await startApp(minimal.issuer, port);
    try {
      const login = await loginWithOidc({ apiBase: other.apiBase, email: "min@acme.example" });
      const response = await fetch(`${other.apiBase}/api/me`, { headers: { cookie: login.cookieHeader } });
      expect(await response.json()).toMatchObject({ email: "min@acme.example", emailVerified: true, name: "Min Imal" });
    } finally {
      await other.stop();
      await minimal.stop();
    }
  });
});

describe("invitation mail over SMTP", () => {
  it("arrives with its subject, text and accept link", async () => {
    const smtp = await startSmtpCapture();
    const mailer = createMailer({ url: smtp.url, from: "Atrium <noreply@atrium.example>" });
    try {
      const acceptUrl = `http://127.0.0.1:8080/api/invitations/accept?token=tok_${"x".repeat(40)}`;
      const mail = invitationEmail({
        orgName: "Café Zürich & Co",
        inviterName: "Ada Admin",
        roleName: "Member",
        acceptUrl,
        expiresAt: new Date("2030-01-02T03:04:05Z"),
      });
      await mailer.send({ to: "Bob@Example.com", ...mail });
      const message = await smtp.waitForMessage("bob@example.com");
      expect(message.from).toBe("noreply@atrium.example");
      expect(message.to).toEqual(["Bob@example.com"]); // nodemailer lowercases the domain only
      expect(message.subject).toBe("Ada Admin invited you to Café Zürich & Co on Atrium");
      expect(message.headers.get("from")).toBe("Atrium <noreply@atrium.example>");
      expect(message.text).toBe(mail.text);
      expect(message.text).toContain(acceptUrl);
      expect(message.html).toBe(mail.html.replace(/\r\n/g, "\n"));
      expect(message.html).toContain("Café Zürich &amp; Co");
      expect(smtp.messages).toHaveLength(1);
      await expect(smtp.waitForMessage("bob@example.com", 200)).rejects.toThrow("no mail to bob@example.com");
    } finally {
      await mailer.close();
      await smtp.stop();
    }
  });
});
