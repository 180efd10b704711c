// Login binding: the OIDC callback must return to the browser that started the login. Without
// it an attacker starts a login, signs in at the provider as themselves and hands the callback
// URL to a victim, whose browser then holds a session of the attacker's account (login CSRF,
// RFC 6749 §10.12, RFC 9700 §4.7.1): whatever the victim enters lands in the attacker's hands.
// /api/auth/login keeps the login's state in a short-lived host-only cookie; the callback
// accepts a state only from a browser whose cookie holds it.

export const LOGIN_COOKIE = "atrium_login";

/**
 * Logins one browser may have under way at once: tabs opened on several apps, each sent by the
 * gateway to log in, must all come back. The oldest is forgotten beyond this.
 */
export const MAX_LOGINS_UNDER_WAY = 4;

/** States are base64url (openid-client's randomState); anything else in the cookie is dropped. */
const STATE = /^[\w-]{1,200}$/;

const statesIn = (value: string | undefined) => (value ?? "").split(".").filter((s) => STATE.test(s));

/** The login cookie's value once `state` is under way: newest first, at most MAX_LOGINS_UNDER_WAY. */
export function withLogin(value: string | undefined, state: string): string {
  return [state, ...statesIn(value).filter((s) => s !== state)].slice(0, MAX_LOGINS_UNDER_WAY).join(".");
}

/**
 * Whether the browser's cookie holds `state`, and the cookie's value without it (empty: clear
 * the cookie). A state is good once: the callback takes it out.
 */
export function takeLogin(value: string | undefined, state: string): { bound: boolean; rest: string } {
  const states = statesIn(value);
  const rest = states.filter((s) => s !== state);
  return { bound: rest.length < states.length, rest: rest.join(".") };
}
