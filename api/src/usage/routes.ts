// The gateways' usage batches: POST /api/usage/batches, authenticated by the shared secret
// ATRIUM_USAGE_TOKEN (not a person or an API key: a gateway acts for no organization). Without
// the setting every batch is refused (fail closed).
import { createHash, timingSafeEqual } from "node:crypto";
import { Type } from "@sinclair/typebox";
import type { Services } from "../app.ts";
import { invalidField, unauthenticated } from "../http/errors.ts";
import { type Route, route } from "../http/route.ts";

/** DNS labels, as organization and app names are (org names ≤ 59, app names ≤ 63 characters). */
const Name = Type.String({ pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", minLength: 1, maxLength: 63 });
const Count = Type.Integer({ minimum: 0, maximum: 1e12 });

/** At most this many apps per batch: a gateway with more sends several batches (gateway/src/usage.ts). */
export const MAX_APPS_PER_BATCH = 1000;
/** A batch may cover at most this long (a gateway that could not report for a while sends one batch for all of it). */
const MAX_SPAN_MS = 7 * 24 * 3_600_000;

export const BatchBody = Type.Object(
  {
    batch: Type.String({
      pattern: "^[A-Za-z0-9._-]{1,100}:[0-9]{1,15}$",
      description: "<replica>:<sequence>, unique per gateway replica and batch; a retry sends the same id",
    }),
    from: Type.String({ format: "date-time" }),
    to: Type.String({ format: "date-time", description: "Counts go to the UTC hour of this time" }),
    apps: Type.Array(
      Type.Object(
        { org: Name, app: Name, requests: Count, errors5xx: Count, wakes: Count },
        { additionalProperties: false },
      ),
      { maxItems: MAX_APPS_PER_BATCH },
    ),
  },
  { additionalProperties: false },
);

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Compares the bearer token with the configured one in constant time (hashes: equal lengths). */
export function tokenMatches(configured: string | undefined, authorization: string | undefined): boolean {
  if (!configured) return false;
  const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? "");
  return timingSafeEqual(digest(m?.[1] ?? ""), digest(configured)) && Boolean(m);
}

export function usageRoutes(s: Services): Route[] {
  return [
    route({
      method: "post",
      path: "/api/usage/batches",
      summary:
        "Report a gateway replica's per-app counts (requests, 5xx answers, wakes); idempotent by batch id. " +
        "Authorization: Bearer <ATRIUM_USAGE_TOKEN> (the gateways' shared secret, not an API key)",
      tag: "Usage",
      auth: "public",
      body: BatchBody,
      response: {
        status: 200,
        schema: Type.Object({
          accepted: Type.Boolean({ description: "false: this batch id was already counted (nothing was added)" }),
        }),
      },
      errors: [401],
      handler: async ({ body, req }) => {
        if (!tokenMatches(s.usage.config.token, req.headers.authorization))
          throw unauthenticated(
            s.usage.config.token
              ? "Wrong usage token"
              : "Usage reporting is not configured: set ATRIUM_USAGE_TOKEN on the API and the gateways",
          );
        const from = Date.parse(body.from);
        const to = Date.parse(body.to);
        if (from > to) throw invalidField("/body/from", "must not be after to");
        if (to - from > MAX_SPAN_MS) throw invalidField("/body/from", "a batch may cover at most 7 days");
        return { accepted: await s.usage.ingest(body) };
      },
    }),
  ];
}
