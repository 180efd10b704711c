// The API hardened against what an outsider tries (issue 16): a login callback handed to another
// browser, a flood of logins, /metrics on the public port, JSON that is too deep or not UTF-8;
// and its safe defaults: no start in production without the key peppers every replica shares,
// and readiness that fails before the port closes. The real API (in this process, and as its
// own process for start and shutdown) on the shared control plane, a real OIDC provider.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKey, hashKey, parsePeppers } from "../../api/src/auth/keyformat.ts";
import { KeyStore } from "../../api/src/auth/keystore.ts";
import { startApiProcess } from "../cluster/api-process.ts";
import { type ApiStack, startApi } from "../cluster/api-stack.ts";
import { loginWithOidc } from "../cluster/oidc-login.ts";
import { type OidcProviderHandle, startOidcProvider } from "../cluster/oidc-provider.ts";
import { freePorts } from "../cluster/ports.ts";
import { until } from "../cluster/until.ts";
import { cluster } from "./kube.ts";

const ATTACKER = "mallory@evil.example";
const VICTIM = "victor@acme.example";

let kubeconfig: string;
let idp: OidcProviderHandle;
let api: ApiStack;

beforeAll(async () => {
  kubeconfig = cluster().info.kubeconfig;
  const [port] = (await freePorts(1)) as [number];
  idp = await startOidcProvider({
    clients: [
      {
        clientId: "atrium",
        clientSecret: "atrium-test-secret",
        redirectUris: [`http://127.0.0.1:${port}/api/auth/callback`],
      },
    ],
    users: [
      { email: ATTACKER, name: "Mallory" },
      { email: VICTIM, name: "Victor" },
    ],
  });
  api = await startApi({ kubeconfig, port, oidcIssuer: idp.issuer, quiet: true, env: { ATRIUM_ENV: "production" } });
});
afterAll(async () => {
  await api?.stop();
  await idp?.stop();
});

const get = (url: string, cookie?: string) => fetch(url, { redirect: "manual", headers: cookie ? { cookie } : {} });
const whoIs = async (cookie: string, base = api.base) => {
  const res = await get(`${base}/api/me`, cookie);
  return res.ok ? ((await res.json()) as { email: string }).email : res.status;
};
const setCookie = (res: Response, name: string) => res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));

describe("login binding (real OIDC provider)", () => {
  it("logs in as before, and the login cookie is gone after the callback", async () => {
    const login = await loginWithOidc({ apiBase: api.base, email: VICTIM, returnTo: "/orgs" });
    expect([...login.cookies.keys()].sort()).toEqual(["atrium_csrf", "atrium_session"]);
    expect(await whoIs(login.cookieHeader)).toBe(VICTIM);
  });

  it("sets the login cookie for the login's state: host-only, HttpOnly, SameSite=Lax, 10 minutes", async () => {
    const res = await get(`${api.base}/api/auth/login`);
    expect(res.status).toBe(302);
    const state = new URL(res.headers.get("location") as string).searchParams.get("state");
    expect(setCookie(res, "atrium_login")).toBe(`atrium_login=${state}; Path=/; SameSite=Lax; HttpOnly; Max-Age=600`);
  });

  it("refuses a callback handed to another browser; the browser that started the login completes it", async () => {
    // The attacker starts a login, signs in as themselves, and keeps the callback URL.
    const attacker = await loginWithOidc({ apiBase: api.base, email: ATTACKER, stopAtCallback: true });
    const callback = attacker.finalLocation;
    expect(callback).toMatch(/\/api\/auth\/callback\?.*code=/);

    // A victim's browser with no login under way.
    const bare = await get(callback);
    expect(bare.status).toBe(400);
    expect(((await bare.json()) as { error: unknown }).error).toEqual({
      code: "login_not_bound",
      message: expect.stringContaining("not started in this browser"),
    });
    expect(setCookie(bare, "atrium_session")).toBeUndefined();

    // A victim logged in as themselves, with a login of their own under way.
    const victim = await loginWithOidc({ apiBase: api.base, email: VICTIM });
    const own = await get(`${api.base}/api/auth/login`, victim.cookieHeader);
    const victimCookies = `${victim.cookieHeader}; ${setCookie(own, "atrium_login")?.split(";")[0]}`;
    const crossed = await get(callback, victimCookies);
    expect(crossed.status).toBe(400);
    expect(setCookie(crossed, "atrium_session")).toBeUndefined();
    expect(await whoIs(victimCookies)).toBe(VICTIM);

    // The refusals did not use the login up: its own browser finishes it.
    const back = await get(callback, attacker.cookieHeader);
    expect(back.status).toBe(302);
    expect(setCookie(back, "atrium_login")).toMatch(/^atrium_login=; .*Max-Age=0/);
    const session = setCookie(back, "atrium_session")?.split(";")[0] as string;
    expect(await whoIs(session)).toBe(ATTACKER);
  });

  it("names the cookie __Host- and makes it Secure when the API is served over https", async () => {
    const https = await startApi({
      kubeconfig,
      oidcIssuer: idp.issuer,
      quiet: true,
      env: { ATRIUM_PUBLIC_URL: "https://atrium.example", ATRIUM_COOKIE_DOMAIN: "atrium.example" },
    });
    try {
      const res = await get(`${https.base}/api/auth/login`);
      const state = new URL(res.headers.get("location") as string).searchParams.get("state");
      // No Domain even where the session cookie is shared with the apps' subdomains.
      expect(setCookie(res, "__Host-atrium_login")).toBe(
        `__Host-atrium_login=${state}; Path=/; SameSite=Lax; HttpOnly; Secure; Max-Age=600`,
      );
    } finally {
      await https.stop();
    }
  });
});

/** GET from a given loopback address: another client, as far as the API can tell. */
const getFrom = (url: string, localAddress: string) =>
  new Promise<{ status: number; retryAfter: string | undefined; body: string }>((resolve, reject) => {
    const req = request(url, { localAddress }, (res) => {
      let body = "";
      res.on("data", (chunk) => {
        body += chunk;
      });
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, retryAfter: res.headers["retry-after"] as string | undefined, body }),
      );
    });
    req.on("error", reject);
    req.end();
  });

describe("login rate limit", () => {
  it("answers a client's logins beyond ATRIUM_RATE_LOGIN with 429 and Retry-After; other clients go on", async () => {
    const limited = await startApi({
      kubeconfig,
      oidcIssuer: idp.issuer,
      quiet: true,
      env: { ATRIUM_RATE_LOGIN: "3/1m" },
    });
    try {
      const login = `${limited.base}/api/auth/login`;
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await getFrom(login, "127.0.0.1")).status);
      expect(statuses).toEqual([302, 302, 302, 429]);
      const refused = await getFrom(login, "127.0.0.1");
      expect(refused.status).toBe(429);
      expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(JSON.parse(refused.body).error).toEqual({
        code: "rate_limited",
        message: "Too many logins from your address (at most 3 per 60 s): try again later",
      });
      expect((await getFrom(login, "127.0.0.2")).status).toBe(302);
    } finally {
      await limited.stop();
    }
  });
});

/** The public port has no metrics: /metrics there is the console's page (or 404 without one). */
async function expectNoMetrics(url: string) {
  const r = await get(url);
  expect(r.headers.get("content-type") ?? "").not.toContain("text/plain");
  expect(await r.text()).not.toContain("atrium_api_requests_total");
}

describe("metrics", () => {
  it("are served on the admin port only", async () => {
    await expectNoMetrics(`${api.base}/metrics`);
    const metrics = await get(`${api.admin}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain("atrium_api_requests_total");
    expect((await get(`${api.admin}/readyz`)).status).toBe(200);
  });
});

describe("JSON bodies", () => {
  it("refuses too deep a body and invalid UTF-8 with a 400 before the route acts", async () => {
    const login = await loginWithOidc({ apiBase: api.base, email: VICTIM });
    const csrf = login.cookies.get("atrium_csrf") as string;
    const logout = (body: string | Buffer) =>
      fetch(`${api.base}/api/auth/logout`, {
        method: "POST",
        headers: { cookie: login.cookieHeader, "x-csrf-token": csrf, "content-type": "application/json" },
        body,
      });
    const deep = await logout(`{"a":${"[".repeat(5000)}${"]".repeat(5000)}}`);
    expect(deep.status).toBe(400);
    expect(((await deep.json()) as { error: { message: string } }).error.message).toMatch(/deeper than 32 levels/);
    const mangled = await logout(Buffer.concat([Buffer.from('{"email":"u8'), Buffer.from([0xff]), Buffer.from('"}')]));
    expect(mangled.status).toBe(400);
    expect(((await mangled.json()) as { error: { message: string } }).error.message).toBe(
      "The body is not valid UTF-8",
    );
    // Neither reached the route: the session is still there.
    expect(await whoIs(login.cookieHeader)).toBe(VICTIM);
  });
});

/** The JSON log lines of a process (Node may write other lines, e.g. warnings). */
const logLines = (text: string) =>
  text
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { msg: string; level?: string; error?: string });

const MAIN = fileURLToPath(new URL("../../api/src/main.ts", import.meta.url));

describe("safe defaults", () => {
  it("refuses to start in production without ATRIUM_KEY_PEPPERS, naming it", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "atrium-api-"));
    const [port, adminPort] = (await freePorts(2)) as [number, number];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      KUBECONFIG: kubeconfig,
      ATRIUM_DATA_DIR: dataDir,
      ATRIUM_API_ADDR: `127.0.0.1:${port}`,
      ATRIUM_API_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
    };
    delete env.ATRIUM_ENV; // production is the default
    delete env.ATRIUM_KEY_PEPPERS;
    const child = spawn(process.execPath, [MAIN], { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const code = await new Promise((resolve) => child.once("exit", resolve));
    clearTimeout(timer);
    expect(code).toBe(1);
    const line = logLines(stderr).find((l) => l.msg === "API failed to start");
    expect(line).toMatchObject({ level: "error", msg: "API failed to start" });
    expect(line?.error).toMatch(/^ATRIUM_KEY_PEPPERS is required in production: .*ATRIUM_ENV=development/);
    expect(existsSync(join(dataDir, "key-pepper"))).toBe(false);
  });

  it("replicas given the same peppers take each other's sessions and keys (another pepper does not)", async () => {
    const replica = await startApi({
      kubeconfig,
      databaseUrl: api.config.databaseUrl,
      quiet: true,
      env: { ATRIUM_ENV: "production" },
    });
    try {
      const login = await loginWithOidc({ apiBase: api.base, email: VICTIM });
      expect(await whoIs(login.cookieHeader, replica.base)).toBe(VICTIM);

      // A key stored as the API stores it, with the pepper of the first replica.
      const key = generateKey("STANDARD");
      const { peppers } = api.config;
      await api.db.prisma.apiKey.create({
        data: {
          id: key.id,
          org: "hardening",
          name: "k",
          type: "STANDARD",
          prefix: key.display,
          hashVersion: peppers.current,
          hash: hashKey(peppers, peppers.current, key.secret),
          scopes: "[]",
          createdBy: VICTIM,
          memberName: "victor",
          createdAt: new Date(),
        },
      });
      expect(await replica.services.keys.verify(key.secret)).toMatchObject({ id: key.id, email: VICTIM });
      const elsewhere = new KeyStore(replica.db, parsePeppers("1:another-pepper-0123456789"));
      expect(await elsewhere.verify(key.secret)).toBe("unknown");
    } finally {
      await replica.stop();
    }
  });
});

describe("shutdown", () => {
  it("fails readiness first and keeps serving while it drains, then exits", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "atrium-api-"));
    const [port] = (await freePorts(1)) as [number];
    const proc = await startApiProcess({
      kubeconfig,
      port,
      // Development: the pepper is made in the data dir (no ATRIUM_KEY_PEPPERS given).
      env: { ATRIUM_ENV: "development", ATRIUM_DATA_DIR: dataDir, ATRIUM_API_DRAIN_SECONDS: "3" },
    });
    try {
      expect(existsSync(join(dataDir, "key-pepper"))).toBe(true);
      await expectNoMetrics(`${proc.url}/metrics`);
      const metrics = await get(`${proc.admin}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain("atrium_api_requests_total");

      const exited = proc.kill("SIGTERM");
      await until("readiness to fail", async () => (await get(`${proc.admin}/readyz`)).status === 503, 10_000, 20);
      expect((await get(`${proc.url}/healthz`)).status).toBe(200);
      expect(await exited).toBe(0);
      const messages = logLines(readFileSync(proc.logFile, "utf8")).map((l) => l.msg);
      const steps = [
        "Shutting down: readiness fails, requests are still served",
        "Closing the port; requests in flight finish",
        "Stopped",
      ];
      expect(messages.filter((m) => steps.includes(m))).toEqual(steps);
    } finally {
      await proc.kill("SIGKILL");
    }
  });
});
