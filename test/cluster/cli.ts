// The local control plane from the command line.
//   up      start it in the background (CRDs installed) and print the kubeconfig path
//   down    stop what `up` started and wait until every process is gone
//   status  say whether it runs
//   dev     run Atrium in the foreground (control plane, CRDs, catalog, operator, gateway, demo) until Ctrl-C
//   serve   (internal) what `up` runs in the background
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startApiProcess } from "./api-process.ts";
import { type ControlPlane, kubectlIn, processesUsing, startControlPlane } from "./controlplane.ts";
import { startGateway } from "./gateway-process.ts";
import { installCatalog, installCrds } from "./install.ts";
import { DEMO_USERS, startOidcProvider } from "./oidc-provider.ts";
import { startOperator } from "./operator-process.ts";
import { placeOnRealNodeAnnotations, type RealNode, realNodeUnsupported } from "./real-node.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const EXAMPLES = join(ROOT, "crds/examples");
const STATE_DIR = resolve(process.env.ATRIUM_STATE_DIR ?? join(ROOT, ".atrium"));
const CLUSTER_DIR = join(STATE_DIR, "cluster");
const STATE_FILE = join(STATE_DIR, "cluster.json");
const SERVE_LOG = join(STATE_DIR, "cluster.log");
const BIN_LINK = join(STATE_DIR, "bin");

type State = { pid: number; kubeconfig: string; server: string; ready: boolean; error?: string };

const log = (message: string) => console.error(`[cluster] ${message}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const readState = (): State | undefined =>
  existsSync(STATE_FILE) ? (JSON.parse(readFileSync(STATE_FILE, "utf8")) as State) : undefined;

async function startFresh(options: { realNode?: boolean } = {}): Promise<ControlPlane> {
  rmSync(CLUSTER_DIR, { recursive: true, force: true });
  mkdirSync(CLUSTER_DIR, { recursive: true });
  const cp = await startControlPlane({
    dir: CLUSTER_DIR,
    log,
    ...(options.realNode ? { realNode: { images: ["demo-notes"] } } : {}),
  });
  // A stable place for the pinned kubectl, helm and friends: export PATH=.atrium/bin:$PATH
  rmSync(BIN_LINK, { force: true });
  symlinkSync(cp.binDir, BIN_LINK);
  installCrds(cp);
  return cp;
}

function stopOnSignals(cp: ControlPlane, after: () => void = () => {}) {
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
    process.once(signal, async () => {
      log(`Stopping (${signal})`);
      await cp.stop();
      after();
      process.exit(0);
    });
}

async function serve() {
  try {
    const cp = await startFresh();
    writeFileSync(
      STATE_FILE,
      JSON.stringify({ pid: process.pid, kubeconfig: cp.kubeconfig, server: cp.server, ready: true }),
    );
    stopOnSignals(cp, () => rmSync(STATE_FILE, { force: true }));
  } catch (error) {
    writeFileSync(STATE_FILE, JSON.stringify({ pid: process.pid, ready: false, error: String(error) }));
    process.exit(1);
  }
}

async function up() {
  const state = readState();
  if (state?.ready && alive(state.pid)) return printUsage(state);
  mkdirSync(STATE_DIR, { recursive: true });
  rmSync(STATE_FILE, { force: true });
  const out = openSync(SERVE_LOG, "w");
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "serve"], {
    detached: true,
    stdio: ["ignore", out, out],
  });
  closeSync(out);
  child.unref();
  log(`Starting in the background (log: ${SERVE_LOG})`);
  for (;;) {
    await sleep(250);
    const s = readState();
    if (s?.ready) return printUsage(s);
    if (s?.error || !alive(child.pid as number)) {
      console.error(s?.error ?? readFileSync(SERVE_LOG, "utf8"));
      process.exit(1);
    }
  }
}

async function down() {
  const state = readState();
  if (!state || !alive(state.pid)) {
    rmSync(STATE_FILE, { force: true });
    return log("Not running");
  }
  process.kill(state.pid, "SIGTERM");
  while (alive(state.pid) || processesUsing(CLUSTER_DIR).length > 0) await sleep(100);
  rmSync(STATE_FILE, { force: true });
  log("Stopped");
}

/** The embedded default: control plane, CRDs, catalog, the operator, and a demo organization. */
async function dev() {
  // The demo app runs in a real container where the machine can run one (ATRIUM_REAL_NODE=0: never).
  const unsupported = realNodeUnsupported();
  if (unsupported) log(`No real node (${unsupported}): every app runs on KWOK, and apps answer 502`);
  const cp = await startFresh({ realNode: !unsupported });
  log(installCatalog(cp).trim().replaceAll("\n", "\n[cluster] "));
  const gatewayPort = Number(process.env.ATRIUM_GATEWAY_PORT ?? 8081);
  const operator = await startOperator({
    kubeconfig: cp.kubeconfig,
    id: "dev",
    leaseNamespace: "atrium-system",
    // Apps' status.url: the gateway's path form, the address that answers here.
    env: { ATRIUM_APP_URL_TEMPLATE: `http://127.0.0.1:${gatewayPort}/apps/{org}/{app}/` },
  });
  log(`Operator running (log: ${operator.logFile})`);
  seedDemo(cp);
  // A development identity provider with the demo users, and the API on the embedded SQLite file.
  const apiPort = Number(process.env.ATRIUM_API_PORT ?? 8080);
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const idp = await startOidcProvider({
    port: Number(process.env.ATRIUM_OIDC_PORT ?? 5556),
    clients: [{ clientId: "atrium", clientSecret: "atrium-dev-secret", redirectUris: [`${apiUrl}/api/auth/callback`] }],
    users: DEMO_USERS,
  });
  const api = await startApiProcess({
    kubeconfig: cp.kubeconfig,
    port: apiPort,
    env: {
      // A key pepper made once in .atrium/ (production must be given ATRIUM_KEY_PEPPERS), and
      // Ctrl-C stops at once: no load balancer to drain.
      ATRIUM_ENV: "development",
      ATRIUM_API_DRAIN_SECONDS: "0",
      ATRIUM_OIDC_ISSUER: idp.issuer,
      ATRIUM_OIDC_CLIENT_ID: "atrium",
      ATRIUM_OIDC_CLIENT_SECRET: "atrium-dev-secret",
      // Browsers sent to log in by the gateway come back to their app.
      ATRIUM_GATEWAY_PUBLIC_URL: `http://127.0.0.1:${gatewayPort}`,
      // The demo pays its invoices the moment they are issued (the local ledger's autopay).
      ATRIUM_BILLING_AUTOPAY: "true",
      // The gateway's usage batches (the same secret is the gateway's, below).
      ATRIUM_USAGE_TOKEN: "atrium-dev-usage-token",
    },
  });
  log(`API at ${apiUrl} (OpenAPI: ${apiUrl}/api/openapi.json; metrics: ${api.admin}/metrics; log: ${api.logFile})`);
  log(`Console at ${apiUrl}/ : log in as ${DEMO_USERS.map((u) => u.email).join(", ")} (password "demo")`);
  const gateway = await startGateway({
    kubeconfig: cp.kubeconfig,
    port: gatewayPort,
    env: {
      ATRIUM_GATEWAY_AUTH_URL: apiUrl,
      ATRIUM_GATEWAY_LOGIN_URL: `${apiUrl}/api/auth/login`,
      // The console, served by the API here: where a 402 page sends people to pay.
      ATRIUM_CONSOLE_URL: apiUrl,
      ATRIUM_USAGE_TOKEN: "atrium-dev-usage-token",
    },
  });
  log(`Gateway at ${gateway.url}/apps/<org>/<app>/ (log: ${gateway.logFile})`);
  stopOnSignals(cp, () => {
    void gateway.kill();
    void api.kill();
    void idp.stop();
    void operator.kill();
  });
  printUsage({ pid: process.pid, kubeconfig: cp.kubeconfig, server: cp.server, ready: true });
  if (cp.realNode) seedRealDemo(cp, gatewayPort);
  log("Atrium runs; press Ctrl-C to stop it.");
}

/** The examples: organization acme (the operator makes its namespace), then what lives in it. */
function seedDemo(cp: ControlPlane) {
  const kubectl = (...args: string[]) => kubectlIn(cp.binDir, cp.kubeconfig, ...args).run();
  kubectl("apply", "-f", join(EXAMPLES, "organization.yaml"));
  kubectl("wait", "--for=condition=Ready", "--timeout=60s", "organization/acme");
  for (const kind of ["orgrole", "member", "appinstance"]) kubectl("apply", "-f", join(EXAMPLES, `${kind}.yaml`));
  // One member per built-in role for the demo users: declared members join at their first
  // login with a verified email (the documented bootstrap of a first Admin).
  const roles = ["admin", "co-admin", "manager", "member", "viewer"];
  const members = DEMO_USERS.map((u, i) => ({
    apiVersion: "atrium.dev/v1alpha1",
    kind: "Member",
    metadata: { name: u.email.split("@")[0], namespace: "org-acme" },
    spec: { email: u.email, displayName: u.name, role: roles[i] },
  }));
  kubectlIn(cp.binDir, cp.kubeconfig, "apply", "-f", "-").stdin(
    JSON.stringify({ apiVersion: "v1", kind: "List", items: members }),
  );
  log("Seeded organization acme: a custom role, an app, and a member per built-in role (kubectl get atrium -A)");
}

/**
 * The demo app on the real node: organization `demo`, whose pods the real node runs, with the
 * Demo Notes app (public, stops after a minute without traffic, keeps its notes on its volume).
 */
function seedRealDemo(cp: ControlPlane, gatewayPort: number) {
  const node = cp.realNode as RealNode;
  const apply = (o: unknown) => kubectlIn(cp.binDir, cp.kubeconfig, "apply", "-f", "-").stdin(JSON.stringify(o));
  const kubectl = (...args: string[]) => kubectlIn(cp.binDir, cp.kubeconfig, ...args).run();
  apply({
    apiVersion: "atrium.dev/v1alpha1",
    kind: "Organization",
    metadata: { name: "demo" },
    spec: { displayName: "Demo" },
  });
  kubectl("wait", "--for=condition=Ready", "--timeout=60s", "organization/demo");
  kubectl(
    "annotate",
    "--overwrite",
    "namespace/org-demo",
    ...Object.entries(placeOnRealNodeAnnotations()).map(([k, v]) => `${k}=${v}`),
  );
  node.provideVolume("org-demo", "notes-data");
  apply({
    apiVersion: "atrium.dev/v1alpha1",
    kind: "AppInstance",
    metadata: { name: "notes", namespace: "org-demo" },
    spec: { template: "demo-notes", access: { policy: "Public" }, idle: { policy: "Auto", timeout: "1m" } },
  });
  log(
    `Demo Notes runs in a real container on ${node.name}: http://127.0.0.1:${gatewayPort}/apps/demo/notes/ ` +
      "(write a note, leave it a minute to stop, open it again: the note is still there)",
  );
}

function printUsage(state: State) {
  console.log(`export KUBECONFIG=${state.kubeconfig}`);
  log(`API server ${state.server}. Try: kubectl get atrium -A   (kubectl is in ${BIN_LINK})`);
}

const commands: Record<string, () => Promise<void>> = {
  up,
  down,
  dev,
  serve,
  status: async () => {
    const s = readState();
    console.log(s?.ready && alive(s.pid) ? `running: ${s.server} (KUBECONFIG=${s.kubeconfig})` : "not running");
  },
};
const command = commands[process.argv[2] ?? ""];
if (!command) {
  console.error(`usage: cli.ts ${Object.keys(commands).join("|")}`);
  process.exit(2);
}
await command();
