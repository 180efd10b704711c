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
import { type AppInstance, namespaceFor, PROBE_TOKEN_HEADER } from "@atrium/crds";
import { Type } from "@sinclair/typebox";
import type { Services } from "../app.ts";
import { actorIn, type Principal } from "../auth/principal.ts";
import { isOperatorProbe } from "../auth/probe-token.ts";
import { forbidden, notFound, unauthenticated } from "../http/errors.ts";
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
      summary: `For the data plane's external authorization (Envoy ext_authz), a ${method.toUpperCase()} to the app: may the caller open it? (200 yes, 401, 403, 404)`,
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
        const user = decide(s, { params, principal });
        if (!user) return; // a Public app (its route has no policy; a stale one is let through)
        res.setHeader("x-atrium-user", user);
        const stripped = credentialsStripped(req.headers);
        if (stripped.cookie !== undefined) res.setHeader("cookie", stripped.cookie);
        if (stripped.remove.length) res.setHeader(HEADERS_TO_REMOVE, stripped.remove.join(","));
      },
    }),
  ),
];
