// A real OpenID Connect provider (oidc-provider) on loopback, for tests and `make dev`.
//
//   const idp = await startOidcProvider({ clients: [...], users: [{ email, name }] });
//   idp.issuer  // http://127.0.0.1:<port>, discovery at /.well-known/openid-configuration
//
// What it does: authorization code flow only, PKCE (S256) required for every client, clients
// authenticate with client_secret_basic. The ID token itself carries `email`, `email_verified`
// (scope email) and `name` (scope profile); userinfo has them too (`minimalIdToken: true` keeps
// them out of the ID token, like IdPs that only put them in userinfo). A user's subject is stable:
// "u-" + the first 20 hex digits of sha256(lowercased email), the same across restarts.
//
// Login: instead of oidc-provider's devInteractions there is one small page of our own.
//   GET  /interaction/<uid>         an HTML form (email, password) posting to .../login
//   POST /interaction/<uid>/login   checks the user (the password only when the user has one),
//                                   then finishes login AND consent at once: it grants every
//                                   requested scope, so there is never a consent page
//   POST /interaction/<uid>/abort   finishes with error=access_denied (the "Cancel" button)
// A failed login re-renders the form with status 401 and <p class="error">. The login page comes
// every time, even with an IdP session (so a browser can switch between users); should a consent
// prompt come alone, GET /interaction/<uid> grants it and redirects.
// test/cluster/oidc-login.ts drives this page without a browser.
//
// Everything lives in memory (sessions, codes, grants) and the signing and cookie keys are made at
// each start: a restarted IdP has forgotten its sessions, which only means logging in again.
//
// CLI (`node test/cluster/oidc-provider.ts`): a dev IdP with the demo users (password "demo") on
// ATRIUM_OIDC_PORT (default 5556), client atrium / atrium-dev-secret, redirect URI
// ATRIUM_OIDC_REDIRECT (default http://127.0.0.1:8080/api/auth/callback).
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
// @ts-expect-error oidc-provider ships no type declarations and @types/oidc-provider is not installed.
import Provider, { interactionPolicy } from "oidc-provider";

export type OidcTestClient = { clientId: string; clientSecret: string; redirectUris: string[] };
export type OidcTestUser = {
  email: string;
  name: string;
  emailVerified?: boolean;
  password?: string;
  groups?: string[];
};
export type OidcProviderHandle = {
  issuer: string;
  /** Adds a user, or replaces the one with the same email (same subject). */
  addUser(user: OidcTestUser): void;
  /** The stable subject the IdP gives this email. */
  subjectFor(email: string): string;
  stop(): Promise<void>;
};

export const DEMO_USERS: OidcTestUser[] = [
  { email: "admin@acme.example", name: "Ada Admin", password: "demo" },
  { email: "co@acme.example", name: "Cole Co-Admin", password: "demo" },
  { email: "manager@acme.example", name: "Mia Manager", password: "demo" },
  { email: "member@acme.example", name: "Max Member", password: "demo" },
  { email: "viewer@acme.example", name: "Vic Viewer", password: "demo" },
];

type Account = {
  sub: string;
  email: string;
  name: string;
  emailVerified: boolean;
  password: string | undefined;
  groups: string[] | undefined;
};

// The little of oidc-provider's API used here (it ships no types).
type Prompt = { name: string; details: Record<string, unknown> };
type Interaction = {
  uid: string;
  prompt: Prompt;
  params: Record<string, unknown>;
  session?: { accountId?: string };
  grantId?: string;
};
type Grant = {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  addResourceScope(resource: string, scope: string): void;
  save(): Promise<string>;
};
type ProviderInstance = {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<Interaction>;
  interactionFinished(
    req: IncomingMessage,
    res: ServerResponse,
    result: Record<string, unknown>,
    options?: { mergeWithLastSubmission?: boolean },
  ): Promise<void>;
  Grant: { new (init: { accountId: string; clientId: string }): Grant; find(id: string): Promise<Grant | undefined> };
  Client: { find(id: string): Promise<unknown> };
  on(event: string, listener: (...args: any[]) => void): void;
};
const ProviderClass = Provider as new (issuer: string, configuration: Record<string, unknown>) => ProviderInstance;
type CheckContext = { oidc: { result?: { login?: unknown } } };
const policy = interactionPolicy as {
  base(): unknown[] & { get(name: string): { checks: unknown[] } };
  Check: new (reason: string, description: string, error: string, check: (ctx: CheckContext) => boolean) => unknown;
};

/**
 * The default policy, plus: every authorization request shows the login page, even when the IdP
 * already has a session (a browser can switch demo users without logging out of the IdP).
 */
function alwaysLoginPolicy() {
  const prompts = policy.base();
  prompts
    .get("login")
    .checks.push(
      new policy.Check(
        "always_login",
        "the test IdP asks every time",
        "login_required",
        (ctx) => !ctx.oidc.result?.login,
      ),
    );
  return prompts;
}

export const subjectFor = (email: string) =>
  `u-${createHash("sha256").update(email.trim().toLowerCase()).digest("hex").slice(0, 20)}`;

export async function startOidcProvider(opts: {
  port?: number;
  host?: string;
  clients: OidcTestClient[];
  users: OidcTestUser[];
  /**
   * true: the ID token carries only sub (and the standard JWT claims), email and name come from
   * userinfo, as with IdPs that issue minimal ID tokens. Default false.
   */
  minimalIdToken?: boolean;
  /** Called with oidc-provider's server_error events (default: printed to stderr). */
  onError?: (error: Error) => void;
}): Promise<OidcProviderHandle> {
  const host = opts.host ?? "127.0.0.1";
  const accounts = new Map<string, Account>(); // by subject
  const addUser = (user: OidcTestUser) => {
    const email = user.email.trim().toLowerCase();
    const sub = subjectFor(email);
    accounts.set(sub, {
      sub,
      email,
      name: user.name,
      emailVerified: user.emailVerified ?? true,
      password: user.password,
      groups: user.groups,
    });
  };
  for (const user of opts.users) addUser(user);

  // The port is only known once listening, and the issuer (which names it) is needed to build the
  // provider: listen first, hand requests to the provider once it exists.
  let handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server = createServer((req, res) => handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;

  let provider: ProviderInstance;
  try {
    provider = createProvider(issuer, opts, accounts);
    // oidc-provider checks a static client's metadata on first use; fail here instead.
    for (const c of opts.clients) await provider.Client.find(c.clientId);
  } catch (error) {
    server.close();
    const description = (error as { error_description?: string }).error_description;
    throw description ? new Error(`oidc-provider: ${(error as Error).message}: ${description}`) : error;
  }
  const onError = opts.onError ?? ((error: Error) => console.error(`[oidc-provider] ${error.stack ?? error}`));
  provider.on("server_error", (_ctx: unknown, error: Error) => onError(error));

  const providerCallback = provider.callback();
  handle = (req, res) => {
    const path = new URL(req.url ?? "/", issuer).pathname;
    if (!path.startsWith("/interaction/")) {
      providerCallback(req, res);
      return;
    }
    interaction(provider, accounts, req, res, path).catch((error: unknown) => {
      // An unknown or expired interaction (SessionNotFound) is the user's problem, not a crash.
      const status = (error as { statusCode?: number }).statusCode ?? 500;
      if (status >= 500) onError(error as Error);
      if (!res.headersSent) {
        res.statusCode = status;
        res.setHeader("content-type", "text/plain; charset=utf-8");
      }
      const { message, error_description } = error as { message?: string; error_description?: string };
      res.end(status >= 500 ? "internal error" : `${message}${error_description ? `: ${error_description}` : ""}`);
    });
  };

  return {
    issuer,
    addUser,
    subjectFor,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function createProvider(
  issuer: string,
  opts: { clients: OidcTestClient[]; minimalIdToken?: boolean },
  accounts: Map<string, Account>,
): ProviderInstance {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const signingKey = { ...privateKey.export({ format: "jwk" }), kid: "atrium-test", use: "sig", alg: "RS256" };
  return new ProviderClass(issuer, {
    adapter: memoryAdapter(),
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString("hex")] },
    clients: opts.clients.map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      redirect_uris: c.redirectUris,
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    })),
    // groups with profile, as IdPs that add a group mapper to the default scopes send it.
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name", "groups"] },
    // false: scope-requested claims go into the ID token too, not only into userinfo.
    conformIdTokenClaims: opts.minimalIdToken ?? false,
    responseTypes: ["code"],
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    interactions: {
      policy: alwaysLoginPolicy(),
      url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}`,
    },
    async findAccount(_ctx: unknown, sub: string) {
      const account = accounts.get(sub);
      if (!account) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            email: account.email,
            email_verified: account.emailVerified,
            name: account.name,
            ...(account.groups ? { groups: account.groups } : {}),
          };
        },
      };
    },
    // A plain error page (the default one prints a notice on every use): error and description.
    async renderError(ctx: { type: string; body: string }, out: Record<string, string>) {
      ctx.type = "html";
      const text = `${out.error}${out.error_description ? `: ${out.error_description}` : ""}`;
      ctx.body = `<!doctype html><title>Error</title><p class="error">${escapeHtml(text)}</p>\n`;
    },
    // Numbers instead of the default functions (which print a notice on every use).
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
  });
}

async function interaction(
  provider: ProviderInstance,
  accounts: Map<string, Account>,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<void> {
  const [, , uid, action] = path.split("/");
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw Object.assign(new Error("interaction mismatch"), { statusCode: 400 });
  res.setHeader("cache-control", "no-store");

  if (req.method === "GET" && action === undefined) {
    if (details.prompt.name === "login") {
      sendPage(res, 200, loginPage(uid, details, stringParam(details.params.login_hint) ?? ""));
      return;
    }
    if (details.prompt.name === "consent" && details.session?.accountId) {
      const grantId = await grantAll(provider, details, details.session.accountId);
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return;
    }
    throw Object.assign(new Error(`unsupported prompt ${details.prompt.name}`), { statusCode: 501 });
  }
  if (req.method === "POST" && action === "login") {
    const form = new URLSearchParams(await readBody(req));
    const email = (form.get("email") ?? "").trim().toLowerCase();
    const account = accounts.get(subjectFor(email));
    if (!account || (account.password !== undefined && form.get("password") !== account.password)) {
      sendPage(res, 401, loginPage(uid, details, email, "Unknown user or wrong password."));
      return;
    }
    const grantId = await grantAll(provider, details, account.sub);
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: account.sub }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  if (req.method === "POST" && action === "abort") {
    await readBody(req);
    await provider.interactionFinished(
      req,
      res,
      { error: "access_denied", error_description: "the user cancelled the login" },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  throw Object.assign(new Error("not found"), { statusCode: 404 });
}

/** Auto-consent: a grant holding every requested scope and claim (the existing one when the account matches). */
async function grantAll(provider: ProviderInstance, details: Interaction, accountId: string): Promise<string> {
  const clientId = String(details.params.client_id);
  const existing =
    details.grantId && details.session?.accountId === accountId
      ? await provider.Grant.find(details.grantId)
      : undefined;
  const grant = existing ?? new provider.Grant({ accountId, clientId });
  const scope = stringParam(details.params.scope);
  if (scope) grant.addOIDCScope(scope);
  const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = details.prompt.details as {
    missingOIDCScope?: string[];
    missingOIDCClaims?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(" "));
  if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
  for (const [resource, scopes] of Object.entries(missingResourceScopes ?? {})) {
    grant.addResourceScope(resource, scopes.join(" "));
  }
  return grant.save();
}

function loginPage(uid: string, details: Interaction, email: string, error?: string): string {
  const client = escapeHtml(String(details.params.client_id));
  const base = `/interaction/${encodeURIComponent(uid)}`;
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in - Atrium test IdP</title></head>
<body>
<h1>Sign in</h1>
<p>to continue to <strong>${client}</strong></p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ""}
<form method="post" action="${base}/login">
<label>Email <input type="email" name="email" value="${escapeHtml(email)}" required autofocus></label>
<label>Password <input type="password" name="password"></label>
<button type="submit">Sign in</button>
</form>
<form method="post" action="${base}/abort"><button type="submit">Cancel</button></form>
</body>
</html>
`;
}

function sendPage(res: ServerResponse, status: number, html: string) {
  res.statusCode = status;
  res.setHeader("content-type", "text/html; charset=utf-8");
  res.end(html);
}

function stringParam(value: unknown): string | undefined {
  return typeof value === "string" && value ? value : undefined;
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readBody(req: IncomingMessage, limit = 16 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw Object.assign(new Error("request body too large"), { statusCode: 413 });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * oidc-provider's storage, in memory and per provider (its own quick-start adapter is shared by
 * every provider in the process and warns on start). Entries expire with their artifact.
 */
function memoryAdapter() {
  type Entry = { payload: Record<string, unknown>; expiresAt: number };
  const store = new Map<string, Entry>();
  const live = (key: string): Record<string, unknown> | undefined => {
    const entry = store.get(key);
    if (entry && entry.expiresAt <= Date.now()) store.delete(key);
    return entry && entry.expiresAt > Date.now() ? entry.payload : undefined;
  };
  const put = (key: string, payload: Record<string, unknown>, expiresIn: number | undefined) =>
    store.set(key, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Number.POSITIVE_INFINITY });
  const grants = new Map<string, Set<string>>();
  // What revoking a grant removes (not the Session or an Interaction that merely names the grant).
  const GRANTABLE = new Set([
    "AccessToken",
    "AuthorizationCode",
    "RefreshToken",
    "DeviceCode",
    "BackchannelAuthenticationRequest",
  ]);

  return class MemoryAdapter {
    name: string;
    constructor(name: string) {
      this.name = name;
    }
    key(id: string) {
      return `${this.name}:${id}`;
    }
    async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number) {
      const key = this.key(id);
      put(key, payload, expiresIn);
      if (typeof payload.grantId === "string" && GRANTABLE.has(this.name)) {
        const members = grants.get(payload.grantId) ?? new Set<string>();
        members.add(key);
        grants.set(payload.grantId, members);
      }
      if (typeof payload.uid === "string") put(`uid:${this.name}:${payload.uid}`, { id }, expiresIn);
      if (typeof payload.userCode === "string") put(`userCode:${this.name}:${payload.userCode}`, { id }, expiresIn);
    }
    async find(id: string) {
      return live(this.key(id));
    }
    async findByUid(uid: string) {
      const ref = live(`uid:${this.name}:${uid}`);
      return typeof ref?.id === "string" ? this.find(ref.id) : undefined;
    }
    async findByUserCode(userCode: string) {
      const ref = live(`userCode:${this.name}:${userCode}`);
      return typeof ref?.id === "string" ? this.find(ref.id) : undefined;
    }
    async consume(id: string) {
      const payload = live(this.key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      store.delete(this.key(id));
    }
    async revokeByGrantId(grantId: string) {
      for (const key of grants.get(grantId) ?? []) store.delete(key);
      grants.delete(grantId);
    }
  };
}

if (import.meta.main) {
  const port = Number(process.env.ATRIUM_OIDC_PORT ?? 5556);
  const redirect = process.env.ATRIUM_OIDC_REDIRECT ?? "http://127.0.0.1:8080/api/auth/callback";
  const idp = await startOidcProvider({
    port,
    clients: [{ clientId: "atrium", clientSecret: "atrium-dev-secret", redirectUris: [redirect] }],
    users: DEMO_USERS,
  });
  console.error(`[oidc] issuer ${idp.issuer} (client atrium, redirect ${redirect})`);
  console.error(`[oidc] users: ${DEMO_USERS.map((u) => u.email).join(", ")} (password "demo")`);
  const shutdown = () => {
    idp.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}
