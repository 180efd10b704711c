// The one definition of an email address in Atrium. Members are matched to logins, invitations
// and each other by address, so the apiserver (the Member CRD's CEL rule), the API (invitations,
// OIDC identities) and the operator (duplicate members) must agree on what an address is and
// when two are the same: the canonical form is trimmed and lower case, and nothing else is
// stored. Upper case, spaces, display-name forms ("Ann <ann@example.com>"), quoted local parts
// and IP-literal domains are refused rather than guessed at.

/** What comes in from outside (a form, a claim) becomes canonical: trimmed and lower case. */
export const normalizeEmail = (raw: string): string => raw.trim().toLowerCase();

const ATOM = "[a-z0-9!#$%&'*+/=?^_`{|}~-]+";
const LABEL = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";

/**
 * A canonical address: an RFC 5322 dot-atom local part and a DNS domain with at least one dot,
 * all lower case. Written for both RE2 (the apiserver's CEL `matches`) and JavaScript.
 */
export const EMAIL_PATTERN = `^${ATOM}(\\.${ATOM})*@${LABEL}(\\.${LABEL})+$`;
export const EMAIL_MAX_LENGTH = 254;
export const EMAIL_MESSAGE =
  "must be an email address in lower case, without spaces or a display name, such as ann@example.com";

/**
 * What input forms may look like before normalizing: a canonical address in any case with
 * surrounding spaces. For schemas of input (the API's OpenAPI document); parseEmail decides.
 */
export const EMAIL_INPUT_PATTERN = `^\\s*${EMAIL_PATTERN.slice(1, -1).replaceAll("a-z0-9", "a-zA-Z0-9")}\\s*$`;

/** Input is normalized first, so what is left to say is that it is not an address. */
export const EMAIL_INPUT_MESSAGE =
  "must be an email address such as ann@example.com, without a display name or spaces inside";

const EMAIL = new RegExp(EMAIL_PATTERN);

/** True for an address already in canonical form (what a Member's spec.email must hold). */
export const isCanonicalEmail = (email: string): boolean => email.length <= EMAIL_MAX_LENGTH && EMAIL.test(email);

export type ParsedEmail = { ok: true; email: string } | { ok: false; message: string };

/** Normalizes, then validates: "Bob@Example.com " is bob@example.com; "Bob <bob@x.io>" is refused. */
export function parseEmail(raw: string): ParsedEmail {
  const email = normalizeEmail(raw);
  return isCanonicalEmail(email) ? { ok: true, email } : { ok: false, message: EMAIL_INPUT_MESSAGE };
}

/** `self.matches(...)` needs the pattern as a CEL string literal. */
export const celString = (text: string) => `'${text.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
