// The operator's stop probe through the data plane carries no login, so for an app that is not
// Public the data plane's external authorization (the API's forward-auth) would refuse it and no
// idle stop of such an app would be confirmed (ADR 0024). The operator and the API share a
// secret, ATRIUM_PROBE_TOKEN; a probe that carries it is let through to the activator.
import { createHash, timingSafeEqual } from "node:crypto";
import {
  ACTIVATOR_PROBE_HEADER,
  ACTIVATOR_PROBE_VALUE,
  PROBE_TOKEN_HEADER,
  PROBE_TOKEN_MIN_LENGTH,
} from "@atrium/crds";

/** ATRIUM_PROBE_TOKEN: unset, every probe is an ordinary request (refused without a login); too short stops the API. */
export function probeTokenFrom(env: NodeJS.ProcessEnv): string | undefined {
  const token = env.ATRIUM_PROBE_TOKEN ?? "";
  if (token && token.length < PROBE_TOKEN_MIN_LENGTH)
    throw new Error(`ATRIUM_PROBE_TOKEN must be at least ${PROBE_TOKEN_MIN_LENGTH} characters, got ${token.length}`);
  return token || undefined;
}

const digest = (text: string) => createHash("sha256").update(text).digest();

/**
 * Whether a data-plane check is the operator's probe: a GET with the probe header and the
 * token. Compared in constant time (digests of equal length), so timing says nothing of the
 * token. The probe's path is not checked (Envoy appends it to the check path, and the route's
 * probe rule matches the header on every path anyway).
 */
export function isOperatorProbe(
  token: string | undefined,
  method: string,
  headers: Record<string, string | string[] | undefined>,
): boolean {
  const presented = headers[PROBE_TOKEN_HEADER];
  if (!token || typeof presented !== "string" || method.toUpperCase() !== "GET") return false;
  if (headers[ACTIVATOR_PROBE_HEADER] !== ACTIVATOR_PROBE_VALUE) return false;
  return timingSafeEqual(digest(presented), digest(token));
}
