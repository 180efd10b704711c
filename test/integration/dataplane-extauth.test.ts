// Access control in Gateway API mode (issue 17 item 4, ADR 0023) on a real data plane: the real
// operator writes a SecurityPolicy for each non-Public app, Envoy Gateway (built from its Go
// module) programs Envoy's ext_authz with it, and Envoy asks the real API (assembled as main.ts
// does, logins through the real OIDC provider) about every request. Envoy reaches the API as it
// would reach its Service's pods: a selector-less Service in Atrium's namespace whose
// EndpointSlice names an address of the machine (198.18.0.0/16 is local here) where a
// forwarder hands the connection to the API's loopback port. Atrium's gateway runs only as the
// activator: warm traffic never meets it, so only the data plane can refuse. The stop is
// confirmed through the data plane (no ATRIUM_STOP_UNCONFIRMED): the operator's probe passes the
// access check with the probe token it shares with the API (ADR 0024), and nobody else's does.
import { KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startActivatorMode } from "../cluster/activator-mode.ts";
import {
  type ApiForDataplane,
  exposeApiToDataplane,
  loginMember,
  type Session,
  startApiWithOidc,
} from "../cluster/api-for-dataplane.ts";
import { type ApiStack, call } from "../cluster/api-stack.ts";
import { type ControlPlane, startControlPlane } from "../cluster/controlplane.ts";
import { type Dataplane, startDataplane } from "../cluster/dataplane.ts";
import { requestVia } from "../cluster/dataplane-request.ts";
import { echoTemplate, type FakeApp, serveAppPods } from "../cluster/fake-pods.ts";
import type { GatewayProcess } from "../cluster/gateway-process.ts";
import { installCrds } from "../cluster/install.ts";
import { loginWithOidc } from "../cluster/oidc-login.ts";
import type { OidcProviderHandle } from "../cluster/oidc-provider.ts";
import type { OperatorProcess } from "../cluster/operator-process.ts";
import { freePorts } from "../cluster/ports.ts";
import { type Obj, until } from "./kube.ts";

const A = "atrium.dev/v1alpha1";
const ORG = "xa";
const OUTSIDE = "xb";
const NS = `org-${ORG}`;
const DOMAIN = "atrium.test";
/**
 * Where Envoy finds the API (a forwarder to its loopback port) and the activator (Atrium's
 * gateway). High addresses of 198.18.0.0/16, nobody's pod; dataplane-mode.test.ts and
 * gateway-api-mode.test.ts use .252 and .253.
 */
const API_IP = "198.18.255.250";
const ACTIVATOR_IP = "198.18.255.249";
/** The stop probe's secret, shared by the operator and the API (ATRIUM_PROBE_TOKEN). */
const PROBE_TOKEN = "probe-token-of-the-extauth-test-0123456789";
const GRACE_MS = 2000;

let cp: ControlPlane;
let kc: KubeConfig;
let objects: KubernetesObjectApi;
let dataplane: Dataplane;
let oidc: OidcProviderHandle;
let api: ApiStack;
let apiForwarder: ApiForDataplane;
let operator: OperatorProcess;
let activator: GatewayProcess;
const fakes: Record<string, FakeApp> = {};
const people = {} as Record<"member" | "viewer" | "outsider", Session>;

type Seen = {
  app: string;
  cookie: string | null;
  authorization: string | null;
  user: string | null;
  probeToken: string | null;
};
type Answer = { status: number; body: string; seen?: Seen; mark?: string };

/** A request to Envoy's listener for `<app>.<org>.<domain>`; the echo apps answer with what they received. */
async function viaEnvoy(
  app: string,
  headers: Record<string, string> = {},
  method = "GET",
  path = headers["x-atrium-probe"] ? "/" : "/page",
): Promise<Answer> {
  const res = await requestVia(dataplane, { host: `${app}.${ORG}.${DOMAIN}`, path, method, headers });
  let seen: Seen | undefined;
  try {
    seen = res.status === 200 ? (JSON.parse(res.body) as Seen) : undefined;
  } catch {
    // not the app's answer
  }
  const mark = res.headers["x-atrium-activator"] as string | undefined;
  return { status: res.status, body: res.body, ...(seen ? { seen } : {}), ...(mark ? { mark } : {}) };
}

const read = async (kind: string, apiVersion: string, name: string, namespace = NS) =>
  (await objects.read({ apiVersion, kind, metadata: { name, namespace } }).catch(() => undefined)) as any;
const policyOf = (app: string) => read("SecurityPolicy", "gateway.envoyproxy.io/v1alpha1", `${app}-access`);
/** A Public app's credential filter (operator/src/routing/credential-filter.ts). */
const filterOf = (app: string) => read("EnvoyExtensionPolicy", "gateway.envoyproxy.io/v1alpha1", `${app}-credentials`);
/** Whether Envoy Gateway accepted the app's credential filter (so Envoy has it, or is about to). */
const filterAccepted = async (app: string) =>
  (await filterOf(app))?.status?.ancestors?.some((a: any) =>
    a.conditions?.some((c: any) => c.type === "Accepted" && c.status === "True"),
  ) === true;

/** The echo app: which app, and the credentials and identity it was handed. */
const echoHeaders = (app: string) => (_ip: string, _path: string, h: import("node:http").IncomingHttpHeaders) =>
  JSON.stringify({
    app,
    cookie: h.cookie ?? null,
    authorization: h.authorization ?? null,
    user: (h["x-atrium-user"] as string | undefined) ?? null,
    probeToken: (h["x-atrium-probe-token"] as string | undefined) ?? null,
  });

async function installApp(name: string, policy: "Public" | "Members", idleTimeout?: string) {
  const idle = idleTimeout ? { policy: "Auto", timeout: idleTimeout } : { policy: "AlwaysOn" };
  await objects.create({
    apiVersion: A,
    kind: "AppInstance",
    metadata: { name, namespace: NS },
    spec: { template: "echo", access: { policy }, idle },
  } as Obj);
  fakes[name] = serveAppPods(kc, { namespace: NS, app: name, port: 8080, body: echoHeaders(name) });
}

async function setPolicy(name: string, policy: "Public" | "Members") {
  await objects.patch(
    { apiVersion: A, kind: "AppInstance", metadata: { name, namespace: NS }, spec: { access: { policy } } } as Obj,
    undefined,
    undefined,
    undefined,
    undefined,
    "application/merge-patch+json" as never,
  );
}

async function createOrg(name: string) {
  await objects.create({ apiVersion: A, kind: "Organization", metadata: { name }, spec: { displayName: name } } as Obj);
  await until(`built-in roles of ${name}`, async () => (api.directory.rolesOf(name).length > 0 ? true : undefined));
}

function login(org: string, role: string) {
  const email = `${role}@${org}.example`;
  return loginMember(
    objects,
    { api, oidc },
    { namespace: `org-${org}`, name: `${role}-${org}`, email, role, displayName: role, personName: `Test ${email}` },
  );
}

/** Only the session cookie of a login (a browser also sends the CSRF cookie; the app must see neither). */
const sessionOf = (cookie: string) => cookie.split("; ").find((c) => c.startsWith("atrium_session=")) as string;

beforeAll(async () => {
  cp = await startControlPlane();
  installCrds(cp);
  kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  objects = KubernetesObjectApi.makeApiClient(kc);
  // Installs the Gateway API's and Envoy Gateway's CRDs (SecurityPolicy, ReferenceGrant) too.
  dataplane = await startDataplane({ kubeconfig: cp.kubeconfig, binDir: cp.binDir, dir: cp.dir });
  const [apiPort] = (await freePorts(1)) as [number];
  ({ api, oidc } = await startApiWithOidc({
    kubeconfig: cp.kubeconfig,
    port: apiPort,
    quiet: true,
    // ATRIUM_BASE_DOMAIN: the login may return to the app URLs (a browser sent to log in by the check).
    env: { ATRIUM_PROBE_TOKEN: PROBE_TOKEN, ATRIUM_BASE_DOMAIN: DOMAIN },
  }));
  // The API's Service in Atrium's namespace, whose slice Envoy follows to the API.
  apiForwarder = await exposeApiToDataplane({ kubeconfig: cp.kubeconfig, apiPort, address: API_IP });
  await objects.create(echoTemplate() as Obj);
  ({ operator, gateway: activator } = await startActivatorMode({
    kubeconfig: cp.kubeconfig,
    id: "xauth",
    baseDomain: DOMAIN,
    dataplane,
    activatorIp: ACTIVATOR_IP,
    graceMs: GRACE_MS,
    // The stop's checks go through the data plane (activator-mode.ts): the probe must pass the access check.
    operatorEnv: { ATRIUM_PROBE_TOKEN: PROBE_TOKEN, ATRIUM_EXT_AUTH_SERVICE: apiForwarder.extAuthService },
  }));
  await createOrg(ORG);
  await createOrg(OUTSIDE);
  people.member = await login(ORG, "member");
  people.viewer = await login(ORG, "viewer");
  people.outsider = await login(OUTSIDE, "admin");
  await installApp("vault", "Members");
  await installApp("lobby", "Public");
  // Programmed once a member gets through (Envoy answers 404 until the route is, 401 from the
  // API once the policy is, and 500/503 while the app's endpoints are on their way).
  await until(
    "vault served to a member through Envoy",
    async () => ((await viaEnvoy("vault", { cookie: people.member.cookie })).status === 200 ? true : undefined),
    120_000,
    200,
  );
  await until(
    "lobby served through Envoy",
    async () => ((await viaEnvoy("lobby")).status === 200 ? true : undefined),
    120_000,
    200,
  );
}, 900_000);

afterAll(async () => {
  for (const f of Object.values(fakes)) await f.stop();
  await activator?.kill();
  await operator?.kill();
  apiForwarder?.close();
  await api?.stop();
  await oidc?.stop();
  await dataplane?.stop();
  await cp?.stop();
});

describe("access control in the data plane (Envoy ext_authz → the API's forward-auth)", () => {
  it("refuses a Members app to nobody (401), an outsider (404) and a member without apps:access (403); the app sees none of them", async () => {
    const before = fakes.vault?.requests;
    const anonymous = await viaEnvoy("vault");
    expect(anonymous.status).toBe(401);
    // The API's own refusal reaches the client through Envoy.
    expect(JSON.parse(anonymous.body)).toMatchObject({ error: { message: "Log in to open this app" } });
    expect((await viaEnvoy("vault", { cookie: people.outsider.cookie })).status).toBe(404);
    expect((await viaEnvoy("vault", { cookie: people.viewer.cookie })).status).toBe(403);
    // A forged identity header is no credential.
    expect((await viaEnvoy("vault", { "x-atrium-user": people.member.email })).status).toBe(401);
    // An app's own Authorization is not Atrium's business: still a login is needed.
    expect((await viaEnvoy("vault", { authorization: "Basic dXNlcjpwdw==" })).status).toBe(401);
    expect(fakes.vault?.requests).toBe(before);
  });

  it("serves a member with the session, and the app gets the member's name and its own cookies, never Atrium's", async () => {
    const res = await viaEnvoy("vault", { cookie: `theme=dark; ${people.member.cookie}; lang=fr` });
    expect(res.status).toBe(200);
    expect(res.seen).toMatchObject({ app: "vault", cookie: "theme=dark; lang=fr", user: people.member.email });
    // Only Atrium's session cookie: the Cookie header goes altogether.
    const only = await viaEnvoy("vault", { cookie: sessionOf(people.member.cookie) });
    expect(only.status).toBe(200);
    expect(only.seen).toMatchObject({ cookie: null, user: people.member.email });
    // A write to the app is the app's: no CSRF token of Atrium's is asked for, and the app's
    // own Authorization reaches it beside the session.
    const post = await viaEnvoy("vault", { cookie: people.member.cookie, authorization: "Basic dXNlcjpwdw==" }, "POST");
    expect(post.status).toBe(200);
    expect(post.seen).toMatchObject({ authorization: "Basic dXNlcjpwdw==", cookie: null, user: people.member.email });
  });

  it("serves a member's API key, which the app never sees", async () => {
    const created = await call(api.base, people.member, "POST", `/api/orgs/${ORG}/apikeys`, {
      name: "Through Envoy",
      type: "STANDARD",
      scopes: ["apps:access"],
    });
    expect(created.status).toBe(201);
    const key = created.body.secret as string;
    const res = await viaEnvoy("vault", { authorization: `Bearer ${key}` });
    expect(res.status).toBe(200);
    expect(res.seen).toMatchObject({ authorization: null, user: people.member.email });
    // A key that is not valid is refused by the API, as through the embedded gateway.
    const forged = `${key.slice(0, -6)}aaaaaa`;
    expect((await viaEnvoy("vault", { authorization: `Bearer ${forged}` })).status).toBe(401);
  });

  it("serves a Public app to anyone, with no policy on its route, and never a client's own X-Atrium-User", async () => {
    const res = await viaEnvoy("lobby", { "x-atrium-user": people.member.email });
    expect(res.status).toBe(200);
    expect(res.seen).toMatchObject({ app: "lobby", user: null });
    expect(await policyOf("lobby")).toBeUndefined();
    expect(await policyOf("vault")).toBeDefined();
  });

  it("never hands a Public app Atrium's session or CSRF cookie, nor an Atrium key; its own cookies and Authorization pass", async () => {
    await until("lobby's credential filter accepted", async () => ((await filterAccepted("lobby")) ? true : undefined));
    expect(await filterOf("vault")).toBeUndefined();
    // A browser's real session and CSRF cookies, between the app's own.
    const res = await viaEnvoy("lobby", {
      cookie: `app=1; ${people.member.cookie}`,
      authorization: "Bearer atr_sk_0123456789abcdefghijklmnopqrstuv",
      "x-atrium-user": people.member.email,
    });
    expect(res.status).toBe(200);
    expect(res.seen).toMatchObject({ app: "lobby", cookie: "app=1", authorization: null, user: null });
    expect(people.member.cookie).toMatch(/atrium_session=.*atrium_csrf=|atrium_csrf=.*atrium_session=/);
    // Atrium's cookies first, in any case of the scheme and the other key kind: gone all the same.
    const first = await viaEnvoy("lobby", {
      cookie: `atrium_csrf=x;atrium_session=y; theme=dark;lang=fr`,
      authorization: "bearer ATR_AI_0123456789",
    });
    expect(first.seen).toMatchObject({ cookie: "theme=dark;lang=fr", authorization: null });
    // Only Atrium's: no Cookie at all. The app's own Authorization, and a Bearer that is no Atrium key, pass.
    const own = await viaEnvoy("lobby", {
      cookie: sessionOf(people.member.cookie),
      authorization: "Basic dXNlcjpwdw==",
    });
    expect(own.seen).toMatchObject({ cookie: null, authorization: "Basic dXNlcjpwdw==" });
    const bearer = await viaEnvoy("lobby", { cookie: "xatrium_session=1", authorization: "Bearer atr_xx_1" });
    expect(bearer.seen).toMatchObject({ cookie: "xatrium_session=1", authorization: "Bearer atr_xx_1" });
    // NBSP (a Latin-1 byte, invalid alone in UTF-8) before the cookie still meets the rule's regex and the filter.
    const nbsp = await viaEnvoy("lobby", { cookie: `theme=dark;\u00a0${sessionOf(people.member.cookie)}` });
    expect(nbsp.seen).toMatchObject({ cookie: "theme=dark" });
  });

  it("runs the filter only on the rules whose requests can carry Atrium's credentials, and counts those as the app's traffic", async () => {
    // In Envoy itself: the Lua filter is on for the route's health-checks (0) and
    // atrium-credentials (2) rules, off for the app rule (1) that takes every other request.
    await until("lobby's credential filter accepted", async () => ((await filterAccepted("lobby")) ? true : undefined));
    let routes: any[] = [];
    await until("lobby's filter in Envoy", async () => {
      const dump = JSON.parse(
        await (await fetch(`${dataplane.adminUrl}/config_dump?resource=dynamic_route_configs`)).text(),
      ) as { configs: { route_config: { virtual_hosts?: { routes: any[] }[] } }[] };
      routes = dump.configs
        .flatMap((c) => c.route_config.virtual_hosts ?? [])
        .flatMap((vh) => vh.routes)
        .filter((r) => String(r.name).startsWith(`httproute/${NS}/lobby/`));
      return routes.some((r) => r.typed_per_filter_config) ? true : undefined;
    });
    const lua = (rule: number) =>
      routes
        .filter((r) => String(r.name).startsWith(`httproute/${NS}/lobby/rule/${rule}/`))
        .map((r) => Object.keys(r.typed_per_filter_config ?? {}).some((k) => k.startsWith("envoy.filters.http.lua/")));
    expect(lua(0).length).toBeGreaterThan(0);
    expect(lua(0).every(Boolean)).toBe(true);
    expect(lua(2)).toEqual([true, true]);
    expect(lua(1)).toEqual([false]);

    // Requests with Atrium's credentials count as traffic (rules 1 and 2; once the filter took
    // them off, Envoy picks the route again and sends the request on the app rule), never as
    // health checks.
    const counts = async () =>
      Promise.all([0, 1, 2].map(async (rule) => (await dataplane.routeStats(NS, "lobby", rule)).upstream_rq_total));
    const [health0, app0, creds0] = await counts();
    const plain = await viaEnvoy("lobby", { cookie: "theme=dark", authorization: "Basic dXNlcjpwdw==" });
    expect(plain.seen).toMatchObject({ cookie: "theme=dark", authorization: "Basic dXNlcjpwdw==" });
    expect((await viaEnvoy("lobby", { cookie: people.member.cookie })).seen).toMatchObject({ cookie: null });
    expect((await viaEnvoy("lobby", { authorization: "Bearer atr_ai_0123456789" })).seen).toMatchObject({
      authorization: null,
    });
    const [health1, app1, creds1] = await counts();
    expect(health1).toBe(health0);
    expect((app1 as number) + (creds1 as number) - (app0 as number) - (creds0 as number)).toBe(3);

    // A health check's path outranks the credentials rule: the filter runs there too.
    const route = await read("HTTPRoute", "gateway.networking.k8s.io/v1", "lobby");
    const health = route.spec.rules[0].matches.find((m: any) => m.path.type === "Exact")?.path.value as string;
    expect(health).toMatch(/^\//);
    const checked = await viaEnvoy("lobby", { cookie: `app=1; ${people.member.cookie}` }, "GET", health);
    expect(checked.seen).toMatchObject({ cookie: "app=1" });
  });

  it("follows the app's access policy: Members adds the policy, Public deletes it again", async () => {
    await setPolicy("lobby", "Members");
    await until("lobby refused to nobody", async () => ((await viaEnvoy("lobby")).status === 401 ? true : undefined));
    // The route itself changes too (a Public app's rules differ): Envoy may answer 503 for the
    // moment it takes the new route, never 200 to nobody (checked above) or a refusal to a member.
    const served = await until("lobby's answer to a member", async () => {
      const status = (await viaEnvoy("lobby", { cookie: people.member.cookie })).status;
      return status === 503 ? undefined : status;
    });
    expect(served).toBe(200);
    expect(await policyOf("lobby")).toBeDefined();
    // The credential filter gives way to the policy (whose answer strips Atrium's credentials).
    await until("lobby's credential filter deleted", async () => ((await filterOf("lobby")) ? undefined : true));

    await setPolicy("lobby", "Public");
    await until("lobby's policy deleted", async () => ((await policyOf("lobby")) ? undefined : true));
    await until("lobby open again", async () => ((await viaEnvoy("lobby")).status === 200 ? true : undefined));
    await until("lobby's credential filter back", async () => ((await filterAccepted("lobby")) ? true : undefined));
    const res = await viaEnvoy("lobby", { cookie: `app=1; ${people.member.cookie}` });
    expect(res.seen).toMatchObject({ cookie: "app=1" });
  });
});

describe("the operator's stop probe through the access check (ADR 0024)", () => {
  const probe = { "x-atrium-probe": "activator" };

  it("refuses a probe header without the token, or with another, before the app: the pod sees none", async () => {
    const before = fakes.vault?.requests;
    expect((await viaEnvoy("vault", probe)).status).toBe(401);
    expect((await viaEnvoy("vault", { ...probe, "x-atrium-probe-token": `${PROBE_TOKEN}x` })).status).toBe(401);
    expect((await viaEnvoy("vault", { ...probe, "x-atrium-probe-token": "" })).status).toBe(401);
    expect(fakes.vault?.requests).toBe(before);
  });

  it("lets the token through to a running app's pod (its health rule), which never sees the token or a forged identity", async () => {
    const res = await viaEnvoy("vault", { ...probe, "x-atrium-probe-token": PROBE_TOKEN, "x-atrium-user": "x@y.z" });
    expect(res.status).toBe(200);
    expect(res.seen).toMatchObject({ app: "vault", probeToken: null, user: null });
  });

  it("confirms an idle Members app's stop through Envoy and its access check, then stops it", async () => {
    await installApp("idler", "Members", "8s");
    await until(
      "idler served to a member through Envoy",
      async () => ((await viaEnvoy("idler", { cookie: people.member.cookie })).status === 200 ? true : undefined),
      120_000,
      200,
    );
    // Only a probe that reached the activator through Envoy starts the grace: no
    // ATRIUM_STOP_UNCONFIRMED here, so a probe refused by the access check would keep it running.
    await until(
      "idler stopped",
      async () => ((await read("AppInstance", A, "idler"))?.status?.phase === "Stopped" ? true : undefined),
      90_000,
      250,
    );
    // The activator now answers the operator's probe itself, through the access check.
    const answered = await viaEnvoy("idler", { ...probe, "x-atrium-probe-token": PROBE_TOKEN });
    expect(answered).toMatchObject({ status: 200, mark: `${ORG}/idler` });
    // Without the token, Envoy refuses before the activator.
    expect(await viaEnvoy("idler", probe)).toMatchObject({ status: 401 });
  });
});

describe("a browser without a login: to the login and back to the app URL it asked for (as the embedded gateway)", () => {
  /** A request to the app's host through Envoy, as a browser sends it (Host with the listener's port). */
  const asBrowser = async (path: string, headers: Record<string, string>, method = "GET") => {
    const host = `vault.${ORG}.${DOMAIN}:${dataplane.port}`;
    const res = await requestVia(dataplane, { host, path, method, headers });
    return { status: res.status, location: res.headers.location, body: res.body };
  };
  const PAGE = "/wiki/Start?lang=fr&q=a%20b";
  const HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
  /** Where Envoy sent the browser: the login URL and its returnTo. */
  const loginOf = (location: string | undefined) => {
    const url = new URL(location ?? "");
    return { at: `${url.origin}${url.pathname}`, returnTo: url.searchParams.get("returnTo") };
  };

  it("answers a page request to a Members app without a login with 302 to the API's login, returnTo the app URL with its path and query", async () => {
    const before = fakes.vault?.requests;
    const res = await asBrowser(PAGE, { accept: HTML });
    expect(res.status).toBe(302);
    const login = loginOf(res.location);
    expect(login.at).toBe(`${api.base}/api/auth/login`);
    // The scheme Envoy saw (plain HTTP here), the app's host as the browser named it, the path and query as sent.
    // (As a URL writes it: without the port when the listener's is 80.)
    const app = `http://vault.${ORG}.${DOMAIN}:${dataplane.port}`;
    expect(login.returnTo).toBe(new URL(`${app}${PAGE}`).href);
    expect(login.returnTo).toContain(`vault.${ORG}.${DOMAIN}`);
    expect(login.returnTo).toMatch(/\/wiki\/Start\?lang=fr&q=a%20b$/);
    // The site root too (Envoy appends "/").
    expect(loginOf((await asBrowser("/", { accept: HTML })).location).returnTo).toBe(new URL(`${app}/`).href);
    expect(fakes.vault?.requests).toBe(before);
  });

  it("keeps the 401 JSON for API and XHR callers, writes and HEAD, and 403/404 for callers who are logged in", async () => {
    const json = await asBrowser(PAGE, { accept: "application/json" });
    expect(json.status).toBe(401);
    expect(JSON.parse(json.body)).toMatchObject({ error: { message: "Log in to open this app" } });
    expect((await asBrowser(PAGE, {})).status).toBe(401);
    expect((await asBrowser(PAGE, { accept: HTML }, "POST")).status).toBe(401);
    expect((await asBrowser(PAGE, { accept: HTML }, "HEAD")).status).toBe(401);
    const viewer = await asBrowser(PAGE, { accept: HTML, cookie: people.viewer.cookie });
    expect(viewer).toMatchObject({ status: 403, location: undefined });
    const outsider = await asBrowser(PAGE, { accept: HTML, cookie: people.outsider.cookie });
    expect(outsider).toMatchObject({ status: 404, location: undefined });
  });

  it("logs in and lands back on the app URL: the API's login takes that returnTo, and the new session opens the page", async () => {
    const { returnTo } = loginOf((await asBrowser(PAGE, { accept: HTML })).location);
    expect(returnTo).toMatch(/^http:\/\/vault\./);
    // The login a browser would follow (the API stores returnTo with the pending login and
    // redirects there from its callback; an app URL it does not know would become "/").
    const login = await loginWithOidc({ apiBase: api.base, email: people.member.email, returnTo: returnTo as string });
    expect(login.finalLocation).toBe(returnTo);
    const back = await asBrowser(PAGE, { accept: HTML, cookie: login.cookieHeader });
    expect(back.status).toBe(200);
    expect(JSON.parse(back.body)).toMatchObject({ app: "vault", user: people.member.email, cookie: null });
  });

  it("gives the check the same decision whatever path and query the app request has", async () => {
    // Through Envoy: a query that is no valid query of the check (repeated, odd keys, an
    // invalid escape) and a long path, with a member's session and without.
    const odd = "/a/b/c.json?limit=-1&limit=x&x[=1&%ff=%zz&returnTo=//evil.example";
    expect((await asBrowser(odd, { cookie: people.member.cookie })).status).toBe(200);
    expect((await asBrowser(odd, {})).status).toBe(401);
    // At the API itself (what Envoy would send for an app path with a stray %), the same answers.
    const check = `/api/forward-auth/${ORG}/vault/data-plane`;
    for (const suffix of ["", "/", "/a%zz/b", "/x?limit=abc&%e0=1", "?q=1"]) {
      expect((await call(api.base, people.member, "GET", `${check}${suffix}`)).status, suffix).toBe(200);
      expect((await call(api.base, people.viewer, "GET", `${check}${suffix}`)).status, suffix).toBe(403);
      expect((await call(api.base, {}, "GET", `${check}${suffix}`)).status, suffix).toBe(401);
    }
    // The app's path and query are not the check's: the API's request log names the check's path only.
    const logged = api.logs.filter((l) => l.message === "request" && String(l.path).startsWith(check));
    expect(logged.length).toBeGreaterThan(0);
    expect(new Set(logged.map((l) => l.path))).toEqual(new Set([check]));
  });
});
