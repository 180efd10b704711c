// Forward-auth for the gateway: may this caller (session cookie or API key, forwarded by the
// gateway) open this app under the app's access policy? 204 yes, 401 log in first, 403 no,
// 404 for an app that does not exist or is not in one of the caller's organizations. The
// gateway caches answers briefly; here the answer costs a few map lookups.
import { type AppInstance, namespaceFor } from "@atrium/crds";
import { Type } from "@sinclair/typebox";
import type { Services } from "../app.ts";
import { actorIn } from "../auth/principal.ts";
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

export const forwardAuthRoutes = (s: Services) => [
  route({
    method: "get",
    path: "/api/forward-auth/:org/:app",
    summary: "For the gateway: may the caller open this app? (204 yes, 401, 403, 404)",
    tag: "gateway",
    auth: "public",
    params: Type.Object({ org: Name("Organization name"), app: Name("AppInstance name") }),
    response: { status: 204, schema: null, description: "Allowed; X-Atrium-User names the caller" },
    errors: [401, 403, 404],
    handler: async ({ params, principal, res }) => {
      const app = s.directory.apps.get(`${namespaceFor(params.org)}/${params.app}`);
      if (app && (app.spec.access?.policy ?? "Members") === "Public") return;
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
      res.setHeader("x-atrium-user", principal.email);
    },
  }),
];
