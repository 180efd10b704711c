// The one typed client of the API (types generated from its route table: schema.d.ts). Same
// origin, so the session cookie goes along by itself; writes echo the session's CSRF token,
// which GET /api/me returns (and the readable atrium_csrf cookie holds too).
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.d.ts";

export const CSRF_HEADER = "x-csrf-token";
let csrfToken: string | null = null;

/** Set from GET /api/me; null after logout. */
export function setCsrfToken(token: string | null) {
  csrfToken = token;
}

function csrfFromCookie(): string | null {
  const match = /(?:^|;\s*)atrium_csrf=([^;]+)/.exec(document.cookie);
  return match?.[1] ? decodeURIComponent(match[1]) : null;
}

export const api = createClient<paths>({ baseUrl: window.location.origin, credentials: "same-origin" });

api.use({
  onRequest({ request }) {
    if (request.method !== "GET" && request.method !== "HEAD") {
      const token = csrfToken ?? csrfFromCookie();
      if (token) request.headers.set(CSRF_HEADER, token);
    }
    return request;
  },
});

export type FieldError = { path: string; message: string };

/** A refusal of the API, with its title and the fields it names (shown beside each field). */
export class ApiProblem extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: FieldError[];
  constructor(status: number, code: string, message: string, fields: FieldError[] = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
  /** The message for a body or query field ("email" finds /body/email). */
  fieldMessage(name: string): string | undefined {
    return this.fields.find((f) => f.path === `/body/${name}` || f.path === `/query/${name}`)?.message;
  }
}

type Result<T> = { data?: T; error?: unknown; response: Response };

/**
 * A call with a raw body (the logo's image bytes), which openapi-fetch would serialize as JSON.
 * Same origin, same CSRF header, same ApiProblem as the typed client.
 */
export async function request<T>(
  method: "GET" | "POST" | "PUT" | "DELETE",
  path: string,
  body?: BodyInit | object,
  contentType = "application/json",
): Promise<T> {
  const headers = new Headers();
  if (method !== "GET") {
    const token = csrfToken ?? csrfFromCookie();
    if (token) headers.set(CSRF_HEADER, token);
  }
  let payload: BodyInit | undefined;
  if (body instanceof Blob || body instanceof ArrayBuffer) payload = body;
  else if (body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined) headers.set("content-type", contentType);
  const response = await fetch(path, { method, headers, credentials: "same-origin", body: payload ?? null });
  const text = await response.text();
  const data = text && /json/.test(response.headers.get("content-type") ?? "") ? JSON.parse(text) : undefined;
  return unwrap<T>(Promise.resolve(response.ok ? { data, response } : { error: data, response }));
}

/** The data of a successful call, or an ApiProblem. */
export async function unwrap<T>(call: Promise<Result<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (response.ok) return data as T;
  const body = (error ?? {}) as Partial<components["schemas"]["Error"]>;
  throw new ApiProblem(
    response.status,
    body.error?.code ?? "http_error",
    body.error?.message ?? `The API answered ${response.status} ${response.statusText}`,
    body.error?.fields ?? [],
  );
}

export type Schemas = components["schemas"];
type Json<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  responses: infer R;
}
  ? R extends { 200: { content: { "application/json": infer B } } }
    ? B
    : R extends { 201: { content: { "application/json": infer B } } }
      ? B
      : never
  : never;

export type Me = Json<"/api/me", "get">;
export type OrgEntry = Json<"/api/me/organizations", "get">["items"][number];
export type MemberPage = Json<"/api/orgs/{org}/members", "get">;
export type MemberView = MemberPage["items"][number];
export type MemberDetail = Json<"/api/orgs/{org}/members/{member}", "get">;
export type RoleView = Json<"/api/orgs/{org}/roles", "get">["items"][number];
export type KeyView = Json<"/api/orgs/{org}/apikeys", "get">["items"][number];
export type CreatedKey = Json<"/api/orgs/{org}/apikeys", "post">;
export type MarketPage = Json<"/api/orgs/{org}/marketplace/apps", "get">;
export type MarketCard = MarketPage["items"][number];
export type MarketDetail = Json<"/api/orgs/{org}/marketplace/apps/{template}", "get">;
export type Plan = MarketCard["plans"][number];
export type AppList = Json<"/api/orgs/{org}/apps", "get">;
export type AppSummary = AppList["items"][number];
export type AppDetail = Json<"/api/orgs/{org}/apps/{app}", "get">;
export type Overview = Json<"/api/orgs/{org}/overview", "get">;
export type UsageSeries = Json<"/api/orgs/{org}/usage", "get">;
export type Economics = Json<"/api/orgs/{org}/economics", "get">;
export type PlatformStats = Json<"/api/platform/stats", "get">;
export type NotificationPage = Json<"/api/me/notifications", "get">;
export type NotificationItem = NotificationPage["items"][number];
export type Preferences = Json<"/api/me/notification-preferences", "get">;
export type ExportJob = Json<"/api/orgs/{org}/exports/{id}", "get">;
export type Money = Economics["committedMonthly"][number];
