// The chart's RBAC, proven on a real apiserver: the chart is installed with helm (into a
// namespace enforcing restricted Pod Security, which admits its pods), a token is minted for each of its
// ServiceAccounts (TokenRequest), and the real operator, gateway and API run with those tokens,
// each through a recording proxy, over their flows: an organization made Ready, a member
// invited and removed through the API; a platform administrator (api.platformAdmins) creating an
// organization through the API, which its first Admin renames, deletes, restores and deletes
// again, and the operator purging it after a short grace (operator.organizationDeletionGrace),
// both settings taken from the Deployments the chart rendered; the sample catalog chart's templates in the API's
// marketplace, an app installed through the API (with a secret
// setting), its events and log read, reached through the gateway, stopped and woken,
// uninstalled, the organization deleted. No component may be refused by RBAC once. What each
// ServiceAccount may do (`kubectl auth can-i --list`) is kept in chart-rbac/<component>.txt, so
// a widened role shows in review (ATRIUM_UPDATE_GOLDEN=1 rewrites them). And one rule taken out
// of a rendered ClusterRole makes its flow fail: the check can fail.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { namespaceFor } from "@atrium/crds";
import { AppsV1Api, KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { type ApiStack, type Caller, call, startApi } from "../cluster/api-stack.ts";
import { type ControlPlane, startControlPlane } from "../cluster/controlplane.ts";
import { echoTemplate, type FakeApp, serveAppPods } from "../cluster/fake-pods.ts";
import { type GatewayProcess, startGateway } from "../cluster/gateway-process.ts";
import { loginWithOidc } from "../cluster/oidc-login.ts";
import { type OidcProviderHandle, startOidcProvider } from "../cluster/oidc-provider.ts";
import { type OperatorProcess, startOperator } from "../cluster/operator-process.ts";
import { freePorts } from "../cluster/ports.ts";
import { type SmtpCapture, startSmtpCapture } from "../cluster/smtp-capture.ts";
import { until } from "../cluster/until.ts";
import { isRbacDenial, type RecordingProxy, startRecordingProxy } from "./chart-rbac/recording-proxy.ts";
import type { Obj } from "./kube.ts";

const root = join(import.meta.dirname, "..", "..");
const CHART = join(root, "charts", "atrium");
const GOLDEN = join(import.meta.dirname, "chart-rbac");
const RELEASE = "atrium";
const NAMESPACE = "atrium-system";
const COMPONENTS = ["operator", "gateway", "api"] as const;
type Component = (typeof COMPONENTS)[number];
const A = "atrium.dev/v1alpha1";
const ORG = "rbac";
const NS = namespaceFor(ORG);
const ADMIN = "admin@rbac.example";
/** Named in api.platformAdmins; the first Admin of the organization they create. */
const PLATFORM_ADMIN = "platform@rbac.example";
/** Created through the API, deleted after its grace period by the operator. */
const DOOMED = "rbac-doomed";
/** Short, so the purge happens while the app flows run; long enough to restore in between. */
const GRACE = "10s";

let cp: ControlPlane;
let helm: string;
let dir: string;
let kc: KubeConfig;
let objects: KubernetesObjectApi;
const proxies = {} as Record<Component, RecordingProxy>;
let operator: OperatorProcess;
let gateway: GatewayProcess;
let api: ApiStack;
let oidc: OidcProviderHandle;
let smtp: SmtpCapture;
let admin: Caller;
const fakes: FakeApp[] = [];
/** The 403s the test provokes by taking a rule out. */
const provoked = new Set<object>();

const kubectl = (...args: string[]) =>
  execFileSync(join(cp.binDir, "kubectl"), [`--kubeconfig=${cp.kubeconfig}`, ...args], { encoding: "utf8" });
const kubectlStdin = (input: string, ...args: string[]) =>
  execFileSync(join(cp.binDir, "kubectl"), [`--kubeconfig=${cp.kubeconfig}`, ...args], {
    encoding: "utf8",
    input,
    stdio: ["pipe", "pipe", "pipe"],
  });
const serviceAccount = (c: Component) => `${RELEASE}-${c}`;
const read = (kind: string, name: string, namespace?: string) =>
  objects.read({ apiVersion: A, kind, metadata: { name, ...(namespace ? { namespace } : {}) } }) as Promise<any>;
const condition = (o: any, type: string) => o?.status?.conditions?.find((c: any) => c.type === type);
const viaGateway = (app: string, path = "/") => fetch(`${gateway.url}/apps/${ORG}/${app}${path}`);
/**
 * `kubectl auth can-i --list` as one rule per line, columns split at the header's offsets and
 * joined by " | ": a new rule is a new line in review, not a re-aligned table.
 */
function table(text: string): string {
  const [header = "", ...rows] = text.trimEnd().split("\n");
  const starts = ["Resources", "Non-Resource URLs", "Resource Names", "Verbs"].map((h) => header.indexOf(h));
  const cells = (line: string) => starts.map((at, i) => line.slice(at, starts[i + 1]).trim());
  return `${[header, ...rows].map((line) => cells(line).join(" | ")).join("\n")}\n`;
}
/** Settings as the chart's Deployment of a component gives them (the programs run here). */
function chartEnv(c: Component, ...names: string[]): Record<string, string> {
  const deployment = JSON.parse(
    kubectl("get", "deployment", serviceAccount(c), `--namespace=${NAMESPACE}`, "-o", "json"),
  );
  const env: { name: string; value?: string }[] = deployment.spec.template.spec.containers[0].env;
  return Object.fromEntries(
    names.map((n) => {
      const value = env.find((e) => e.name === n)?.value;
      if (value === undefined) throw new Error(`${c}'s Deployment has no ${n}`);
      return [n, value];
    }),
  );
}
const describeForbidden = (c: Component) =>
  proxies[c]
    .forbidden()
    .filter((a) => !provoked.has(a))
    .map((a) => `${a.method} ${a.url}`)
    .join("\n");

beforeAll(async () => {
  helm = `${execFileSync("bash", [join(root, "charts", "tools.sh")], { encoding: "utf8" })
    .trim()
    .split("\n")
    .at(-1)}/helm`;
  cp = await startControlPlane();
  dir = mkdtempSync(join(tmpdir(), "atrium-chart-rbac-"));
  kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  objects = KubernetesObjectApi.makeApiClient(kc);

  // The chart as a platform team installs it, CRDs included, into a namespace that enforces the
  // restricted Pod Security Standard. One pod each: KWOK runs none of their programs (the real
  // ones below are processes here); the pods show that admission lets the chart's pods in.
  kubectl("create", "namespace", NAMESPACE);
  kubectl("label", "namespace", NAMESPACE, "pod-security.kubernetes.io/enforce=restricted");
  execFileSync(
    helm,
    [
      "install",
      RELEASE,
      CHART,
      `--kubeconfig=${cp.kubeconfig}`,
      `--namespace=${NAMESPACE}`,
      "--set=operator.replicas=1,gateway.replicas=1,api.replicas=1",
      `--set=api.platformAdmins={${PLATFORM_ADMIN}},operator.organizationDeletionGrace=${GRACE}`,
    ],
    { encoding: "utf8" },
  );
  kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "-l", `app.kubernetes.io/instance=${RELEASE}`);

  const cluster = kc.getCurrentCluster();
  const ca = Buffer.from(cluster?.caData ?? "", "base64");
  for (const c of COMPONENTS) {
    const token = kubectl("create", "token", serviceAccount(c), `--namespace=${NAMESPACE}`, "--duration=2h").trim();
    proxies[c] = await startRecordingProxy({ server: cluster?.server ?? "", ca, token, dir, name: c });
  }

  operator = await startOperator({
    kubeconfig: proxies.operator.kubeconfig,
    id: "chart-rbac",
    leaseNamespace: NAMESPACE,
    leaseDurationMs: 4000,
    env: chartEnv("operator", "ATRIUM_ORG_DELETION_GRACE"),
  });
  const [port] = (await freePorts(1)) as [number];
  oidc = await startOidcProvider({
    clients: [
      {
        clientId: "atrium",
        clientSecret: "atrium-test-secret",
        redirectUris: [`http://127.0.0.1:${port}/api/auth/callback`],
      },
    ],
    users: [],
  });
  smtp = await startSmtpCapture();
  api = await startApi({
    kubeconfig: proxies.api.kubeconfig,
    port,
    oidcIssuer: oidc.issuer,
    smtpUrl: smtp.url,
    env: chartEnv("api", "ATRIUM_PLATFORM_ADMINS"),
    quiet: true,
  });
  gateway = await startGateway({
    kubeconfig: proxies.gateway.kubeconfig,
    env: {
      ATRIUM_GATEWAY_FLUSH_INTERVAL_MS: "300",
      ATRIUM_GATEWAY_WAKE_TIMEOUT_MS: "20000",
      ATRIUM_BASE_DOMAIN: "atrium.test",
      ATRIUM_GATEWAY_AUTH_URL: api.base,
    },
  });
}, 600_000);

afterAll(async () => {
  // ATRIUM_CHART_RBAC_LOG=<file>: every request each component made and its status, to compare
  // what the roles grant with what the components use.
  if (process.env.ATRIUM_CHART_RBAC_LOG)
    writeFileSync(
      process.env.ATRIUM_CHART_RBAC_LOG,
      COMPONENTS.flatMap((c) => (proxies[c]?.answers ?? []).map((a) => `${c} ${a.status} ${a.method} ${a.url}`)).join(
        "\n",
      ),
    );
  for (const f of fakes) await f.stop();
  await gateway?.kill();
  await operator?.kill();
  await api?.stop();
  await oidc?.stop();
  await smtp?.stop();
  for (const p of Object.values(proxies)) await p.close();
  await cp?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the chart's roles, used by the real components", () => {
  it("let the operator make an organization Ready and the API invite, list and remove members", async () => {
    await objects.create({
      apiVersion: A,
      kind: "Organization",
      metadata: { name: ORG },
      spec: { displayName: "RBAC" },
    } as Obj);
    await until("the built-in roles", async () => (api.directory.rolesOf(ORG).length === 5 ? true : undefined), 60_000);
    await objects.create({
      apiVersion: A,
      kind: "Member",
      metadata: { name: "admin", namespace: NS },
      spec: { email: ADMIN, role: "admin", displayName: "Admin" },
    } as Obj);
    oidc.addUser({ email: ADMIN, name: "Admin" });
    const { cookieHeader } = await loginWithOidc({ apiBase: api.base, email: ADMIN });
    const me = await call(api.base, { cookie: cookieHeader }, "GET", "/api/me");
    admin = { cookie: cookieHeader, csrf: me.body.csrfToken };
    await until(
      "the organization Ready",
      async () => (condition(await read("Organization", ORG), "Ready")?.status === "True" ? true : undefined),
      60_000,
    );

    const invited = await call(api.base, admin, "POST", `/api/orgs/${ORG}/members`, {
      email: "new@rbac.example",
      role: "member",
    });
    expect(invited.status, JSON.stringify(invited.body)).toBe(201);
    const list = await call(api.base, admin, "GET", `/api/orgs/${ORG}/members`);
    expect(list.status).toBe(200);
    expect(JSON.stringify(list.body)).toContain("new@rbac.example");
    const removed = await call(api.base, admin, "DELETE", `/api/orgs/${ORG}/members/${invited.body.member.name}`);
    expect(removed.status, JSON.stringify(removed.body)).toBeLessThan(300);
  });

  it("let a platform administrator create an organization through the API, its Admin rename, delete, restore and delete it again", async () => {
    oidc.addUser({ email: PLATFORM_ADMIN, name: "Platform" });
    const login = await loginWithOidc({ apiBase: api.base, email: PLATFORM_ADMIN });
    const me = await call(api.base, { cookie: login.cookieHeader }, "GET", "/api/me");
    const platform: Caller = { cookie: login.cookieHeader, csrf: me.body.csrfToken };
    const created = await call(api.base, platform, "POST", "/api/orgs", {
      name: DOOMED,
      displayName: "Doomed",
      admin: { email: PLATFORM_ADMIN },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    // The platform administrator made themselves its first Admin: the invitation makes them one.
    const token = /token=([\w-]+)/.exec((await smtp.waitForMessage(PLATFORM_ADMIN)).text)?.[1];
    expect(token).toBeTruthy();
    expect((await call(api.base, platform, "GET", `/api/invitations/accept?token=${token}`)).status).toBe(302);
    const renamed = await until("the organization renamed by its Admin", async () => {
      const r = await call(api.base, platform, "PATCH", `/api/orgs/${DOOMED}`, { displayName: "Doomed Inc" });
      return r.status === 403 ? undefined : r; // until the directory has seen the member join
    });
    expect(renamed.status, JSON.stringify(renamed.body)).toBe(200);
    expect((await read("Organization", DOOMED)).spec.displayName).toBe("Doomed Inc");
    const remove = () => call(api.base, platform, "DELETE", `/api/orgs/${DOOMED}`, { confirm: DOOMED });
    const deleted = await remove();
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(202);
    const restored = await call(api.base, platform, "POST", `/api/orgs/${DOOMED}/restore`);
    expect(restored.status, JSON.stringify(restored.body)).toBe(200);
    expect((await read("Organization", DOOMED)).spec.deletion).toBeUndefined();
    // For good this time: the operator deletes it when the grace period is over (checked at the end).
    expect((await remove()).status).toBe(202);
  });

  it("run every pod under the restricted Pod Security Standard, which refuses a pod that is not", async () => {
    for (const c of COMPONENTS)
      await until(`an ${c} pod admitted`, async () =>
        kubectl(
          "get",
          "pods",
          `--namespace=${NAMESPACE}`,
          "-l",
          `app.kubernetes.io/name=atrium-${c}`,
          "-o",
          "name",
        ).trim()
          ? true
          : undefined,
      );
    const plain = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "plain" },
      spec: { containers: [{ name: "c", image: "x" }] },
    };
    let refusal = "";
    try {
      kubectlStdin(JSON.stringify(plain), "create", `--namespace=${NAMESPACE}`, "--dry-run=server", "-f", "-");
    } catch (error) {
      refusal = String((error as { stderr?: string }).stderr);
    }
    expect(refusal).toContain('violates PodSecurity "restricted');
  });

  it("take the sample catalog from its own chart, installed after this one, into the API's marketplace", async () => {
    execFileSync(helm, [
      "install",
      "atrium-catalog",
      join(root, "charts", "atrium-catalog"),
      `--kubeconfig=${cp.kubeconfig}`,
      `--namespace=${NAMESPACE}`,
      "--set=exclude={mattermost}",
    ]);
    const detail = (name: string) => call(api.base, admin, "GET", `/api/orgs/${ORG}/marketplace/apps/${name}`);
    for (const name of ["gitea", "nextcloud", "uptime-kuma", "vaultwarden"])
      await until(`${name} in the marketplace`, async () => ((await detail(name)).status === 200 ? true : undefined));
    expect((await detail("mattermost")).status).toBe(404);
  });

  it("let the API install an app, the operator run it and the gateway serve it, stop it and wake it", async () => {
    // A secret setting, so the install writes the app's values Secret as the API.
    const template = echoTemplate() as any;
    template.spec.env = [{ name: "ECHO_TOKEN", description: "A token the app reads", secret: true }];
    await objects.create(template as Obj);
    await until("the template in the API's catalog", async () => {
      const found = await call(api.base, admin, "GET", `/api/orgs/${ORG}/marketplace/apps/echo`);
      return found.status === 200 ? true : undefined;
    });
    const installed = await call(api.base, admin, "POST", `/api/orgs/${ORG}/apps`, {
      template: "echo",
      name: "echo",
      env: { ECHO_TOKEN: "not-a-real-token" },
      access: { policy: "Public" },
      idle: { policy: "Auto", timeout: "3s" },
    });
    expect(installed.status, JSON.stringify(installed.body)).toBe(201);
    fakes.push(serveAppPods(kc, { namespace: NS, app: "echo", port: 8080 }));
    await until("echo Running", async () =>
      (await read("AppInstance", "echo", NS)).status?.phase === "Running" ? true : undefined,
    );
    await until("echo served", async () => ((await viaGateway("echo")).status === 200 ? true : undefined));
    // What the console shows: the app with its events, and its log.
    expect((await call(api.base, admin, "GET", `/api/orgs/${ORG}/apps/echo`)).status).toBe(200);
    const logs = await call(api.base, admin, "GET", `/api/orgs/${ORG}/apps/echo/logs`);
    expect(logs.status, JSON.stringify(logs.body)).toBe(200);
    await until(
      "echo Stopped",
      async () => ((await read("AppInstance", "echo", NS)).status?.phase === "Stopped" ? true : undefined),
      30_000,
    );
    const woken = await viaGateway("echo", "/after-wake");
    expect(woken.status).toBe(200);
    const deployment = await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: "echo", namespace: NS });
    expect(deployment.spec?.replicas).toBe(1);
  });

  it("fail the flow that needs a rule once that rule is taken out of the rendered ClusterRole", async () => {
    const rendered = execFileSync(
      helm,
      ["template", RELEASE, CHART, `--namespace=${NAMESPACE}`, "--show-only=templates/rbac-gateway.yaml"],
      { encoding: "utf8" },
    );
    const role = parseAllDocuments(rendered)
      .map((d) => d.toJSON())
      .find((d) => d?.kind === "ClusterRole");
    const without = {
      ...role,
      rules: role.rules.filter((r: { resources: string[] }) => !r.resources.includes("appinstances/status")),
    };
    expect(without.rules.length).toBe(role.rules.length - 1);
    const mark = proxies.gateway.answers.length;
    const refusals = () =>
      proxies.gateway.answers.slice(mark).filter((a) => isRbacDenial(a) && a.url.includes("/appinstances/echo/status"))
        .length;
    // Traffic makes the gateway record activity: refused once the apiserver's authorizer has
    // seen the replaced role (a write just before that still goes through).
    const refusedAgain = (after: number) =>
      until(
        "the gateway's status write refused",
        async () => {
          await viaGateway("echo");
          return refusals() > after ? true : undefined;
        },
        20_000,
      );
    let before: string | undefined;
    kubectlStdin(JSON.stringify(without), "replace", "-f", "-");
    try {
      await refusedAgain(0);
      before = (await read("AppInstance", "echo", NS)).status?.lastActivity;
      // Refused from here on: another flush of activity, refused, leaves lastActivity put.
      await refusedAgain(refusals());
      expect((await read("AppInstance", "echo", NS)).status?.lastActivity).toBe(before);
    } finally {
      kubectlStdin(JSON.stringify(role), "replace", "-f", "-");
      // The refusals provoked here are not the chart's: only these, and no others, are set aside.
      for (const a of proxies.gateway.answers.slice(mark))
        if (isRbacDenial(a) && a.url.includes("/appinstances/echo/status")) provoked.add(a);
    }
    // With the rule back, the same flow records activity again.
    await until(
      "lastActivity written again",
      async () => {
        await viaGateway("echo");
        return (await read("AppInstance", "echo", NS)).status?.lastActivity !== before ? true : undefined;
      },
      20_000,
    );
    // Refusals after the rule is back (the authorizer catching up) are provoked too.
    for (const a of proxies.gateway.answers.slice(mark))
      if (isRbacDenial(a) && a.url.includes("/appinstances/echo/status")) provoked.add(a);
  });

  it("let the API uninstall the app and the operator delete the organization with everything in it", async () => {
    const gone = await call(api.base, admin, "DELETE", `/api/orgs/${ORG}/apps/echo`, {
      confirm: "echo",
      deleteData: true,
    });
    expect(gone.status, JSON.stringify(gone.body)).toBeLessThan(300);
    await objects.delete({ apiVersion: A, kind: "Organization", metadata: { name: ORG } });
    for (const name of [ORG, DOOMED])
      await until(
        `organization ${name} gone`,
        async () => ((await read("Organization", name).catch(() => undefined)) ? undefined : true),
        90_000,
      );
  });

  it("gave no component a single RBAC denial", () => {
    for (const c of COMPONENTS) {
      expect(proxies[c].answers.length, `${c} made requests`).toBeGreaterThan(0);
      expect(describeForbidden(c), `${c} was refused`).toBe("");
      // Any other 403 can only be a write into the namespace being deleted with its organization.
      const others = proxies[c].answers.filter((a) => a.status === 403 && !provoked.has(a) && !isRbacDenial(a));
      for (const a of others) expect(a.message, `${a.method} ${a.url}`).toMatch(/because it is being terminated/);
    }
    // The writes each role exists for went through.
    const wrote = (c: Component, pattern: RegExp) =>
      proxies[c].answers.some((a) => a.method !== "GET" && a.status < 300 && pattern.test(a.url));
    expect(wrote("operator", /\/namespaces$|\/namespaces\/org-rbac\?/)).toBe(true);
    expect(wrote("operator", /\/leases/)).toBe(true);
    expect(wrote("operator", /\/deployments\/echo/)).toBe(true);
    expect(wrote("api", /\/members/)).toBe(true);
    expect(wrote("api", /\/secrets/)).toBe(true);
    expect(wrote("api", /\/appinstances/)).toBe(true);
    // The organization lifecycle: created and merge-patched by the API, deleted by the operator
    // when its grace period was over (nobody else deleted it).
    const did = (c: Component, method: string, pattern: RegExp) =>
      proxies[c].answers.some((a) => a.method === method && a.status < 300 && pattern.test(a.url));
    expect(did("api", "POST", /\/organizations(\?|$)/)).toBe(true);
    expect(did("api", "PATCH", new RegExp(`/organizations/${DOOMED}(\\?|$)`))).toBe(true);
    expect(did("operator", "DELETE", new RegExp(`/organizations/${DOOMED}(\\?|$)`))).toBe(true);
    const read_ = (c: Component, pattern: RegExp) =>
      proxies[c].answers.some((a) => a.method === "GET" && a.status === 200 && pattern.test(a.url));
    expect(read_("api", /\/pods\/[^/]+\/log/)).toBe(true);
    expect(read_("api", /\/events/)).toBe(true);
    expect(wrote("gateway", /\/appinstances\/echo\/status/)).toBe(true);
  });

  it("match the reviewed rights of each ServiceAccount (chart-rbac/<component>.txt)", () => {
    for (const c of COMPONENTS) {
      const rights = kubectl(
        "auth",
        "can-i",
        "--list",
        `--namespace=${NAMESPACE}`,
        `--as=system:serviceaccount:${NAMESPACE}:${serviceAccount(c)}`,
      );
      const file = join(GOLDEN, `${c}.txt`);
      const rightsTable = table(rights);
      if (process.env.ATRIUM_UPDATE_GOLDEN === "1") writeFileSync(file, rightsTable);
      expect(rightsTable, `${c}: run with ATRIUM_UPDATE_GOLDEN=1 after a reviewed change`).toBe(
        readFileSync(file, "utf8"),
      );
    }
  });

  it("keeps the key pepper across helm upgrade", () => {
    const pepper = () =>
      kubectl("get", "secret", `${RELEASE}-keys`, `--namespace=${NAMESPACE}`, "-o", "jsonpath={.data.key-peppers}");
    const before = pepper();
    expect(Buffer.from(before, "base64").toString()).toMatch(/^1:[A-Za-z0-9]{43}$/);
    execFileSync(helm, [
      "upgrade",
      RELEASE,
      CHART,
      `--kubeconfig=${cp.kubeconfig}`,
      `--namespace=${NAMESPACE}`,
      "--reuse-values",
      "--set=baseDomain=apps.rbac.example",
    ]);
    expect(kubectl("get", "deploy", `${RELEASE}-gateway`, `--namespace=${NAMESPACE}`, "-o", "yaml")).toContain(
      "apps.rbac.example",
    );
    expect(pepper()).toBe(before);
  });

  it("keeps the CRDs, the key peppers and the database volume on helm uninstall", () => {
    execFileSync(helm, ["uninstall", RELEASE, `--kubeconfig=${cp.kubeconfig}`, `--namespace=${NAMESPACE}`, "--wait"]);
    expect(
      kubectl("get", "crd", "-o", "name")
        .split("\n")
        .filter((l) => l.endsWith(".atrium.dev")).length,
    ).toBe(5);
    expect(kubectl("get", "secret", `${RELEASE}-keys`, `--namespace=${NAMESPACE}`, "-o", "name").trim()).toBe(
      `secret/${RELEASE}-keys`,
    );
    expect(kubectl("get", "pvc", `${RELEASE}-api-data`, `--namespace=${NAMESPACE}`, "-o", "name").trim()).toBe(
      `persistentvolumeclaim/${RELEASE}-api-data`,
    );
    expect(kubectl("get", "clusterrole", "-l", `app.kubernetes.io/instance=${RELEASE}`, "-o", "name").trim()).toBe("");
  });
});
