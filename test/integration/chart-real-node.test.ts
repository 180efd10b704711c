// The chart end to end on the real node (issue 15, item 4): `helm install` of charts/atrium
// with Atrium's own image (built offline by images/build.sh, imported into the node's
// containerd), every component scheduled to the real node and running in a container, reaching
// the apiserver through the `kubernetes` Service (kube-proxy, real-node-network.test.ts); then
// through the installed Atrium: an organization gets Ready, the demo app from the catalog chart
// installs, answers through the gateway's Service, stops when idle, and wakes with what was
// written before the stop on a request held across a `helm upgrade` that rolls the gateway; a
// platform administrator logs in through the development OIDC provider, creates an organization
// through the API and opens a Members-only app through the gateway (forward-auth); the apps are
// uninstalled and `helm uninstall` keeps the CRDs and the data. The provider, an SMTP capture
// and a proxy standing for the API's load balancer listen on the node's bridge address, where
// pods reach the machine (ADR 0026).
// Skipped, with the reason printed, where the machine cannot run containers.

import { execFile, execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Caller, call } from "../cluster/api-stack.ts";
import {
  apiClaim,
  CATALOG_CHART,
  CHART,
  chartHelm,
  everyComponentReady,
  type FrontDoor,
  realNodeValues,
  releasePods,
  startFrontDoor,
} from "../cluster/chart.ts";
import { type ControlPlane, kubectlIn, startControlPlane } from "../cluster/controlplane.ts";
import { loginWithOidc } from "../cluster/oidc-login.ts";
import { type OidcProviderHandle, startOidcProvider } from "../cluster/oidc-provider.ts";
import {
  IMAGES_BY_NAME,
  placeOnRealNodeAnnotations,
  REAL_NODE_LABEL,
  type RealNode,
  realNodeUnsupported,
} from "../cluster/real-node.ts";
import { type SmtpCapture, startSmtpCapture } from "../cluster/smtp-capture.ts";
import { until } from "./kube.ts";

const run = promisify(execFile);

type Answer = { status: number; body: string };

/**
 * A GET on a connection of its own, closed after the answer: no kept-alive connection from an
 * earlier request can be the one a stopping gateway closes (a client's retry problem, not ours).
 */
function getOnFreshConnection(url: string): Promise<Answer> {
  const answer = new Promise<Answer>((resolve, reject) => {
    const req = request(url, { agent: false, headers: { connection: "close" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
  answer.catch(() => undefined); // awaited later; a failure then fails the test, not the run
  return answer;
}

const unsupported = realNodeUnsupported();
if (unsupported) console.log(`[chart-real-node] skipped: ${unsupported}`);

const RELEASE = "atrium";
const NAMESPACE = "atrium-system";
const ORG = "e2e";
const ORG_NS = `org-${ORG}`;
/** Named in api.platformAdmins: creates an organization through the API after logging in. */
const PLATFORM_ADMIN = "platform@atrium.example";
const TEAM = "team";
const TEAM_NS = `org-${TEAM}`;
const OIDC_SECRET = "chart-real-node-oidc-secret";

describe.skipIf(!!unsupported)("the chart on the real node", () => {
  let cp: ControlPlane;
  let node: RealNode;
  let helm: string;
  const kubectl = (...args: string[]) => kubectlIn(cp.binDir, cp.kubeconfig, ...args).run();
  const apply = (object: object) =>
    kubectlIn(cp.binDir, cp.kubeconfig, "apply", "-f", "-").stdin(JSON.stringify(object));
  const helmIn = (...args: string[]) =>
    execFileSync(helm, [...args, `--kubeconfig=${cp.kubeconfig}`], { encoding: "utf8", stdio: "pipe" });
  const jsonOf = (...args: string[]) => JSON.parse(kubectl(...args, "-o", "json"));
  const helmAsync = (...args: string[]) =>
    run(helm, [...args, `--kubeconfig=${cp.kubeconfig}`], { encoding: "utf8" }).then((r) => r.stdout);
  let gatewayUrl: string;
  let values: string;
  let written = "";
  let front: FrontDoor;
  let oidc: OidcProviderHandle;
  let smtp: SmtpCapture;
  const appStopped = async () => {
    await until(
      "the app Stopped",
      async () => (jsonOf("get", "appinstance", "notes", "-n", ORG_NS).status?.phase === "Stopped" ? true : undefined),
      120_000,
      500,
    );
    await until(
      "the app's container gone",
      async () =>
        jsonOf("get", "pods", "-n", ORG_NS, "-l", "app.kubernetes.io/instance=notes").items.length === 0
          ? true
          : undefined,
      60_000,
      500,
    );
  };
  /** The node selector the admission plugin gives the organization's pods created from now on. */
  const annotateNodeSelector = (selector: string) =>
    kubectl(
      "annotate",
      "--overwrite",
      `namespace/${ORG_NS}`,
      `scheduler.alpha.kubernetes.io/node-selector=${selector}`,
    );

  beforeAll(async () => {
    helm = chartHelm();
    cp = await startControlPlane({ realNode: { images: ["demo-notes", "atrium"], services: true } });
    node = cp.realNode as RealNode;
    kubectl("create", "namespace", NAMESPACE);
    // The API's SQLite volume, writable by the chart's non-root user (the hostPath provisioner
    // makes root-owned folders).
    node.provideVolume(NAMESPACE, apiClaim(RELEASE));
    // Login, mail and the way in, where the node's pods reach the machine: its bridge address.
    // The front door stands for the load balancer browsers reach the API through (api.publicUrl);
    // the gateways reach the API through it too (gateway.apiUrl), as no cluster DNS runs here.
    front = await startFrontDoor(node.ip);
    oidc = await startOidcProvider({
      host: node.ip,
      clients: [{ clientId: "atrium", clientSecret: OIDC_SECRET, redirectUris: [`${front.url}/api/auth/callback`] }],
      users: [{ email: PLATFORM_ADMIN, name: "Pat Platform" }],
    });
    smtp = await startSmtpCapture({ host: node.ip });
    kubectl(
      "create",
      "secret",
      "generic",
      "atrium-oidc",
      "-n",
      NAMESPACE,
      `--from-literal=client-secret=${OIDC_SECRET}`,
    );
    kubectl("create", "secret", "generic", "atrium-smtp", "-n", NAMESPACE, `--from-literal=url=${smtp.url}`);
    const placed = realNodeValues();
    values = join(cp.dir, "real-node-values.json");
    writeFileSync(
      values,
      JSON.stringify({
        ...placed,
        gateway: {
          ...placed.gateway,
          apiUrl: front.url,
          // The test holds a wake for tens of seconds on purpose (through a whole rollout on a
          // shared machine): as long as a drain lasts, not the 60 s default.
          extraEnv: [{ name: "ATRIUM_GATEWAY_WAKE_TIMEOUT_MS", value: "75000" }],
        },
        api: {
          ...placed.api,
          publicUrl: front.url,
          platformAdmins: [PLATFORM_ADMIN],
          oidc: { issuer: oidc.issuer, existingSecret: "atrium-oidc" },
          smtp: { existingSecret: "atrium-smtp" },
          // The development provider speaks plain http, and not on the API's own loopback.
          extraEnv: [{ name: "ATRIUM_OIDC_ALLOW_HTTP", value: "true" }],
        },
      }),
    );
    helmIn("install", RELEASE, CHART, `--namespace=${NAMESPACE}`, `--values=${values}`, "--wait", "--timeout=3m");
    helmIn("install", "atrium-catalog", CATALOG_CHART, `--namespace=${NAMESPACE}`, "--wait");
    const apiService = jsonOf("get", "service", `${RELEASE}-api`, "-n", NAMESPACE);
    front.forwardTo(`http://${apiService.spec.clusterIP}:${apiService.spec.ports[0].port}`);
    const gateway = jsonOf("get", "service", `${RELEASE}-gateway`, "-n", NAMESPACE);
    gatewayUrl = `http://${gateway.spec.clusterIP}:${gateway.spec.ports[0].port}`;
  }, 600_000);

  afterAll(async () => {
    await Promise.all([front?.stop(), oidc?.stop(), smtp?.stop()]);
    await cp?.stop();
  });

  it("runs the operator, the gateway and the API from Atrium's image in containers on the real node, all Ready", () => {
    const pods = releasePods(cp, NAMESPACE, RELEASE);
    expect(everyComponentReady(pods, 1)).toBe(true);
    for (const pod of pods) {
      expect(pod.spec.nodeName).toBe(node.name);
      expect(pod.spec.containers.map((c) => c.image)).toEqual([IMAGES_BY_NAME.atrium.ref]);
    }
    // Each program's own log, read from the real kubelet: it started and holds its configuration.
    for (const component of ["operator", "gateway", "api"]) {
      const log = kubectl("logs", "-n", NAMESPACE, `deployment/${RELEASE}-${component}`);
      expect(log).toContain(`"component":"atrium-${component}"`);
    }
  });

  it("gets an organization Ready, installs the demo app, and serves it through the gateway's Service", async () => {
    apply({
      apiVersion: "atrium.dev/v1alpha1",
      kind: "Organization",
      metadata: { name: ORG },
      spec: { displayName: "E2E" },
    });
    await until("the organization's namespace", async () => jsonOf("get", "namespace", ORG_NS), 60_000);
    // The organization's pods go to the real node too (KWOK stays the default elsewhere).
    kubectl(
      "annotate",
      "--overwrite",
      `namespace/${ORG_NS}`,
      ...Object.entries(placeOnRealNodeAnnotations()).map(([k, v]) => `${k}=${v}`),
    );
    const org = await until(
      "the organization Ready",
      async () => {
        const o = jsonOf("get", "organization", ORG);
        return o.status?.conditions?.some(
          (c: { type: string; status: string }) => c.type === "Ready" && c.status === "True",
        )
          ? o
          : undefined;
      },
      60_000,
      500,
    );
    expect(org.status.namespace).toBe(ORG_NS);

    node.provideVolume(ORG_NS, "notes-data");
    apply({
      apiVersion: "atrium.dev/v1alpha1",
      kind: "AppInstance",
      metadata: { name: "notes", namespace: ORG_NS },
      spec: { template: "demo-notes", access: { policy: "Public" }, idle: { policy: "AlwaysOn" } },
    });
    await until(
      "the app Running",
      async () => (jsonOf("get", "appinstance", "notes", "-n", ORG_NS).status?.phase === "Running" ? true : undefined),
      180_000,
      500,
    );
    const [pod] = jsonOf("get", "pods", "-n", ORG_NS, "-l", "app.kubernetes.io/instance=notes").items;
    expect(pod.spec.nodeName).toBe(node.name);

    // From outside the cluster's pods, to the gateway's ClusterIP (kube-proxy), to the app's pod.
    const app = `${gatewayUrl}/apps/${ORG}/notes`;
    const page = await until(
      "the app's page through the gateway",
      async () => {
        const res = await fetch(`${app}/`).catch(() => undefined);
        return res?.status === 200 ? res : undefined;
      },
      60_000,
      500,
    );
    expect(await page.text()).toContain("<h1>Demo Notes</h1>");
    const note = `written through the chart's gateway ${Date.now()}`;
    const posted = await fetch(`${app}/`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ note }).toString(),
      redirect: "manual",
    });
    expect(posted.status).toBe(303);
    const notes = (await (await fetch(`${app}/notes`)).json()) as { text: string }[];
    expect(notes.map((n) => n.text)).toContain(note);
    written = note;
  }, 300_000);

  it("stops the app when idle", async () => {
    kubectl(
      "patch",
      "appinstance",
      "notes",
      "-n",
      ORG_NS,
      "--type=merge",
      "-p",
      '{"spec":{"idle":{"policy":"Auto","timeout":"5s"}}}',
    );
    await appStopped();
  }, 300_000);

  it("wakes it through the gateway with what was written, the request held across a helm upgrade that rolls the gateway: it and every request sent during the rollout get 200", async () => {
    // The request that wakes it is held by the gateway (in its pod) until the new container is
    // Ready. The test holds that start back: the namespace's node selector names no node, so the
    // woken pod stays Pending until the selector is put back, long after the gateway pod that
    // holds the request was told to stop.
    annotateNodeSelector("type=held-by-the-test");
    const [oldGateway] = releasePods(cp, NAMESPACE, RELEASE).filter(
      (p) => p.metadata.labels?.["app.kubernetes.io/component"] === "gateway",
    );
    if (!oldGateway) throw new Error("no gateway pod");
    const app = `${gatewayUrl}/apps/${ORG}/notes/notes`;
    const held = getOnFreshConnection(app);
    const heldSince = Date.now();
    await until(
      "the woken app's pod Pending",
      async () =>
        jsonOf("get", "pods", "-n", ORG_NS, "-l", "app.kubernetes.io/instance=notes").items.some(
          (p: { status: { phase: string } }) => p.status.phase === "Pending",
        ) || undefined,
      60_000,
      500,
    );

    // A changed gateway value: new pod template, so the Deployment rolls (surge one, then stop one).
    const rollout = join(cp.dir, "rollout-values.json");
    writeFileSync(rollout, JSON.stringify({ gateway: { podAnnotations: { "atrium.dev/rollout": "1" } } }));
    const upgraded = helmAsync(
      "upgrade",
      RELEASE,
      CHART,
      `--namespace=${NAMESPACE}`,
      `--values=${values}`,
      `--values=${rollout}`,
      "--wait",
      "--timeout=3m",
    );
    // Requests keep coming during the rollout, each on a new connection (as many clients would).
    const during: Promise<Answer>[] = [];
    let rolling = true;
    const sender = (async () => {
      while (rolling) {
        during.push(getOnFreshConnection(app));
        await sleep(1000);
      }
    })();
    const terminating = () => {
      const pod = jsonOf(
        "get",
        "pods",
        "-n",
        NAMESPACE,
        "--field-selector",
        `metadata.name=${oldGateway.metadata.name}`,
      ).items[0];
      return !pod || pod.metadata.deletionTimestamp ? true : undefined;
    };
    await until("the old gateway pod told to stop", async () => terminating(), 180_000, 250);
    const stoppedAfter = Date.now() - heldSince;
    // Past its 5 s of not-ready and past the 10 s drain the gateway had before (which cut held
    // requests): the request is still held, waiting for the app.
    await sleep(17_000);
    expect(await Promise.race([held.then(() => "answered"), sleep(0).then(() => "held")])).toBe("held");
    annotateNodeSelector(`${REAL_NODE_LABEL.key}=${REAL_NODE_LABEL.value}`);
    kubectl("delete", "pods", "-n", ORG_NS, "-l", "app.kubernetes.io/instance=notes", "--wait=false");

    const answer = await held;
    console.log(
      `[chart-real-node] held ${((Date.now() - heldSince) / 1000).toFixed(1)} s, the old gateway told to stop after ${(stoppedAfter / 1000).toFixed(1)} s`,
    );
    expect(answer.status).toBe(200);
    expect((JSON.parse(answer.body) as { text: string }[]).map((n) => n.text)).toContain(written);
    await upgraded;
    rolling = false;
    await sender;
    const answers = await Promise.all(during);
    expect(during.length).toBeGreaterThan(3);
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    const gateways = releasePods(cp, NAMESPACE, RELEASE).filter(
      (p) => p.metadata.labels?.["app.kubernetes.io/component"] === "gateway",
    );
    expect(gateways.map((p) => p.metadata.name)).not.toContain(oldGateway.metadata.name);
  }, 420_000);

  it("uninstalls the app", async () => {
    kubectl("delete", "appinstance", "notes", "-n", ORG_NS, "--wait=true", "--timeout=60s");
    await until(
      "the app's Deployment gone",
      async () => (jsonOf("get", "deployments", "-n", ORG_NS).items.length === 0 ? true : undefined),
      60_000,
      500,
    );
  }, 300_000);

  it("logs a platform administrator in through the OIDC provider, who creates an organization and installs the demo app for Members only, opened through the gateway with that login", async () => {
    // The whole login from the API's pod: discovery, the code exchange and userinfo at the
    // provider on the node's host.
    const login = await loginWithOidc({ apiBase: front.url, email: PLATFORM_ADMIN });
    const me = await call(front.url, { cookie: login.cookieHeader }, "GET", "/api/me");
    expect(me.status, JSON.stringify(me.body)).toBe(200);
    const admin: Caller = { cookie: login.cookieHeader, csrf: me.body.csrfToken };
    const created = await call(front.url, admin, "POST", "/api/orgs", {
      name: TEAM,
      displayName: "Team",
      admin: { email: PLATFORM_ADMIN },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    // Its first Admin joins through the invitation the API mailed (SMTP on the node's host).
    const token = /token=([\w-]+)/.exec((await smtp.waitForMessage(PLATFORM_ADMIN)).text)?.[1];
    expect(token).toBeTruthy();
    expect((await call(front.url, admin, "GET", `/api/invitations/accept?token=${token}`)).status).toBe(302);
    await until("the organization's namespace", async () => jsonOf("get", "namespace", TEAM_NS), 60_000);
    kubectl(
      "annotate",
      "--overwrite",
      `namespace/${TEAM_NS}`,
      ...Object.entries(placeOnRealNodeAnnotations()).map(([k, v]) => `${k}=${v}`),
    );
    node.provideVolume(TEAM_NS, "private-data");
    const installed = await call(front.url, admin, "POST", `/api/orgs/${TEAM}/apps`, {
      template: "demo-notes",
      name: "private",
      access: { policy: "Members" },
      idle: { policy: "AlwaysOn" },
    });
    expect(installed.status, JSON.stringify(installed.body)).toBe(201);
    await until(
      "the app Running",
      async () =>
        jsonOf("get", "appinstance", "private", "-n", TEAM_NS).status?.phase === "Running" ? true : undefined,
      180_000,
      1000,
    );

    // Through the gateway's Service: the gateway asks the API (forward-auth) about each caller.
    const app = `${gatewayUrl}/apps/${TEAM}/private/`;
    const page = await until(
      "the app's page with the login",
      async () => {
        const res = await fetch(app, { headers: { cookie: login.cookieHeader } }).catch(() => undefined);
        return res?.status === 200 ? res : undefined;
      },
      60_000,
      500,
    );
    expect(await page.text()).toContain("<h1>Demo Notes</h1>");
    // Nobody: 401 at once. A session the API does not know: 401 from the API (a gateway that
    // could not ask would answer 502). A browser without a login: sent to log in at the API.
    expect((await fetch(app)).status).toBe(401);
    expect((await fetch(app, { headers: { cookie: "atrium_session=not-a-session" } })).status).toBe(401);
    const browser = await fetch(app, { headers: { accept: "text/html" }, redirect: "manual" });
    expect(browser.status).toBe(302);
    expect(browser.headers.get("location")).toMatch(new RegExp(`^${front.url}/api/auth/login\\?returnTo=`));
  }, 420_000);

  it("helm uninstall stops Atrium and keeps the CRDs, the organization and the database volume", () => {
    helmIn("uninstall", RELEASE, `--namespace=${NAMESPACE}`, "--wait", "--timeout=2m");
    expect(jsonOf("get", "deployments", "-n", NAMESPACE).items).toEqual([]);
    expect(jsonOf("get", "crd", "organizations.atrium.dev").metadata.name).toBe("organizations.atrium.dev");
    expect(jsonOf("get", "organization", ORG).metadata.name).toBe(ORG);
    expect(jsonOf("get", "pvc", apiClaim(RELEASE), "-n", NAMESPACE).status.phase).toBe("Bound");
  });
});
