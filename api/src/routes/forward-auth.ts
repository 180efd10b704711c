// Forward-auth for the gateway: may this caller (session cookie or API key, forwarded by the
// gateway) open this app under the app's access policy? 204 yes, 401 log in first, 403 no,
// 404 for an app that does not exist or is not in one of the caller's organizations. The
// gateway caches answers briefly; here the answer costs a few map lookups.
//
// In Gateway API mode the data plane asks instead (Envoy Gateway's SecurityPolicy extAuth,
// operator/src/routing/ext-auth.ts): at /api/forward-auth/:org/:app/data-plane, with the app
// request's own method and Authorization, for every request (Envoy keeps no decisions). The
// decision is the same one; only its form follows Envoy's ext_authz: 200 is the only "yes",
// and the answer says which of Atrium's credentials to take off before the app sees the request.
// The operator's stop probe carries no login but a shared token (ATRIUM_PROBE_TOKEN, ADR 0024):
// with it, a GET is let through, and Envoy takes the token off (api/src/auth/probe-token.ts).
// Envoy appends the app request's path and query to the check path and passes the refusal on
// to the client, so a browser without a login is sent to the login and back to the app URL it
// asked for (302), as the embedded gateway does (gateway/src/gateway.ts, authorize).
import { type AppInstance, namespaceFor, PROBE_TOKEN_HEADER } from "@atrium/crds";
import { Type } from "@sinclair/typebox";
import type { Request, RequestHandler } from "express";
import type { Services } from "../app.ts";
import { actorIn, type Principal } from "../auth/principal.ts";
import { isOperatorProbe } from "../auth/probe-token.ts";
import { ApiError, forbidden, notFound, unauthenticated } from "../http/errors.ts";
import { route } from "../http/route.ts";
import { Name } from "./views.ts";

export type AccessDecision = { allowed: true } | { allowed: false; reason: string };

/** The decision itself: pure, so the matrix of policies × callers is unit-tested. */
export function accessDecision(
  access: AppInstance["spec"]["access"],
  caller: { role: string; canAccess: boolean } | undefined,
): AccessDecision {
  const policy = access?.policy ?? "Members";
  if (policy === "Public") return { allowed: true };
  if (!caller) return { allowed: false, reason: "Not a member of this organization" };
  if (!caller.canAccess) return { allowed: false, reason: "Your role lacks the permission apps:access" };
  if (policy === "Roles" && !(access?.roles ?? []).includes(caller.role))
    return { allowed: false, reason: "This app is open to certain roles only" };
  return { allowed: true };
}

/** What the app must not see: Atrium's session cookies (as the embedded gateway drops them). */
const ATRIUM_COOKIES = /(?:^|;\s*)atrium_(?:session|csrf)=[^;]*/g;
/** An Atrium API key in Authorization (an app's own Authorization is the app's business). */
export const ATRIUM_KEY = /^Bearer\s+atr_(sk|ai)_/i;
/** Envoy's ext_authz removes the request headers this response header lists (on a 200 only). */
export const HEADERS_TO_REMOVE = "x-envoy-auth-headers-to-remove";

/**
 * How the request goes on to the app after a "yes": the Cookie without Atrium's session
 * cookies (undefined: unchanged), and the headers to remove (Cookie when nothing else was in
 * it, Authorization when it carried an Atrium key). Pure, for the unit tests.
 */
export function credentialsStripped(headers: { cookie?: string | undefined; authorization?: string | undefined }): {
  cookie?: string;
  remove: string[];
} {
  const remove: string[] = [];
  let cookie: string | undefined;
  if (headers.cookie?.includes("atrium_")) {
    const rest = headers.cookie.replace(ATRIUM_COOKIES, "").replace(/^;\s*/, "").trim();
    if (rest) cookie = rest;
    else remove.push("cookie");
  }
  if (headers.authorization !== undefined && ATRIUM_KEY.test(headers.authorization)) remove.push("authorization");
  return { ...(cookie !== undefined ? { cookie } : {}), remove };
}

/** What Envoy takes off the operator's probe after its "yes": the token, and an identity nobody checked. */
export const PROBE_REMOVES = [PROBE_TOKEN_HEADER, "x-atrium-user"] as const;

/**
 * The check's own path; Envoy's path prefix (operator/src/routing/ext-auth.ts) puts the app
 * request's path and query after it: `/api/forward-auth/<org>/<app>/data-plane/<path>?<query>`.
 */
const DATA_PLANE_CHECK_PATH = /^\/api\/forward-auth\/[^/?#]+\/[^/?#]+\/data-plane(?=[/?]|$)/;

/**
 * Before routing: the router sees the check's path alone. What Envoy appended is the app's
 * request, not the check's: its query is no query of this route (nothing to validate), its path
 * is never decoded as a route parameter (an app path with a stray `%` would be a 400), and
 * neither reaches the API's request log. The handler reads it from req.originalUrl.
 */
export const dataPlaneCheckPath: RequestHandler = (req, _res, next) => {
  const own = DATA_PLANE_CHECK_PATH.exec(req.url)?.[0];
  if (own) req.url = own;
  next();
};

/** The app request's path and query in a check's URL ("/" when Envoy appended nothing); undefined for another URL. */
export function appTargetOf(checkUrl: string): string | undefined {
  const own = DATA_PLANE_CHECK_PATH.exec(checkUrl)?.[0];
  if (own === undefined) return undefined;
  const rest = checkUrl.slice(own.length);
  return rest.startsWith("/") ? rest : `/${rest}`;
}

/** A browser opening a page: a GET that accepts HTML (the embedded gateway's test, gateway/src/routes.ts wantsHtml). */
export const wantsPage = (method: string, accept: string | undefined) =>
  method === "GET" && (accept ?? "").includes("text/html");

/** What the check knows of the request to the app (Envoy copies Host; Accept and X-Forwarded-Proto are listed in the policy). */
export type AppRequest = { method: string; url: string; host?: string; accept?: string; forwardedProto?: string };

const HOST = /^([a-z0-9.-]+)(:\d{1,5})?$/i;

/**
 * The URL the browser asked for: its scheme (X-Forwarded-Proto, which Envoy sets from the
 * client's connection; else the app's status URL's, as the console links it; else https), the
 * Host, and the path and query. Undefined unless Host is the app's own `<app>.<org>.<base
 * domain>` (ATRIUM_BASE_DOMAIN): the login returns only to app URLs it knows (routes/auth.ts).
 */
export function appUrlAsked(
  request: AppRequest,
  app: { org: string; name: string; statusUrl?: string | undefined },
  baseDomain: string | undefined,
): string | undefined {
  const host = HOST.exec(request.host ?? "");
  const target = appTargetOf(request.url);
  if (!baseDomain || !host || !target) return undefined;
  const hostname = (host[1] as string).toLowerCase();
  if (hostname !== `${app.name}.${app.org}.${baseDomain}`) return undefined;
  const forwarded = request.forwardedProto?.split(",")[0]?.trim().toLowerCase();
  const scheme =
    forwarded === "http" || forwarded === "https" ? forwarded : app.statusUrl?.startsWith("http:") ? "http" : "https";
  // Written as the login will read it (a default port dropped, odd characters escaped); the
  // target is a path, so it cannot name another host.
  const url = URL.parse(`${scheme}://${host[0]}${target}`);
  return url?.hostname === hostname ? url.href : undefined;
}

/**
 * Where a refusal for want of a login (401) sends the caller instead: a browser's page request
 * goes to the API's login with the app URL as returnTo; undefined (the 401 stands) for API and
 * XHR callers, and for a request not at the app's own host.
 */
export function loginRedirect(
  request: AppRequest,
  app: { org: string; name: string; statusUrl?: string | undefined },
  sites: { publicUrl: string; baseDomain: string | undefined },
): string | undefined {
  if (!wantsPage(request.method, request.accept)) return undefined;
  const back = appUrlAsked(request, app, sites.baseDomain);
  return back && `${sites.publicUrl}/api/auth/login?returnTo=${encodeURIComponent(back)}`;
}

type Decide = { params: { org: string; app: string }; principal: Principal | undefined };

/** The decision for one caller and app; throws the refusal (401, 403, 404), returns the caller's email on "yes" (undefined: a Public app). */
function decide(s: Services, { params, principal }: Decide): string | undefined {
  const app = s.directory.apps.get(`${namespaceFor(params.org)}/${params.app}`);
  if (app && (app.spec.access?.policy ?? "Members") === "Public") return undefined;
  // Unknown apps and apps of organizations the caller is not in answer alike (401 to
  // nobody, 404 to others), so the answer never tells an outsider which apps exist.
  if (!principal) throw unauthenticated("Log in to open this app");
  const actor = actorIn(s.directory, principal, params.org);
  if (!app || !actor) throw notFound(`App "${params.app}"`);
  const decision = accessDecision(app.spec.access, {
    role: actor.member.spec.role,
    canAccess: actor.can("apps:access"),
  });
  if (!decision.allowed) throw forbidden(decision.reason);
  return principal.email;
}

/** The login for a browser the data plane's check refused for want of one (undefined: answer 401). */
function loginFor(s: Services, params: { org: string; app: string }, req: Request) {
  const header = (name: string) => {
    const value = req.headers[name];
    return typeof value === "string" ? value : undefined;
  };
  const statusUrl = s.directory.apps.get(`${namespaceFor(params.org)}/${params.app}`)?.status?.url;
  return loginRedirect(
    {
      method: req.method,
      url: req.originalUrl,
      host: header("host"),
      accept: header("accept"),
      forwardedProto: header("x-forwarded-proto"),
    },
    { org: params.org, name: params.app, statusUrl },
    { publicUrl: s.config.publicUrl, baseDomain: s.config.apps.baseDomain },
  );
}

const Params = Type.Object({ org: Name("Organization name"), app: Name("AppInstance name") });

/**
 * Envoy's ext_authz asks with the app request's method (a POST to the app is a POST here), so
 * the data plane's check answers every method the route table has (HEAD with GET).
 */
const DATA_PLANE_METHODS = ["get", "post", "put", "patch", "delete"] as const;

export const forwardAuthRoutes = (s: Services) => [
  route({
    method: "get",
    path: "/api/forward-auth/:org/:app",
    summary: "For the gateway: may the caller open this app? (204 yes, 401, 403, 404)",
    tag: "gateway",
    auth: "public",
    params: Params,
    response: { status: 204, schema: null, description: "Allowed; X-Atrium-User names the caller" },
    errors: [401, 403, 404],
    handler: async ({ params, principal, res }) => {
      const user = decide(s, { params, principal });
      if (user) res.setHeader("x-atrium-user", user);
    },
  }),
  ...DATA_PLANE_METHODS.map((method) =>
    route({
      method,
      path: "/api/forward-auth/:org/:app/data-plane",
      summary: `For the data plane's external authorization (Envoy ext_authz), a ${method.toUpperCase()} to the app: may the caller open it? (200 yes, 401, 403, 404; a browser's page request without a login: 302 to the login). Envoy appends the app's path and query: /data-plane/<path>?<query> gets the same answer`,
      tag: "gateway",
      auth: "public",
      params: Params,
      response: {
        status: 200,
        schema: null,
        description:
          "Allowed; X-Atrium-User names the caller, Cookie is the request's without Atrium's session cookies, x-envoy-auth-headers-to-remove lists what Envoy takes off",
      },
      errors: [401, 403, 404],
      handler: async ({ params, principal, req, res }) => {
        // The operator's stop probe (ADR 0024): through to the activator (or, while the app
        // still runs, its pod), with the token and any identity taken off on the way.
        if (isOperatorProbe(s.config.probeToken, method, req.headers)) {
          res.setHeader(HEADERS_TO_REMOVE, PROBE_REMOVES.join(","));
          return;
        }
        let user: string | undefined;
        try {
          user = decide(s, { params, principal });
        } catch (e) {
          const login = e instanceof ApiError && e.status === 401 ? loginFor(s, params, req) : undefined;
          if (!login) throw e;
          res.redirect(302, login);
          return;
        }
        if (!user) return; // a Public app (its route has no policy; a stale one is let through)
        res.setHeader("x-atrium-user", user);
        const stripped = credentialsStripped(req.headers);
        if (stripped.cookie !== undefined) res.setHeader("cookie", stripped.cookie);
        if (stripped.remove.length) res.setHeader(HEADERS_TO_REMOVE, stripped.remove.join(","));
      },
    }),
  ),
];
