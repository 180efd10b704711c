// A world for the API tests: the real operator, an OIDC provider, an SMTP capture server, the
// API on a real database (and, when asked, the real gateway in front of the apps), and two
// organizations with one declared member per built-in role, each logged in through the
// provider (the documented bootstrap: declared members join at their first login with a
// verified email).
import { BUILT_IN_ROLES, namespaceFor } from "@atrium/crds";
import { KubeClient, R } from "@atrium/kube";
import { KubeConfig } from "@kubernetes/client-node";
import { type ApiStack, type Caller, call, startApi } from "../../cluster/api-stack.ts";
import { startControlPlane } from "../../cluster/controlplane.ts";
import { type GatewayProcess, startGateway } from "../../cluster/gateway-process.ts";
import { installCrds } from "../../cluster/install.ts";
import { loginWithOidc } from "../../cluster/oidc-login.ts";
import { type OidcProviderHandle, startOidcProvider } from "../../cluster/oidc-provider.ts";
import { type OperatorProcess, startOperator } from "../../cluster/operator-process.ts";
import { freePorts } from "../../cluster/ports.ts";
import { createDatabase, type Postgres, startPostgres } from "../../cluster/postgres.ts";
import { type SmtpCapture, startSmtpCapture } from "../../cluster/smtp-capture.ts";
import { until } from "../../cluster/until.ts";
import { unique } from "../kube.ts";

export const ROLES = ["admin", "co-admin", "manager", "member", "viewer"] as const;
export type RoleName = (typeof ROLES)[number];
if (BUILT_IN_ROLES.map((r) => r.name).join() !== ROLES.join())
  throw new Error("the built-in roles changed: update ROLES");

export type World = Awaited<ReturnType<typeof startWorld>>;

/**
 * Each world has a control plane of its own: its operator must be the only one reconciling
 * what it sees (two leaders racing, e.g. on an app's generated Secret, would roll apps twice
 * and break the operator tests that share the common cluster).
 */
export async function startWorld(options: {
  provider: "sqlite" | "postgresql";
  env?: Record<string, string>;
  /** The API's clock and whether its scheduler runs by itself (billing tests drive both). */
  api?: { now?: () => number; scheduler?: boolean };
  /** The operator's environment (e.g. a short ATRIUM_ORG_DELETION_GRACE). */
  operatorEnv?: Record<string, string>;
  /**
   * The real gateway in front of the apps, wired as `make dev` wires it: apps' status.url in
   * its path form, forward-auth and login at the API; `env` adds to (or overrides) its settings.
   */
  gateway?: { env?: Record<string, string> };
}) {
  const stops: Array<() => Promise<unknown> | unknown> = [];
  let postgres: Postgres | undefined;
  try {
    const cp = await startControlPlane();
    stops.push(() => cp.stop());
    installCrds(cp);
    const kubeconfig = cp.kubeconfig;
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const kube = new KubeClient(kc, { fieldManager: "atrium-test" });
    // Chosen first: the operator writes the gateway's address into every app's status.url.
    const gatewayUrl = options.gateway ? `http://127.0.0.1:${(await freePorts(1))[0]}` : undefined;
    const operatorEnv = {
      ...(gatewayUrl ? { ATRIUM_APP_URL_TEMPLATE: `${gatewayUrl}/apps/{org}/{app}/` } : {}),
      ...options.operatorEnv,
    };
    const operator: OperatorProcess = await startOperator({
      kubeconfig,
      id: "api-tests",
      leaseNamespace: unique("atrium-lease"),
      ...(Object.keys(operatorEnv).length ? { env: operatorEnv } : {}),
    });
    stops.push(() => operator.kill());
    const smtp: SmtpCapture = await startSmtpCapture();
    stops.push(() => smtp.stop());
    const [port] = (await freePorts(1)) as [number];
    const oidc: OidcProviderHandle = await startOidcProvider({
      clients: [
        {
          clientId: "atrium",
          clientSecret: "atrium-test-secret",
          redirectUris: [`http://127.0.0.1:${port}/api/auth/callback`],
        },
      ],
      users: [],
    });
    stops.push(() => oidc.stop());
    let databaseUrl: string | undefined;
    if (options.provider === "postgresql") {
      postgres = await startPostgres();
      stops.push(() => postgres?.stop());
      databaseUrl = await createDatabase(postgres.url, "atrium_api");
    }
    const api: ApiStack = await startApi({
      kubeconfig,
      port,
      oidcIssuer: oidc.issuer,
      smtpUrl: smtp.url,
      quiet: true,
      env: {
        ATRIUM_RATE_INVITATIONS: "1000/1h",
        // Browsers the gateway sends to log in come back to their app.
        ...(gatewayUrl ? { ATRIUM_GATEWAY_PUBLIC_URL: gatewayUrl } : {}),
        ...options.env,
      },
      ...(databaseUrl ? { databaseUrl } : {}),
      ...options.api,
    });
    stops.push(() => api.stop());
    let gateway: GatewayProcess | undefined;
    if (gatewayUrl) {
      gateway = await startGateway({
        kubeconfig,
        port: Number(new URL(gatewayUrl).port),
        env: {
          ATRIUM_GATEWAY_AUTH_URL: api.base,
          ATRIUM_GATEWAY_LOGIN_URL: `${api.base}/api/auth/login`,
          // Activity reaches the operator within half a second, and a wake waits long enough
          // for a busy machine.
          ATRIUM_GATEWAY_FLUSH_INTERVAL_MS: "500",
          ATRIUM_GATEWAY_WAKE_TIMEOUT_MS: "30000",
          ...options.gateway?.env,
        },
      });
      stops.push(() => gateway?.kill());
    }

    /** An organization with its namespace and built-in roles in place (the operator's work). */
    const createOrg = async (prefix: string) => {
      const name = unique(prefix);
      await kube.create(R.organization, {
        metadata: { name },
        spec: { displayName: `Org ${name}` },
      } as never);
      await until(`built-in roles of ${name}`, async () => api.directory.rolesOf(name).length === ROLES.length, 60_000);
      return name;
    };

    /** A member declared directly (kubectl style); `login` makes them join. */
    const declareMember = async (org: string, email: string, role: string) => {
      const name = email.replace(/[^a-z0-9]+/g, "-");
      const created = await kube.create(R.member, {
        metadata: { name, namespace: namespaceFor(org) },
        spec: { email, role, displayName: email.split("@")[0] },
      } as never);
      await api.directory.observed(created as never);
      return name;
    };

    const login = async (email: string, returnTo?: string): Promise<Required<Pick<Caller, "cookie" | "csrf">>> => {
      oidc.addUser({ email, name: `Test ${email}` });
      const result = await loginWithOidc({ apiBase: api.base, email, ...(returnTo ? { returnTo } : {}) });
      const me = await call(api.base, { cookie: result.cookieHeader }, "GET", "/api/me");
      if (me.status !== 200) throw new Error(`login of ${email} failed: ${me.status} ${JSON.stringify(me.body)}`);
      return { cookie: result.cookieHeader, csrf: me.body.csrfToken };
    };

    const orgA = await createOrg("api-a");
    const orgB = await createOrg("api-b");
    const people = {} as Record<
      RoleName,
      Required<Pick<Caller, "cookie" | "csrf">> & { email: string; member: string }
    >;
    for (const role of ROLES) {
      const email = `${role}@${orgA}.example`;
      const member = await declareMember(orgA, email, role);
      people[role] = { ...(await login(email)), email, member };
    }
    const outsiderEmail = `admin@${orgB}.example`;
    await declareMember(orgB, outsiderEmail, "admin");
    const outsider = { ...(await login(outsiderEmail)), email: outsiderEmail };

    return {
      kubeconfig,
      /** What KWOK serves as every fake pod's log (controlplane.ts). */
      podLogFile: cp.podLogFile,
      kc,
      api,
      kube,
      smtp,
      oidc,
      operator,
      /** Present when asked for (options.gateway). */
      gateway,
      orgA,
      orgB,
      people,
      outsider,
      createOrg,
      declareMember,
      login,
      call: <T = any>(who: Caller, method: string, path: string, body?: unknown) =>
        call<T>(api.base, who, method, path, body),
      async stop() {
        for (const stop of [...stops].reverse()) await stop();
      },
    };
  } catch (error) {
    for (const stop of [...stops].reverse()) await Promise.resolve(stop()).catch(() => {});
    throw error;
  }
}
