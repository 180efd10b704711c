// OpenID Connect login for the API, around openid-client (no Express in here): the authorization
// code flow with PKCE (S256), state and nonce. The caller keeps the `pending` values of a login
// between `beginLogin` (redirect the browser to `url`) and `completeLogin` (the browser came back
// to the redirect URI), typically in a short-lived signed cookie or a server-side map keyed by
// state. Discovery is lazy: creating the client never fails because the IdP is down, and a failed
// discovery is retried by the next beginLogin/completeLogin.
import { normalizeEmail } from "@atrium/crds";
import * as client from "openid-client";

export type OidcClientOptions = {
  /** Issuer identifier, e.g. https://accounts.example.com (discovery at /.well-known/openid-configuration). */
  issuer: string;
  clientId: string;
  /** Confidential clients; without it the client authenticates as a public client (PKCE only). */
  clientSecret?: string;
  /** Must be registered at the IdP exactly like this. */
  redirectUri: string;
  /** Space-separated; default "openid email profile". */
  scopes?: string;
  /** Allows an http:// issuer (dev and tests only, e.g. the loopback test IdP). */
  allowInsecure?: boolean;
  /** Seconds per HTTP request to the IdP (discovery, token, userinfo); default 10. */
  timeoutSeconds?: number;
};

/** What the API keeps between beginLogin and completeLogin; never send it to the browser unprotected. */
export type PendingLogin = { state: string; codeVerifier: string; nonce: string };

export type OidcIdentity = {
  issuer: string;
  subject: string;
  /** Lowercased and trimmed. */
  email: string;
  emailVerified: boolean;
  name: string;
  /** The `groups` claim (ID token, else userinfo when it was read): strings only; [] without one. */
  groups: string[];
};

export type OidcClient = {
  beginLogin(): Promise<{ url: string; pending: PendingLogin }>;
  completeLogin(callbackUrl: URL, pending: PendingLogin): Promise<OidcIdentity>;
};

export type OidcErrorCode =
  /** The options are wrong (bad issuer URL, http issuer without allowInsecure). */
  | "invalid_config"
  /** The IdP's discovery document could not be fetched or is invalid; retried on the next call. */
  | "discovery_failed"
  /** The callback's state is missing or is not the one of this login (CSRF, or a stale tab). */
  | "state_mismatch"
  /** The IdP answered with an OAuth error (`error`, `errorDescription` carry it): access_denied, invalid_grant... */
  | "provider_error"
  /** The callback has neither a code nor an error. */
  | "invalid_callback"
  /** The ID token is missing or failed validation (signature, issuer, audience, nonce, expiry). */
  | "invalid_id_token"
  /** Another malformed or unexpected answer of the IdP (not JSON, wrong status, bad signature...). */
  | "invalid_response"
  /** The IdP could not be reached or timed out during the code exchange or userinfo. */
  | "provider_unreachable"
  /** Neither the ID token nor userinfo carried an email address. */
  | "missing_email";

/**
 * Every failure of this module. The message never contains tokens, codes or the callback URL;
 * `error`/`errorDescription` are the IdP's OAuth error fields when it sent some.
 */
export class OidcError extends Error {
  readonly code: OidcErrorCode;
  readonly error: string | undefined;
  readonly errorDescription: string | undefined;
  constructor(
    code: OidcErrorCode,
    message: string,
    options: { error?: string | undefined; errorDescription?: string | undefined; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "OidcError";
    this.code = code;
    this.error = options.error;
    this.errorDescription = options.errorDescription;
  }
}

const DEFAULT_SCOPES = "openid email profile";

export async function createOidcClient(opts: OidcClientOptions): Promise<OidcClient> {
  const issuer = parseUrl(opts.issuer, "issuer");
  const redirectUri = parseUrl(opts.redirectUri, "redirectUri");
  if (issuer.protocol !== "https:" && !(issuer.protocol === "http:" && opts.allowInsecure)) {
    throw new OidcError(
      "invalid_config",
      `issuer must be https (allowInsecure permits http for dev): ${issuer.origin}`,
    );
  }
  if (!opts.clientId) throw new OidcError("invalid_config", "clientId is empty");
  const scope = opts.scopes?.trim() || DEFAULT_SCOPES;
  if (!scope.split(/\s+/).includes("openid")) throw new OidcError("invalid_config", 'scopes must include "openid"');
  const timeout = opts.timeoutSeconds ?? 10;

  let config: client.Configuration | undefined;
  let discovering: Promise<client.Configuration> | undefined;

  async function discover(): Promise<client.Configuration> {
    let discovered: client.Configuration;
    try {
      discovered = await client.discovery(issuer, opts.clientId, undefined, undefined, {
        execute: opts.allowInsecure ? [client.allowInsecureRequests] : [],
        timeout,
      });
    } catch (error) {
      throw new OidcError("discovery_failed", `OIDC discovery at ${issuer.href} failed: ${describe(error)}`, {
        cause: error,
      });
    }
    // Rebuilt with the client authentication the IdP supports (client_secret_basic is the default
    // of the spec; some IdPs only take client_secret_post).
    const server = discovered.serverMetadata();
    const methods = server.token_endpoint_auth_methods_supported ?? ["client_secret_basic"];
    const secret = opts.clientSecret;
    const auth = !secret
      ? client.None()
      : methods.includes("client_secret_basic") || !methods.includes("client_secret_post")
        ? client.ClientSecretBasic(secret)
        : client.ClientSecretPost(secret);
    const metadata = { redirect_uris: [redirectUri.href], response_types: ["code"] };
    const result = new client.Configuration(server, opts.clientId, metadata, auth);
    if (opts.allowInsecure) client.allowInsecureRequests(result);
    result.timeout = timeout;
    return result;
  }

  function configuration(): Promise<client.Configuration> {
    if (config) return Promise.resolve(config);
    discovering ??= discover().then(
      (c) => {
        config = c;
        return c;
      },
      (error: unknown) => {
        discovering = undefined; // the next call tries again
        throw error;
      },
    );
    return discovering;
  }

  // Warm up in the background; a failure here is only remembered as "not discovered yet".
  configuration().catch(() => {});

  return {
    async beginLogin() {
      const c = await configuration();
      const codeVerifier = client.randomPKCECodeVerifier();
      const pending: PendingLogin = { state: client.randomState(), codeVerifier, nonce: client.randomNonce() };
      const url = client.buildAuthorizationUrl(c, {
        redirect_uri: redirectUri.href,
        scope,
        state: pending.state,
        nonce: pending.nonce,
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: "S256",
      });
      return { url: url.href, pending };
    },

    async completeLogin(callbackUrl, pending) {
      const params = callbackUrl.searchParams;
      const state = params.get("state");
      if (!state || !pending.state || state !== pending.state) {
        throw new OidcError("state_mismatch", "the login response does not belong to this login (state mismatch)");
      }
      const error = params.get("error");
      if (error) {
        const description = params.get("error_description") ?? undefined;
        throw new OidcError(
          "provider_error",
          `the identity provider refused the login: ${error}${suffix(description)}`,
          {
            error,
            errorDescription: description,
          },
        );
      }
      if (!params.get("code")) throw new OidcError("invalid_callback", "the login response carries no code");
      const c = await configuration();
      // The registered redirect URI with the callback's parameters: behind a proxy the URL the API
      // sees may differ in scheme or host, but the token request must repeat the registered one.
      const current = new URL(redirectUri.href);
      current.search = callbackUrl.search;

      let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
      try {
        tokens = await client.authorizationCodeGrant(c, current, {
          pkceCodeVerifier: pending.codeVerifier,
          expectedState: pending.state,
          expectedNonce: pending.nonce,
          idTokenExpected: true,
        });
      } catch (e) {
        throw translate(e, "the code exchange failed");
      }
      const claims = tokens.claims();
      if (!claims) throw new OidcError("invalid_id_token", "the token response carries no ID token");

      let email = stringClaim(claims.email);
      let emailVerified = email ? booleanClaim(claims.email_verified) : undefined;
      let name = stringClaim(claims.name);
      let info: client.UserInfoResponse | undefined;
      if (!email || emailVerified === undefined || !name) {
        // Some IdPs (and OIDC by default: conformant ID tokens) put profile claims only in userinfo.
        try {
          info = await client.fetchUserInfo(c, tokens.access_token, claims.sub);
        } catch (e) {
          if (!email) throw translate(e, "the userinfo request failed");
        }
        if (info) {
          const infoEmail = stringClaim(info.email);
          if (!email && infoEmail) {
            email = infoEmail;
            emailVerified = booleanClaim(info.email_verified);
          } else if (email && infoEmail && normalizeEmail(infoEmail) === normalizeEmail(email)) {
            emailVerified ??= booleanClaim(info.email_verified);
          }
          name ||= stringClaim(info.name) ?? joinNames(info.given_name, info.family_name);
        }
      }
      if (!email) throw new OidcError("missing_email", "the identity provider sent no email address (scope email?)");
      name ||= joinNames(claims.given_name, claims.family_name) ?? stringClaim(claims.preferred_username);
      const normalized = normalizeEmail(email);
      return {
        issuer: claims.iss,
        subject: claims.sub,
        email: normalized,
        emailVerified: emailVerified ?? false,
        name: name || normalized.split("@")[0] || normalized,
        groups: groupsClaim(claims.groups ?? info?.groups),
      };
    },
  };
}

function parseUrl(value: string, what: string): URL {
  try {
    return new URL(value);
  } catch {
    throw new OidcError("invalid_config", `${what} is not a URL: ${JSON.stringify(value)}`);
  }
}

function stringClaim(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() ? value.trim() : undefined;
}

/** Some IdPs (Cognito, older ADFS) send "true"/"false" strings. */
function booleanClaim(value: unknown): boolean | undefined {
  if (typeof value === "boolean") return value;
  if (value === "true") return true;
  if (value === "false") return false;
  return undefined;
}

/** A groups claim: an array of strings (anything else in it is ignored), or nothing. */
export const groupsClaim = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((g): g is string => typeof g === "string") : [];

function joinNames(given: unknown, family: unknown): string | undefined {
  const parts = [stringClaim(given), stringClaim(family)].filter((p) => p !== undefined);
  return parts.length ? parts.join(" ") : undefined;
}

function suffix(description: string | undefined): string {
  return description ? ` (${description})` : "";
}

/** A short reason from an error chain, messages only: the causes' other fields may hold codes or claims. */
function describe(error: unknown): string {
  const messages: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    const text =
      typeof code === "string" && !current.message.includes(code) ? `${current.message} [${code}]` : current.message;
    if (!messages.includes(text)) messages.push(text);
    current = current.cause;
  }
  return messages.join(": ") || String(error);
}

/** Maps openid-client's errors to OidcError without carrying over their causes (responses, claims). */
function translate(error: unknown, what: string): OidcError {
  if (error instanceof OidcError) return error;
  if (error instanceof client.ResponseBodyError || error instanceof client.AuthorizationResponseError) {
    return new OidcError(
      "provider_error",
      `${what}: the identity provider answered ${error.error}${suffix(error.error_description)}`,
      {
        error: error.error,
        errorDescription: error.error_description,
      },
    );
  }
  if (error instanceof client.WWWAuthenticateChallengeError) {
    const challenge = error.cause[0];
    const code = challenge?.parameters.error;
    const description = challenge?.parameters.error_description;
    return new OidcError(
      "provider_error",
      `${what}: the identity provider answered ${code ?? error.status}${suffix(description)}`,
      {
        error: code,
        errorDescription: description,
      },
    );
  }
  const code = (error as { code?: unknown })?.code;
  // fetch() rejects with a bare TypeError("fetch failed") when the IdP cannot be reached.
  if (code === "OAUTH_TIMEOUT" || code === "OAUTH_ABORT" || (error instanceof TypeError && code === undefined)) {
    return new OidcError("provider_unreachable", `${what}: ${describe(error)}`);
  }
  if (
    code === "OAUTH_JWT_CLAIM_COMPARISON_FAILED" ||
    code === "OAUTH_JWT_TIMESTAMP_CHECK_FAILED" ||
    code === "OAUTH_KEY_SELECTION_FAILED"
  ) {
    return new OidcError("invalid_id_token", `${what}: ${describe(error)}`);
  }
  return new OidcError("invalid_response", `${what}: ${describe(error)}`);
}
