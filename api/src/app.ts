// The API as an Express app: middleware order, authentication, the route modules, errors.
// main.ts builds the real dependencies; tests build the same app against a real cluster.
import { mayAct } from "@atrium/crds";
import type { KubeClient, Logger } from "@atrium/kube";
import express, { type Request, type RequestHandler, type Response } from "express";
import type { Installs } from "./apps/installs.ts";
import { appRoutes } from "./apps/routes.ts";
import { AuditLog, clientIp } from "./audit/audit.ts";
import { KeyStore } from "./auth/keystore.ts";
import type { OidcClient } from "./auth/oidc.ts";
import { actorIn, type Principal } from "./auth/principal.ts";
import { type Limiter, limiterFor } from "./auth/ratelimit.ts";
import { CSRF_HEADER, csrfMatches, SESSION_COOKIE, Sessions } from "./auth/sessions.ts";
import type { Directory } from "./authz/directory.ts";
import { Billing } from "./billing/billing.ts";
import { localLedger } from "./billing/provider.ts";
import { billingRoutes } from "./billing/routes.ts";
import type { ApiConfig } from "./config.ts";
import { dashboardRoutes } from "./dashboard/routes.ts";
import type { Database } from "./db/index.ts";
import { Exports } from "./export/exports.ts";
import { exportRoutes } from "./export/routes.ts";
import { consoleRoutes } from "./http/console.ts";
import { parseCookies } from "./http/cookies.ts";
import { ApiError, errorMiddleware, forbidden, notFound, tooManyRequests, unauthenticated } from "./http/errors.ts";
import { jsonBody } from "./http/json-body.ts";
import { openApiDocument } from "./http/openapi.ts";
import { mount, type Route } from "./http/route.ts";
import { securityHeaders } from "./http/security.ts";
import type { Mailer } from "./mail/mailer.ts";
import type { Catalog } from "./marketplace/catalog.ts";
import { marketplaceRoutes } from "./marketplace/routes.ts";
import type { ApiMetrics } from "./metrics.ts";
import { Notifications } from "./notifications/notifications.ts";
import { notificationRoutes } from "./notifications/routes.ts";
import { isDeleting, keysRefusedMessage } from "./orgs/lifecycle.ts";
import { PLATFORM_GROUP_COOKIE, provesPlatformGroup } from "./orgs/platform.ts";
import { orgRoutes } from "./orgs/routes.ts";
import { apiKeyRoutes } from "./routes/apikeys.ts";
import { auditRoutes } from "./routes/audit.ts";
import { authRoutes } from "./routes/auth.ts";
import { ATRIUM_KEY, dataPlaneCheckPath, forwardAuthRoutes } from "./routes/forward-auth.ts";
import { invitationRoutes } from "./routes/invitations.ts";
import { meRoutes } from "./routes/me.ts";
import { memberRoutes } from "./routes/members.ts";
import { roleRoutes } from "./routes/roles.ts";
import { settingsRoutes } from "./settings/routes.ts";
import { usageRoutes } from "./usage/routes.ts";
import { Usage } from "./usage/usage.ts";

declare module "express-serve-static-core" {
  interface Request {
    principal?: Principal;
    /** The raw session cookie, for logout. */
    sessionCookie?: string;
  }
}

export type ApiDeps = {
  config: ApiConfig;
  db: Database;
  kube: KubeClient;
  directory: Directory;
  /** Every installed app (AppInstance) by organization, from a watch. */
  installs: Installs;
  /** The marketplace: every AppTemplate, from a watch. */
  catalog: Catalog;
  mailer: Mailer;
  oidc: OidcClient | undefined;
  log: Logger;
  metrics: ApiMetrics;
  now?: () => number;
  /** The built console (default: console/dist of this repository). */
  consoleDir?: string;
};

/** What route modules get: the dependencies plus the services built on them. */
export type Services = ApiDeps & {
  now: () => number;
  sessions: Sessions;
  keys: KeyStore;
  limiter: Limiter;
  audit: AuditLog;
  /** Subscriptions, trials, invoices; publishes each install's entitlement. */
  billing: Billing;
  /** Usage metering: the gateways' batches, app transitions, API calls, rollups (api/src/usage). */
  usage: Usage;
  /** The feed and email notices, per preferences (api/src/notifications). */
  notifications: Notifications;
  /** GDPR export jobs and their worker (api/src/export). */
  exports: Exports;
};

export function allRoutes(s: Services): Route[] {
  return [
    ...authRoutes(s),
    ...meRoutes(s),
    ...memberRoutes(s),
    ...invitationRoutes(s),
    ...roleRoutes(s),
    ...appRoutes(s),
    ...marketplaceRoutes(s),
    ...billingRoutes(s),
    ...apiKeyRoutes(s),
    ...auditRoutes(s),
    ...forwardAuthRoutes(s),
    ...orgRoutes(s),
    ...usageRoutes(s),
    ...dashboardRoutes(s),
    ...settingsRoutes(s),
    ...notificationRoutes(s),
    ...exportRoutes(s),
  ];
}

export function createApi(deps: ApiDeps) {
  const now = deps.now ?? Date.now;
  const s: Services = {
    ...deps,
    now,
    sessions: new Sessions(deps.db, { ttlMs: deps.config.sessionTtlMs, now }),
    keys: new KeyStore(deps.db, deps.config.peppers, { now }),
    limiter: limiterFor(deps.db, { now, log: deps.log }),
    audit: new AuditLog(deps.db, deps.log),
    billing: new Billing({
      db: deps.db,
      kube: deps.kube,
      log: deps.log,
      now,
      provider: localLedger({ autopay: deps.config.billing.autopay }),
      templates: deps.catalog,
      installs: deps.installs,
      orgDeleting: (org) => isDeleting(deps.directory.organization(org)),
    }),
    notifications: new Notifications({
      db: deps.db,
      mailer: deps.mailer,
      directory: deps.directory,
      log: deps.log,
      now,
      publicUrl: deps.config.publicUrl,
      consoleUrl: deps.config.consoleUrl,
      peppers: deps.config.peppers,
    }),
    usage: new Usage({
      db: deps.db,
      installs: deps.installs,
      catalog: deps.catalog,
      directory: deps.directory,
      log: deps.log,
      now,
      config: deps.config.usage,
    }),
    exports: new Exports({
      db: deps.db,
      databaseUrl: deps.config.databaseUrl,
      directory: deps.directory,
      installs: deps.installs,
      catalog: deps.catalog,
      log: deps.log,
      now,
      notifications: () => s.notifications,
    }),
  };
  const routes = allRoutes(s);
  const document = openApiDocument(routes);
  const health = healthChecks(deps);
  const app = express();
  app.disable("x-powered-by");
  if (deps.config.trustProxy) app.set("trust proxy", deps.config.trustProxy);
  app.use(requestLog(s));
  app.use(securityHeaders(deps.config.secureCookies));
  // Health stays on the public port too, for load balancers that probe the port they serve.
  app.get("/healthz", health.live);
  app.get("/readyz", health.ready);
  app.get("/api/openapi.json", (_req, res) => void res.json(document));
  // The data plane's check carries the app request's path and query after its own: not the check's.
  app.use(dataPlaneCheckPath);
  app.use("/api", jsonBody("256kb"));
  app.use("/api", s.usage.middleware());
  app.use("/api", authenticate(s));
  const router = express.Router();
  mount(router, routes, {
    actorIn: (principal, org) => actorIn(deps.directory, principal, org),
    audit: (e) => s.audit.record({ ...e, ip: clientIp(e.req) }),
  });
  app.use(router);
  app.use("/api", (_req, _res, next) => next(notFound("Route")));
  // Everything else is the console's (its own CSP and caching; the API's headers stay on /api).
  app.use(consoleRoutes({ dir: deps.consoleDir, log: deps.log }));
  app.use(errorMiddleware(deps.log));
  return { app, admin: adminApp(deps, health), drain: health.drain, services: s, routes, document };
}

/** Liveness, and readiness: caches synced and not shutting down. */
function healthChecks(deps: ApiDeps) {
  let draining = false;
  const live: RequestHandler = (_req, res) => void res.json({ status: "ok" });
  const ready: RequestHandler = (_req, res) => {
    const status = draining
      ? "shutting down"
      : deps.directory.synced() && deps.installs.synced() && deps.catalog.synced()
        ? "ok"
        : "caches not synced";
    res.status(status === "ok" ? 200 : 503).json({ status });
  };
  return {
    live,
    ready,
    /** From now on /readyz answers 503, so that traffic moves to other replicas before the port closes. */
    drain() {
      draining = true;
    },
  };
}

/**
 * The admin port (ATRIUM_API_ADMIN_ADDR): health and /metrics, which the public port does not
 * serve (it tells outsiders what the API does, how much, and to whom: routes, key checks, 429s).
 */
function adminApp(deps: ApiDeps, health: ReturnType<typeof healthChecks>) {
  const admin = express();
  admin.disable("x-powered-by");
  admin.get("/healthz", health.live);
  admin.get("/readyz", health.ready);
  admin.get("/metrics", async (_req, res) => {
    deps.metrics.policyRebuilds.set(deps.directory.authorizer.rebuilds);
    res.setHeader("content-type", deps.metrics.registry.contentType);
    res.end(await deps.metrics.registry.metrics());
  });
  return admin;
}

/** Who is calling: a Bearer API key or a session cookie (with its CSRF token on writes). */
function authenticate(s: Services): RequestHandler {
  return (req, res, next) => {
    resolve(s, req, res).then(
      (principal) => {
        req.principal = principal;
        next();
      },
      (e) => next(e),
    );
  };
}

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Paths whose authority is a signed token in the URL, never the caller: the unsubscribe link of
 * an email works the same logged in or not (no CSRF check would make sense, nor a session).
 * The gateways' usage batches carry the usage token (not an API key) as their bearer.
 */
const TOKEN_PATHS = new Set(["/unsubscribe", "/usage/batches"]);

/**
 * The data plane's access check (routes/forward-auth.ts) comes with the app request's method and
 * Authorization: only an Atrium key there is the caller's to Atrium (the app's own is not, as
 * the embedded gateway never forwards it), and the check writes nothing (no CSRF token).
 */
// (dataPlaneCheckPath has already cut the app's path and query off: req.path is the check's own.)
const DATA_PLANE_CHECK = /^\/forward-auth\/[^/]+\/[^/]+\/data-plane$/;

async function resolve(s: Services, req: Request, res: Response): Promise<Principal | undefined> {
  if (TOKEN_PATHS.has(req.path)) return undefined;
  const dataPlaneCheck = DATA_PLANE_CHECK.test(req.path);
  const authorization =
    dataPlaneCheck && !ATRIUM_KEY.test(req.headers.authorization ?? "") ? undefined : req.headers.authorization;
  if (authorization) {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (!m) throw unauthenticated("Authorization must be: Bearer <API key>");
    return keyPrincipal(s, m[1] as string, res);
  }
  const cookie = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
  if (!cookie) return undefined;
  const session = await s.sessions.lookup(cookie);
  if (!session) return undefined;
  req.sessionCookie = cookie;
  if (!dataPlaneCheck && !SAFE.has(req.method) && !csrfMatches(session.csrfToken, req.get(CSRF_HEADER)))
    throw forbidden(`Missing or wrong ${CSRF_HEADER} header (GET /api/me returns the token)`);
  const platformGroup = provesPlatformGroup(
    s.config.peppers,
    session.sessionId,
    s.config.platformAdmins.group,
    parseCookies(req.headers.cookie).get(PLATFORM_GROUP_COOKIE),
  );
  return { kind: "session", ...session, platformGroup };
}

const KEY_FAILURES = {
  malformed: "The API key is malformed",
  unknown: "The API key is not valid",
  revoked: "The API key was revoked",
  expired: "The API key has expired",
};

async function keyPrincipal(s: Services, secret: string, res: Response): Promise<Principal> {
  const key = await s.keys.verify(secret);
  s.metrics.keyVerifications.inc({ result: typeof key === "string" ? key : "ok" });
  if (typeof key === "string") throw unauthenticated(KEY_FAILURES[key]);
  const member = s.directory.memberByEmail(key.org, key.email);
  if (!member || member.metadata.name !== key.memberName || !mayAct(member))
    throw unauthenticated("The API key is disabled: its member was deactivated or removed");
  if (isDeleting(s.directory.organization(key.org))) throw unauthenticated(keysRefusedMessage(key.org));
  const limit = s.config.keyLimits[key.type];
  const d = await s.limiter.take(`key:${key.id}`, limit);
  res.setHeader("ratelimit-limit", String(d.limit));
  res.setHeader("ratelimit-remaining", String(d.remaining));
  res.setHeader("ratelimit-reset", String(d.resetS));
  res.setHeader("ratelimit-policy", `${limit.limit};w=${Math.round(limit.windowMs / 1000)}`);
  if (!d.allowed) {
    s.metrics.rateLimited.inc({ limit: key.type });
    throw tooManyRequests(
      d.retryAfterS,
      `Rate limit of ${limit.limit} requests per ${limit.windowMs / 1000} s for ${key.type} keys`,
    );
  }
  return {
    kind: "apikey",
    keyId: key.id,
    keyType: key.type,
    org: key.org,
    email: key.email,
    memberName: key.memberName,
    scopes: key.scopes,
  };
}

/** One JSON line per request, and the request metrics. */
function requestLog(s: Services): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    res.on("finish", () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      // The route pattern, never the raw path: label values must stay few.
      const route = (req.route?.path as string | undefined) ?? "unmatched";
      s.metrics.requests.inc({ method: req.method, route, status: String(res.statusCode) });
      s.metrics.duration.observe({ method: req.method, route }, seconds);
      if (req.path === "/healthz" || req.path === "/readyz") return;
      s.log("request", {
        method: req.method,
        path: req.path,
        status: res.statusCode,
        ms: Math.round(seconds * 10_000) / 10,
        actor: req.principal
          ? req.principal.kind === "session"
            ? req.principal.email
            : `apikey:${req.principal.keyId}`
          : undefined,
      });
    });
    next();
  };
}

export { ApiError };
