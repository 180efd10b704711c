// Every failure the API reports is an ApiError; one middleware turns it into the one error
// body clients see: { error: { code, message, fields? } }. Anything else is a 500 whose
// details go to the log, never to the client.
import { KubeError, type Logger } from "@atrium/kube";
import type { ErrorRequestHandler } from "express";

export type FieldError = { path: string; message: string };

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: FieldError[] | undefined;
  readonly headers: Record<string, string>;
  constructor(
    status: number,
    code: string,
    message: string,
    options: { fields?: FieldError[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = options.fields;
    this.headers = options.headers ?? {};
  }
}

export const badRequest = (message: string, fields?: FieldError[]) =>
  new ApiError(400, "invalid_request", message, { fields });
export const invalidField = (path: string, message: string) =>
  new ApiError(422, "validation_failed", message, { fields: [{ path, message }] });
export const unauthenticated = (message = "Log in or send an API key") =>
  new ApiError(401, "unauthenticated", message, { headers: { "www-authenticate": 'Bearer realm="atrium"' } });
export const forbidden = (message: string) => new ApiError(403, "forbidden", message);
export const notFound = (what: string) => new ApiError(404, "not_found", `${what} not found`);
export const methodNotAllowed = (method: string, allowed: readonly string[]) =>
  new ApiError(405, "method_not_allowed", `${method} is not allowed here; use ${allowed.join(", ")}`, {
    headers: { allow: allowed.join(", ") },
  });
export const conflict = (message: string) => new ApiError(409, "conflict", message);
export const tooManyRequests = (retryAfterS: number, message = "Too many requests") =>
  new ApiError(429, "rate_limited", message, { headers: { "retry-after": String(retryAfterS) } });

/**
 * The apiserver refused one of the API's own requests for lack of an RBAC rule. The caller's
 * permission was already checked by Atrium, so this is the installation's fault, not the
 * client's: 503 (the feature is unavailable until an administrator grants the rule, e.g. in the
 * Helm chart's API role), saying which verb on which resource, and logged at error level.
 */
export class KubePermissionError extends ApiError {
  readonly verb: string;
  readonly resource: string;
  readonly namespace: string | undefined;
  constructor(verb: string, resource: string, namespace: string | undefined) {
    super(
      503,
      "kube_permission_missing",
      `Atrium's API lacks a Kubernetes permission: it may not ${verb} ${resource}${namespace ? ` in namespace ${namespace}` : " at cluster scope"}. An administrator must grant it to the API's ServiceAccount`,
    );
    this.verb = verb;
    this.resource = resource;
    this.namespace = namespace;
  }
}

/** The apiserver's RBAC denial: `… cannot <verb> resource "<resource>" in API group "<group>" [in the namespace "<ns>"]`. */
const RBAC_DENIAL = /cannot (\S+) resource "([^"]+)"(?: in API group "([^"]*)")?(?: in the namespace "([^"]+)")?/;

/**
 * A KubeError that is an RBAC denial, as a KubePermissionError. Other 403s of the apiserver (a
 * namespace being terminated, an admission webhook) are not about Atrium's rights: undefined.
 */
export function kubePermissionError(err: unknown): KubePermissionError | undefined {
  if (!(err instanceof KubeError) || err.code !== 403) return undefined;
  const m = RBAC_DENIAL.exec(err.message);
  if (!m) return undefined;
  const [, verb = "", resource = "", group, namespace] = m;
  return new KubePermissionError(verb, group ? `${resource}.${group}` : resource, namespace);
}

export const errorBody = (e: ApiError) => ({
  error: { code: e.code, message: e.message, ...(e.fields ? { fields: e.fields } : {}) },
});

export const errorMiddleware =
  (log: Logger): ErrorRequestHandler =>
  (err, req, res, _next) => {
    const known = toApiError(err);
    if (!known) {
      log("Unhandled error", { method: req.method, path: req.path, error: String(err?.stack ?? err) }, "error");
      res.status(500).json({ error: { code: "internal", message: "Internal error" } });
      return;
    }
    if (known instanceof KubePermissionError)
      log(
        "Atrium's API lacks a Kubernetes permission: grant it to the API's ServiceAccount",
        { verb: known.verb, resource: known.resource, namespace: known.namespace, method: req.method, path: req.path },
        "error",
      );
    for (const [k, v] of Object.entries(known.headers)) res.setHeader(k, v);
    res.status(known.status).json(errorBody(known));
  };

/** Express's own errors (bad JSON, body too large) carry a status; they become ApiErrors too. */
function toApiError(err: unknown): ApiError | undefined {
  if (err instanceof ApiError) return err;
  const denied = kubePermissionError(err);
  if (denied) return denied;
  const e = err as { status?: number; type?: string; message?: string };
  if (e?.type === "entity.parse.failed") return badRequest("The body is not valid JSON");
  if (e?.type === "entity.too.large") return new ApiError(413, "too_large", "The body is too large");
  if (e?.status && e.status >= 400 && e.status < 500)
    return new ApiError(e.status, "invalid_request", String(e.message));
  return undefined;
}
