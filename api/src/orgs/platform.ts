// Platform administrators: the people who run Atrium itself (they create organizations and see
// every one), named in configuration: by email, or by a group of the identity provider. Fail
// closed: nobody is one unless configured.
import { createHmac, timingSafeEqual } from "node:crypto";
import { normalizeEmail, parseEmail } from "@atrium/crds";
import type { Peppers } from "../auth/keyformat.ts";
import type { Principal } from "../auth/principal.ts";

export type PlatformAdmins = {
  /** ATRIUM_PLATFORM_ADMINS: comma-separated email addresses, canonical form. */
  emails: ReadonlySet<string>;
  /** ATRIUM_PLATFORM_ADMIN_GROUP: a value of the OIDC `groups` claim. */
  group: string | undefined;
};

/**
 * Reads ATRIUM_PLATFORM_ADMINS ("ops@example.com, Alice@Example.com") and
 * ATRIUM_PLATFORM_ADMIN_GROUP ("atrium-platform"). A malformed address stops the API with the
 * variable named: a typo must not silently leave the platform without its administrators, nor
 * grant it to an address nobody meant.
 */
export function platformAdminsFrom(env: NodeJS.ProcessEnv): PlatformAdmins {
  const emails = new Set<string>();
  for (const raw of (env.ATRIUM_PLATFORM_ADMINS ?? "").split(",")) {
    if (!raw.trim()) continue;
    const parsed = parseEmail(raw);
    if (!parsed.ok) throw new Error(`ATRIUM_PLATFORM_ADMINS: "${raw.trim()}" is not an email address`);
    emails.add(parsed.email);
  }
  const group = env.ATRIUM_PLATFORM_ADMIN_GROUP?.trim() || undefined;
  return { emails, group };
}

/**
 * A platform administrator is a logged-in person (never an API key: keys belong to one
 * organization) whose verified login email is listed (decided at request time, so a change of
 * the setting applies to existing sessions at the next restart), or whose login carried the
 * configured group (`platformGroup`, from the session's group cookie: see below).
 */
export const isPlatformAdmin = (admins: PlatformAdmins, principal: Principal | undefined): boolean =>
  principal?.kind === "session" && (admins.emails.has(normalizeEmail(principal.email)) || !!principal.platformGroup);

/**
 * Group membership as the login saw it, kept with the session without a database column: a
 * cookie holding an HMAC of the session's id and the group under a key derived from the API key
 * pepper (the same on every replica). It says one thing, "this session's login carried this
 * group", and only for that session: it is worthless with another session, after logout or
 * expiry (the session is gone), or once the configured group changes. Like a column, it is
 * decided at login: someone removed from the group keeps it until their session ends.
 */
export const PLATFORM_GROUP_COOKIE = "atrium_platform";

const groupKey = (pepper: Buffer) => createHmac("sha256", pepper).update("atrium platform-group cookie v1").digest();
const groupMac = (pepper: Buffer, sessionId: string, group: string) =>
  createHmac("sha256", groupKey(pepper)).update(`${sessionId}\0${group}`).digest("base64url");

/** The cookie's value for a session whose login carried the group: "<pepper version>.<mac>". */
export function platformGroupCookie(peppers: Peppers, sessionId: string, group: string): string {
  const pepper = peppers.byVersion.get(peppers.current) as Buffer;
  return `${peppers.current}.${groupMac(pepper, sessionId, group)}`;
}

/** Whether the cookie proves that this session's login carried the group. */
export function provesPlatformGroup(
  peppers: Peppers,
  sessionId: string,
  group: string | undefined,
  value: string | undefined,
): boolean {
  if (!group || !value) return false;
  const m = /^(\d+)\.([\w-]{43})$/.exec(value);
  const pepper = m ? peppers.byVersion.get(Number(m[1])) : undefined;
  if (!m || !pepper) return false;
  const expected = Buffer.from(groupMac(pepper, sessionId, group));
  const given = Buffer.from(m[2] as string);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
