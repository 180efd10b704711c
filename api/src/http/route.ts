// A route is declared once: method, path, schemas, the permission it needs and its handler.
// The same declaration validates requests, checks authorization, writes the audit log and
// generates the OpenAPI document (openapi.ts), so the three cannot disagree.
import type { Permission } from "@atrium/crds";
import type { Static, TSchema } from "@sinclair/typebox";
import type { NextFunction, Request, Response, Router } from "express";
import type { Actor, Principal } from "../auth/principal.ts";
import { ApiError, forbidden, methodNotAllowed, notFound, unauthenticated } from "./errors.ts";
import { validate } from "./validate.ts";

export type Method = "get" | "post" | "put" | "patch" | "delete";

/**
 * Who may call: anyone; a logged-in person (session cookie); a person or an API key.
 * Some routes take sessions only: an API key may not mint keys or manage people.
 */
export type Auth = "public" | "session" | "any";

type Infer<S> = S extends TSchema ? Static<S> : undefined;

export type Context<P, Q, B> = {
  params: Infer<P>;
  query: Infer<Q>;
  body: Infer<B>;
  /** Present unless the route is public. */
  principal: Principal;
  /** The caller as a member of the route's organization (routes with an :org parameter). */
  actor: Actor;
  req: Request;
  res: Response;
  /** What the write acted on, for the audit log ("member/jane", "apikey/AB12…"). */
  setTarget(target: string): void;
  /** This call did nothing worth recording (it only sent the caller to log in first). */
  skipAudit(): void;
};

export type RouteSpec<P extends TSchema | undefined, Q extends TSchema | undefined, B extends TSchema | undefined> = {
  method: Method;
  /** Express path syntax: /api/orgs/:org/members/:member */
  path: string;
  summary: string;
  tag: string;
  auth: Auth;
  /** Checked in the organization named by the :org parameter. */
  permission?: Permission;
  params?: P;
  query?: Q;
  body?: B;
  /** A body that is not JSON, read by the handler itself (e.g. an image): its media types, for OpenAPI. */
  rawBody?: { types: readonly string[]; description: string };
  /** The success status and its body schema (null: no body). */
  response: {
    status: number;
    schema: TSchema | null;
    description?: string;
    /** Other media types the handler may answer with instead of JSON (it writes those itself). */
    also?: Record<string, TSchema>;
  };
  /** Extra error statuses worth documenting besides the common ones. */
  errors?: number[];
  /** The audit action for writes, e.g. "members.invite". Reads are not audited. */
  audit?: string;
  handler: (ctx: Context<P, Q, B>) => Promise<unknown>;
};

export type Route = RouteSpec<TSchema | undefined, TSchema | undefined, TSchema | undefined>;

export const route = <
  P extends TSchema | undefined = undefined,
  Q extends TSchema | undefined = undefined,
  B extends TSchema | undefined = undefined,
>(
  spec: RouteSpec<P, Q, B>,
): Route => spec as unknown as Route;

export type Guard = {
  /** The caller as a member of org, or undefined when they are not one (or inactive). */
  actorIn(principal: Principal, org: string): Actor | undefined;
  /** Records a write in the audit log; never throws. */
  audit(entry: {
    req: Request;
    principal: Principal | undefined;
    org: string | undefined;
    action: string;
    target: string | undefined;
    result: "success" | "denied" | "error";
    status: number;
  }): void;
};

export function mount(router: Router, routes: readonly Route[], guard: Guard): void {
  const methods = new Map<string, string[]>();
  for (const r of routes) {
    router[r.method](r.path, (req: Request, res: Response, next: NextFunction) => {
      run(r, req, res, guard).catch(next);
    });
    methods.set(r.path, [...(methods.get(r.path) ?? []), r.method.toUpperCase()]);
  }
  // A path the table knows, with a method it does not serve: 405 with Allow (RFC 9110
  // §15.5.6), not 404. OPTIONS goes on to Express's own answer (an Allow list as well).
  for (const [path, declared] of methods) {
    const allowed = declared.includes("GET") ? [...declared, "HEAD"] : declared;
    router.all(path, (req: Request, _res: Response, next: NextFunction) =>
      next(req.method === "OPTIONS" ? undefined : methodNotAllowed(req.method, allowed)),
    );
  }
}

async function run(r: Route, req: Request, res: Response, guard: Guard): Promise<void> {
  const principal = req.principal;
  const org = typeof req.params.org === "string" ? req.params.org : undefined;
  // Refused calls never reach the handler, so the target is first taken from the path (only
  // for audited routes: reads would pay for it on every request and never use it).
  let target = r.audit ? defaultTarget(req.params) : undefined;
  let skipped = false;
  const audit = (result: "success" | "denied" | "error", status: number) => {
    if (r.audit && !skipped) guard.audit({ req, principal, org, action: r.audit, target, result, status });
  };
  try {
    if (r.auth !== "public" && !principal) throw unauthenticated();
    if (r.auth === "session" && principal?.kind !== "session")
      throw forbidden("This action needs a logged-in person, not an API key");
    const actor = org && principal ? guard.actorIn(principal, org) : undefined;
    // Not a member: the organization does not exist as far as this caller can tell.
    if (org && r.auth !== "public" && !actor) throw notFound(`Organization "${org}"`);
    if (r.permission && !actor?.can(r.permission))
      throw forbidden(`Your role in "${org}" lacks the permission ${r.permission}`);
    const ctx = {
      params: r.params ? validate("params", r.params, req.params) : req.params,
      query: r.query ? validate("query", r.query, req.query) : undefined,
      body: r.body ? validate("body", r.body, req.body) : undefined,
      principal,
      actor,
      req,
      res,
      setTarget: (t: string) => {
        target = t;
      },
      skipAudit: () => {
        skipped = true;
      },
    } as Context<unknown, unknown, unknown>;
    const body = await r.handler(ctx as never);
    audit("success", r.response.status);
    if (res.headersSent) return;
    if (r.response.schema === null) res.status(r.response.status).end();
    else res.status(r.response.status).json(body);
  } catch (e) {
    const status = e instanceof ApiError ? e.status : 500;
    audit(status === 401 || status === 403 || status === 404 ? "denied" : "error", status);
    throw e;
  }
}

const TARGET_KINDS: Record<string, string> = {
  member: "member",
  role: "role",
  key: "apikey",
  app: "app",
  subscription: "subscription",
  invoice: "invoice",
};

/** "member/jane" from /orgs/:org/members/:member, for the audit log. */
function defaultTarget(params: Record<string, string | string[]>): string | undefined {
  const entry = Object.entries(params).findLast(([name]) => name in TARGET_KINDS);
  return entry ? `${TARGET_KINDS[entry[0]]}/${entry[1]}` : undefined;
}
