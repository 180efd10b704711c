// Platform administrators: the people who run Atrium itself (they create organizations and see
// every one), named in configuration. Fail closed: nobody is one unless configured.
import { normalizeEmail, parseEmail } from "@atrium/crds";
import type { Principal } from "../auth/principal.ts";

export type PlatformAdmins = {
  /** ATRIUM_PLATFORM_ADMINS: comma-separated email addresses, canonical form. */
  emails: ReadonlySet<string>;
};

/**
 * Reads ATRIUM_PLATFORM_ADMINS ("ops@example.com, Alice@Example.com"). A malformed address
 * stops the API with the variable named: a typo must not silently leave the platform without
 * its administrators, nor grant it to an address nobody meant.
 *
 * An OIDC group claim (ATRIUM_PLATFORM_ADMIN_GROUP) is not read yet: whether a login carries
 * the group must be kept with its session, which has no room for it. Setting it stops the API
 * rather than being ignored, so nobody believes a group grants what it does not.
 */
export function platformAdminsFrom(env: NodeJS.ProcessEnv): PlatformAdmins {
  if (env.ATRIUM_PLATFORM_ADMIN_GROUP)
    throw new Error(
      "ATRIUM_PLATFORM_ADMIN_GROUP: platform administrators by OIDC group are not supported yet; name them by email in ATRIUM_PLATFORM_ADMINS",
    );
  const emails = new Set<string>();
  for (const raw of (env.ATRIUM_PLATFORM_ADMINS ?? "").split(",")) {
    if (!raw.trim()) continue;
    const parsed = parseEmail(raw);
    if (!parsed.ok) throw new Error(`ATRIUM_PLATFORM_ADMINS: "${raw.trim()}" is not an email address`);
    emails.add(parsed.email);
  }
  return { emails };
}

/**
 * A platform administrator is a logged-in person (never an API key: keys belong to one
 * organization) whose verified login email is listed, decided at request time so that a change
 * of the setting applies to existing sessions at the next restart.
 */
export const isPlatformAdmin = (admins: PlatformAdmins, principal: Principal | undefined): boolean =>
  principal?.kind === "session" && admins.emails.has(normalizeEmail(principal.email));
