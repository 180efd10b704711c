// Login through the organization's OpenID Connect provider (authorization code + PKCE),
// server-side sessions, logout. A person's identity (issuer + subject) links to a user by
// verified email, and through the email to their Member objects in each organization.
import { memberPhase, normalizeEmail } from "@atrium/crds";
import { Type } from "@sinclair/typebox";
import type { Request, Response } from "express";
import type { Services } from "../app.ts";
import { clientIp } from "../audit/audit.ts";
import { LOGIN_COOKIE, takeLogin, withLogin } from "../auth/login-binding.ts";
import { OidcError, type OidcIdentity } from "../auth/oidc.ts";
import { CSRF_COOKIE, SESSION_COOKIE, sessionIdOf } from "../auth/sessions.ts";
import type { AppLocations } from "../config.ts";
import { cookie, hostCookieName, parseCookies } from "../http/cookies.ts";
import { ApiError, badRequest, tooManyRequests } from "../http/errors.ts";
import { route } from "../http/route.ts";
import { PLATFORM_GROUP_COOKIE, platformGroupCookie } from "../orgs/platform.ts";
import { applyMemberStatus } from "./member-status.ts";

const PENDING_LOGIN_MS = 10 * 60_000;

const NO_APPS: AppLocations = { gatewayUrl: undefined, baseDomain: undefined };

/**
 * Only paths on this site, or an app's own URL (the gateway sends browsers here to log in and
 * back): an open redirect would turn login into a phishing tool.
 */
export function safeReturnTo(value: string | undefined, apps: AppLocations = NO_APPS): string {
  if (value?.startsWith("/") && !value.startsWith("//") && !value.includes("\\")) return value;
  const url = value && /^https?:\/\//i.test(value) ? URL.parse(value) : null;
  if (!url || url.username || url.password) return "/";
  if (apps.gatewayUrl && url.origin === apps.gatewayUrl) return url.href;
  const domain = apps.baseDomain;
  const app = domain && url.hostname.endsWith(`.${domain}`) ? url.hostname.slice(0, -domain.length - 1) : "";
  if (app.split(".").length === 2) return url.href; // <app>.<org>
  return "/";
}

/** The user for an identity: known identity first, else a user with the same verified email. */
async function userFor(s: Services, id: OidcIdentity) {
  const email = normalizeEmail(id.email);
  const identity = await s.db.prisma.identity.findUnique({
    where: { issuer_subject: { issuer: id.issuer, subject: id.subject } },
    include: { user: true },
  });
  const now = new Date(s.now());
  if (identity) {
    return s.db.prisma.user.update({
      where: { id: identity.userId },
      data: { name: id.name, emailVerified: id.emailVerified, lastLoginAt: now },
    });
  }
  const existing = await s.db.prisma.user.findUnique({ where: { email } });
  if (existing && !id.emailVerified)
    throw new ApiError(
      403,
      "email_unverified",
      "Your provider has not verified this email address, so it cannot be linked",
    );
  const user =
    existing ??
    (await s.db.prisma.user.create({
      data: { email, name: id.name || email, emailVerified: id.emailVerified, createdAt: now, lastLoginAt: now },
    }));
  await s.db.prisma.identity.create({
    data: { issuer: id.issuer, subject: id.subject, userId: user.id, createdAt: now },
  });
  if (existing)
    return s.db.prisma.user.update({ where: { id: user.id }, data: { lastLoginAt: now, emailVerified: true } });
  return user;
}

/**
 * Members declared with kubectl (no invitation on record: the documented way to bootstrap the
 * first Admin) join at their first login with a verified email; members who joined get their
 * last login recorded. Invited members join through their invitation link instead.
 */
async function recordLogin(s: Services, email: string, verified: boolean) {
  const at = new Date(s.now()).toISOString();
  for (const org of s.directory.orgsOf(email)) {
    const m = s.directory.memberByEmail(org, email);
    if (!m || m.spec.active === false) continue;
    if (m.status?.joinedAt) {
      await applyMemberStatus(s, m, { lastLoginAt: at });
      continue;
    }
    if (!verified || memberPhase(m, new Date(s.now())) !== "Invited") continue;
    const invited = await s.db.prisma.invitation.count({ where: { org, memberName: m.metadata.name } });
    if (invited === 0) await applyMemberStatus(s, m, { joinedAt: at, lastLoginAt: at });
  }
}

function setSessionCookies(s: Services, res: Response, session: string, csrf: string) {
  const { secureCookies: secure, cookieDomain: domain } = s.config;
  const maxAgeS = Math.floor(s.config.sessionTtlMs / 1000);
  res.append("set-cookie", cookie(SESSION_COOKIE, session, { secure, maxAgeS, domain }));
  // Readable by the console's script, which echoes it in X-CSRF-Token; host-only, so the apps
  // on subdomains never see it even when the session cookie is shared with them.
  res.append("set-cookie", cookie(CSRF_COOKIE, csrf, { secure, maxAgeS, httpOnly: false }));
}

/** Whether this login carried the platform administrators' group, bound to the new session (orgs/platform.ts). */
function setPlatformGroupCookie(s: Services, res: Response, session: string, groups: readonly string[]) {
  const { group } = s.config.platformAdmins;
  const secure = s.config.secureCookies;
  const value =
    group && groups.includes(group) ? platformGroupCookie(s.config.peppers, sessionIdOf(session), group) : "";
  const maxAgeS = value ? Math.floor(s.config.sessionTtlMs / 1000) : 0;
  res.append("set-cookie", cookie(PLATFORM_GROUP_COOKIE, value, { secure, maxAgeS }));
}

function clearSessionCookies(s: Services, res: Response) {
  const { secureCookies: secure, cookieDomain: domain } = s.config;
  res.append("set-cookie", cookie(PLATFORM_GROUP_COOKIE, "", { secure, maxAgeS: 0 }));
  res.append("set-cookie", cookie(SESSION_COOKIE, "", { secure, maxAgeS: 0, domain }));
  res.append("set-cookie", cookie(CSRF_COOKIE, "", { secure, maxAgeS: 0, httpOnly: false }));
}

/** The browser's logins under way (login-binding.ts): host-only, gone with the pending logins. */
const loginCookieName = (s: Services) => hostCookieName(LOGIN_COOKIE, s.config.secureCookies);

const setLoginCookie = (s: Services, res: Response, value: string) =>
  res.append(
    "set-cookie",
    cookie(loginCookieName(s), value, { secure: s.config.secureCookies, maxAgeS: value ? PENDING_LOGIN_MS / 1000 : 0 }),
  );

/**
 * Logins per client address: each one stores a pending login, and an unbounded stream of them
 * is a cheap way to fill the database (and to use the API as a redirector to the provider).
 */
async function limitLogins(s: Services, req: Request) {
  const limit = s.config.loginLimit;
  const d = await s.limiter.take(`login:${clientIp(req) ?? "unknown"}`, limit);
  if (d.allowed) return;
  s.metrics.rateLimited.inc({ limit: "login" });
  throw tooManyRequests(
    d.retryAfterS,
    `Too many logins from your address (at most ${limit.limit} per ${limit.windowMs / 1000} s): try again later`,
  );
}

/** A failed login in the one error body: the IdP being down is 503, anything else 401. */
async function asLoginError<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (e) {
    if (!(e instanceof OidcError)) throw e;
    const down = e.code === "discovery_failed" || e.code === "provider_unreachable";
    throw new ApiError(down ? 503 : 401, down ? "login_unavailable" : "login_failed", e.message);
  }
}

const oidcOf = (s: Services) => {
  if (!s.oidc) throw new ApiError(503, "login_unavailable", "Login is not configured (ATRIUM_OIDC_ISSUER)");
  return s.oidc;
};

export const authRoutes = (s: Services) => [
  route({
    method: "get",
    path: "/api/auth/login",
    summary: "Start a login at the identity provider",
    tag: "auth",
    auth: "public",
    query: Type.Object({ returnTo: Type.Optional(Type.String({ maxLength: 2000 })) }),
    response: { status: 302, schema: null, description: "To the identity provider" },
    errors: [429, 503],
    handler: async ({ query, req, res }) => {
      await limitLogins(s, req);
      const { url, pending } = await asLoginError(oidcOf(s).beginLogin());
      const now = s.now();
      await s.db.prisma.pendingLogin.deleteMany({ where: { expiresAt: { lt: new Date(now) } } });
      await s.db.prisma.pendingLogin.create({
        data: {
          id: pending.state,
          codeVerifier: pending.codeVerifier,
          nonce: pending.nonce,
          returnTo: safeReturnTo(query.returnTo, s.config.apps),
          createdAt: new Date(now),
          expiresAt: new Date(now + PENDING_LOGIN_MS),
        },
      });
      setLoginCookie(s, res, withLogin(parseCookies(req.headers.cookie).get(loginCookieName(s)), pending.state));
      res.redirect(302, url);
    },
  }),
  route({
    method: "get",
    path: "/api/auth/callback",
    summary: "Where the identity provider returns: starts a session",
    tag: "auth",
    auth: "public",
    query: Type.Object(
      { state: Type.String({ minLength: 1, maxLength: 200 }) },
      { additionalProperties: Type.String({ maxLength: 4000 }) },
    ),
    response: { status: 302, schema: null, description: "Back to where the login started" },
    errors: [400, 401, 403, 503],
    audit: "auth.login",
    handler: async ({ query, req, res, setTarget }) => {
      const oidc = oidcOf(s);
      // Checked before anything else: a callback from another browser must not even use up the
      // login it carries.
      const binding = takeLogin(parseCookies(req.headers.cookie).get(loginCookieName(s)), query.state);
      if (!binding.bound)
        throw new ApiError(
          400,
          "login_not_bound",
          "This login was not started in this browser (or the browser did not keep its cookie): start the login again here",
        );
      setLoginCookie(s, res, binding.rest);
      const pending = await s.db.prisma.pendingLogin.findUnique({ where: { id: query.state } });
      if (pending) await s.db.prisma.pendingLogin.delete({ where: { id: pending.id } }).catch(() => {});
      if (!pending || pending.expiresAt.getTime() <= s.now())
        throw badRequest("This login has expired or was already used: start again");
      const identity = await asLoginError(
        oidc.completeLogin(new URL(req.originalUrl, s.config.publicUrl), {
          state: pending.id,
          codeVerifier: pending.codeVerifier,
          nonce: pending.nonce,
        }),
      );
      const user = await userFor(s, identity);
      setTarget(`user/${user.email}`);
      await recordLogin(s, user.email, identity.emailVerified);
      await endSession(s, req);
      const session = await s.sessions.create(user.id, { ip: clientIp(req), userAgent: req.get("user-agent") });
      req.principal = {
        kind: "session",
        sessionId: "",
        userId: user.id,
        email: user.email,
        name: user.name,
        csrfToken: session.csrfToken,
      };
      setSessionCookies(s, res, session.cookie, session.csrfToken);
      setPlatformGroupCookie(s, res, session.cookie, identity.groups);
      const back = pending.returnTo;
      res.redirect(302, !back.startsWith("/") || back.startsWith("/api/") ? back : `${s.config.consoleUrl}${back}`);
    },
  }),
  route({
    method: "post",
    path: "/api/auth/logout",
    summary: "End the session",
    tag: "auth",
    auth: "session",
    response: { status: 204, schema: null },
    audit: "auth.logout",
    handler: async ({ req, res }) => {
      await endSession(s, req);
      clearSessionCookies(s, res);
    },
  }),
];

async function endSession(s: Services, req: Request) {
  if (req.sessionCookie) await s.sessions.destroy(req.sessionCookie);
}
