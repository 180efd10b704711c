// The OIDC client against a scripted IdP on loopback: discovery, the authorization URL, the
// checks on the callback, the code exchange and how claims become an identity. (The whole loop
// against a real oidc-provider is in test/integration/oidc.test.ts.)
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createOidcClient, OidcError, type PendingLogin } from "./oidc.ts";

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const b64url = (value: string | Buffer) => Buffer.from(value).toString("base64url");
const idToken = (claims: Record<string, unknown>) => {
  const data = `${b64url(JSON.stringify({ alg: "RS256", typ: "JWT" }))}.${b64url(JSON.stringify(claims))}`;
  return `${data}.${b64url(sign("sha256", Buffer.from(data), privateKey))}`;
};

type Script = {
  token?: (form: URLSearchParams, req: IncomingMessage) => { status: number; body: unknown };
  userinfo?: () => { status: number; body: unknown };
};

/** A fake IdP; `script` decides what the token and userinfo endpoints answer. */
async function fakeIdp(script: Script = {}, port = 0) {
  const requests: Array<{ path: string; form: URLSearchParams; authorization: string | undefined }> = [];
  let issuer = "";
  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const form = new URLSearchParams(Buffer.concat(chunks).toString());
    const path = new URL(req.url ?? "/", issuer).pathname;
    requests.push({ path, form, authorization: req.headers.authorization });
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (path === "/.well-known/openid-configuration") {
      json(200, {
        issuer,
        authorization_endpoint: `${issuer}/auth`,
        token_endpoint: `${issuer}/token`,
        userinfo_endpoint: `${issuer}/me`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ["code"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["RS256"],
        code_challenge_methods_supported: ["S256"],
        token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
      });
    } else if (path === "/token" && script.token) {
      const { status, body } = script.token(form, req);
      json(status, body);
    } else if (path === "/me" && script.userinfo) {
      const { status, body } = script.userinfo();
      json(status, body);
    } else {
      json(404, { error: "not_found" });
    }
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  servers.push(server);
  return { issuer, requests, server };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const REDIRECT = "http://127.0.0.1:1/api/auth/callback";
const client = (issuer: string) =>
  createOidcClient({ issuer, clientId: "atrium", clientSecret: "s3cret", redirectUri: REDIRECT, allowInsecure: true });
const callback = (params: Record<string, string>) => new URL(`${REDIRECT}?${new URLSearchParams(params)}`);
const pending: PendingLogin = { state: "st-1", codeVerifier: "v".repeat(43), nonce: "n-1" };

/** A token endpoint that answers with an ID token for the pending login, plus `claims`. */
const tokens =
  (issuer: () => string, claims: Record<string, unknown>): Script["token"] =>
  () => ({
    status: 200,
    body: {
      access_token: "AT-secret-value",
      token_type: "Bearer",
      expires_in: 300,
      id_token: idToken({
        iss: issuer(),
        aud: "atrium",
        sub: "user-1",
        nonce: pending.nonce,
        iat: Math.floor(Date.now() / 1000),
        exp: Math.floor(Date.now() / 1000) + 300,
        ...claims,
      }),
    },
  });

async function rejection(promise: Promise<unknown>): Promise<OidcError> {
  const error = await promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OidcError);
  return error as OidcError;
}

describe("createOidcClient", () => {
  it("refuses an http issuer unless allowInsecure, and a scope without openid", async () => {
    const http = createOidcClient({ issuer: "http://idp.example", clientId: "a", redirectUri: REDIRECT });
    expect((await rejection(http)).code).toBe("invalid_config");
    const bad = createOidcClient({ issuer: "not a url", clientId: "a", redirectUri: REDIRECT });
    expect((await rejection(bad)).code).toBe("invalid_config");
    const scopes = createOidcClient({
      issuer: "https://idp.example",
      clientId: "a",
      redirectUri: REDIRECT,
      scopes: "email",
    });
    expect((await rejection(scopes)).code).toBe("invalid_config");
  });

  it("does not fail while the IdP is down, and discovers it on a later beginLogin", async () => {
    const idp = await fakeIdp();
    const { port } = new URL(idp.issuer);
    await new Promise((r) => idp.server.close(r));
    const oidc = await client(idp.issuer);

    const down = await rejection(oidc.beginLogin());
    expect(down.code).toBe("discovery_failed");
    expect(down.message).toContain(idp.issuer);

    await fakeIdp({}, Number(port));
    const { url, pending: p } = await oidc.beginLogin();
    const auth = new URL(url);
    expect(auth.origin + auth.pathname).toBe(`${idp.issuer}/auth`);
    expect(Object.fromEntries(auth.searchParams)).toEqual({
      client_id: "atrium",
      response_type: "code",
      redirect_uri: REDIRECT,
      scope: "openid email profile",
      state: p.state,
      nonce: p.nonce,
      code_challenge: createHash("sha256").update(p.codeVerifier).digest("base64url"),
      code_challenge_method: "S256",
    });
    const second = await oidc.beginLogin();
    expect(second.pending.state).not.toBe(p.state);
    expect(second.pending.nonce).not.toBe(p.nonce);
    expect(second.pending.codeVerifier).not.toBe(p.codeVerifier);
  });
});

describe("completeLogin", () => {
  it("refuses a callback whose state is missing or not the pending one", async () => {
    const oidc = await client("http://127.0.0.1:9"); // never reached: the state is checked first
    const callbacks: Record<string, string>[] = [
      { code: "c" },
      { code: "c", state: "other" },
      { error: "x", state: "x" },
    ];
    for (const params of callbacks) {
      expect((await rejection(oidc.completeLogin(callback(params), pending))).code).toBe("state_mismatch");
    }
    expect(
      (await rejection(oidc.completeLogin(callback({ code: "c", state: "" }), { ...pending, state: "" }))).code,
    ).toBe("state_mismatch");
  });

  it("carries the IdP's error and error_description", async () => {
    const oidc = await client("http://127.0.0.1:9");
    const params = { error: "access_denied", error_description: "the user cancelled", state: pending.state };
    const error = await rejection(oidc.completeLogin(callback(params), pending));
    expect(error).toMatchObject({
      code: "provider_error",
      error: "access_denied",
      errorDescription: "the user cancelled",
    });
    expect(error.message).toBe("the identity provider refused the login: access_denied (the user cancelled)");
    expect((await rejection(oidc.completeLogin(callback({ state: pending.state }), pending))).code).toBe(
      "invalid_callback",
    );
  });

  it("exchanges the code with the PKCE verifier and client_secret_basic, and maps the ID token claims", async () => {
    let issuer = "";
    const idp = await fakeIdp({
      token: tokens(() => issuer, {
        email: " Ada@ACME.example ",
        email_verified: "true",
        name: "Ada Admin",
        groups: ["atrium-platform", 7, "staff"],
      }),
    });
    issuer = idp.issuer;
    const oidc = await client(issuer);
    const identity = await oidc.completeLogin(callback({ code: "the-code", state: pending.state }), pending);
    expect(identity).toEqual({
      issuer,
      subject: "user-1",
      email: "ada@acme.example",
      emailVerified: true,
      name: "Ada Admin",
      groups: ["atrium-platform", "staff"],
    });
    const token = idp.requests.find((r) => r.path === "/token");
    expect(token?.form.get("code")).toBe("the-code");
    expect(token?.form.get("code_verifier")).toBe(pending.codeVerifier);
    expect(token?.form.get("redirect_uri")).toBe(REDIRECT);
    expect(token?.authorization).toBe(`Basic ${Buffer.from("atrium:s3cret").toString("base64")}`);
    expect(idp.requests.some((r) => r.path === "/me")).toBe(false);
  });

  it("takes what the ID token lacks from userinfo", async () => {
    let issuer = "";
    const idp = await fakeIdp({
      token: tokens(() => issuer, {}),
      userinfo: () => ({
        status: 200,
        body: { sub: "user-1", email: "Bob@Example.com", email_verified: false, given_name: "Bob", family_name: "B" },
      }),
    });
    issuer = idp.issuer;
    const identity = await (await client(issuer)).completeLogin(callback({ code: "c", state: pending.state }), pending);
    expect(identity).toMatchObject({ email: "bob@example.com", emailVerified: false, name: "Bob B" });
  });

  it("fails with missing_email when neither the ID token nor userinfo has one", async () => {
    let issuer = "";
    const idp = await fakeIdp({
      token: tokens(() => issuer, { name: "No Mail" }),
      userinfo: () => ({ status: 200, body: { sub: "user-1" } }),
    });
    issuer = idp.issuer;
    const error = await rejection(
      (await client(issuer)).completeLogin(callback({ code: "c", state: pending.state }), pending),
    );
    expect(error.code).toBe("missing_email");
  });

  it("refuses an ID token with another nonce", async () => {
    let issuer = "";
    const idp = await fakeIdp({ token: tokens(() => issuer, { email: "a@b.example", nonce: "replayed" }) });
    issuer = idp.issuer;
    const error = await rejection(
      (await client(issuer)).completeLogin(callback({ code: "c", state: pending.state }), pending),
    );
    expect(error.code).toBe("invalid_id_token");
    expect(error.message).toContain("nonce");
  });

  it("reports the token endpoint's error without leaking the code or tokens", async () => {
    const idp = await fakeIdp({
      token: () => ({ status: 400, body: { error: "invalid_grant", error_description: "code expired" } }),
    });
    const error = await rejection(
      (await client(idp.issuer)).completeLogin(callback({ code: "SECRET-CODE", state: pending.state }), pending),
    );
    expect(error).toMatchObject({ code: "provider_error", error: "invalid_grant", errorDescription: "code expired" });
    expect(error.message).not.toContain("SECRET-CODE");
    expect(error.message).not.toContain(pending.codeVerifier);
    expect(error.cause).toBeUndefined();
  });
});
