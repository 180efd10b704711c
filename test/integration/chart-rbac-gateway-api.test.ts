// The chart's Gateway API mode on a real apiserver (docs/adr/0017's proof, for the other
// routing mode): the chart is installed with helm with routing.mode=gateway-api and the data
// plane's pods named, on a private control plane that has the Gateway API's and Envoy Gateway's
// CRDs (as the module ships them) and a data plane pod (KWOK runs it at its own address). The
// real operator and gateway run with their ServiceAccounts' tokens, with the settings the chart
// rendered, each behind a recording proxy: the operator writes apps' HTTPRoutes, selector-less
// route Services, EndpointSlices (moved to the activator for a stop), a SecurityPolicy and the
// API's ReferenceGrant; the gateway follows the data plane's pods (its Role there) and reads
// their statistics. Neither is refused once; what each ServiceAccount may do in this mode is
// kept in chart-rbac/gateway-api-<component>.txt (ATRIUM_UPDATE_GOLDEN=1 rewrites them). Then
// helm upgrade to the embedded mode takes every one of those rights away again: the rights are
// then exactly the embedded proof's (chart-rbac/<component>.txt, chart-rbac.test.ts).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { namespaceFor } from "@atrium/crds";
import { KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, kubectlIn, startControlPlane } from "../cluster/controlplane.ts";
import { ensureDataplaneBinaries, installDataplaneCrds } from "../cluster/dataplane.ts";
import { echoTemplate } from "../cluster/fake-pods.ts";
import { type GatewayProcess, startGateway } from "../cluster/gateway-process.ts";
import { type OperatorProcess, startOperator } from "../cluster/operator-process.ts";
import { until } from "../cluster/until.ts";
import { type RecordingProxy, startRecordingProxy } from "./chart-rbac/recording-proxy.ts";
import type { Obj } from "./kube.ts";

const root = join(import.meta.dirname, "..", "..");
const CHART = join(root, "charts", "atrium");
const GOLDEN = join(import.meta.dirname, "chart-rbac");
// As in chart-rbac.test.ts, so that the embedded mode's rights compare with its files.
const RELEASE = "atrium";
const NAMESPACE = "atrium-system";
const DATA_PLANE = "envoy-gateway-system";
const DATA_PLANE_LABELS = { "gateway.envoyproxy.io/owning-gateway-name": "public" };
const COMPONENTS = ["operator", "gateway"] as const;
type Component = (typeof COMPONENTS)[number];
const A = "atrium.dev/v1alpha1";
const ORG = "gwrbac";
const NS = namespaceFor(ORG);

let cp: ControlPlane;
let helm: string;
let dir: string;
let kc: KubeConfig;
let objects: KubernetesObjectApi;
const proxies = {} as Record<Component, RecordingProxy>;
let operator: OperatorProcess;
let gateway: GatewayProcess;
let stats: Server | undefined;
let statsReads = 0;

const kubectl = (...args: string[]) => kubectlIn(cp.binDir, cp.kubeconfig, ...args).run();
const serviceAccount = (c: Component) => `${RELEASE}-${c}`;
const read = (apiVersion: string, kind: string, name: string, namespace?: string) =>
  objects.read({ apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } }) as Promise<any>;
const condition = (o: any, type: string) => o?.status?.conditions?.find((c: any) => c.type === type);

/** `kubectl auth can-i --list` as one rule per line (as chart-rbac.test.ts keeps it). */
function table(text: string): string {
  const [header = "", ...rows] = text.trimEnd().split("\n");
  const starts = ["Resources", "Non-Resource URLs", "Resource Names", "Verbs"].map((h) => header.indexOf(h));
  const cells = (line: string) => starts.map((at, i) => line.slice(at, starts[i + 1]).trim());
  return `${[header, ...rows].map((line) => cells(line).join(" | ")).join("\n")}\n`;
}
const rights = (c: Component, namespace = NAMESPACE) =>
  table(
    kubectl(
      "auth",
      "can-i",
      "--list",
      `--namespace=${namespace}`,
      `--as=system:serviceaccount:${NAMESPACE}:${serviceAccount(c)}`,
    ),
  );
const can = (c: Component, verb: string, resource: string, namespace: string) => {
  try {
    return (
      kubectl(
        "auth",
        "can-i",
        verb,
        resource,
        `--namespace=${namespace}`,
        `--as=system:serviceaccount:${NAMESPACE}:${serviceAccount(c)}`,
      ).trim() === "yes"
    );
  } catch {
    return false; // kubectl auth can-i exits 1 on "no"
  }
};

/** The ATRIUM_* settings with a plain value that the chart gave a component's Deployment, but its own addresses. */
function chartEnv(c: Component): Record<string, string> {
  const deployment = JSON.parse(
    kubectl("get", "deployment", serviceAccount(c), `--namespace=${NAMESPACE}`, "-o", "json"),
  );
  const env: { name: string; value?: string }[] = deployment.spec.template.spec.containers[0].env;
  const local = /_ADDR$|^ATRIUM_OPERATOR_(ID|NAMESPACE)$|^ATRIUM_LEASE_DURATION_MS$|^ATRIUM_GATEWAY_AUTH_URL$/;
  return Object.fromEntries(
    env.filter((e) => e.value !== undefined && !local.test(e.name)).map((e) => [e.name, e.value as string]),
  );
}

const gatewayApiValues = [
  "--set=operator.replicas=1,gateway.replicas=1,api.replicas=1",
  "--set=routing.mode=gateway-api",
  "--set=routing.gatewayApi.parentRef.namespace=gateways,routing.gatewayApi.parentRef.name=public",
  "--set=gateway.service.clusterIP=10.96.0.20",
  // The stop's checks through a data plane are stop-checks' and dataplane-stop.test.ts's: none runs here.
  "--set=routing.gatewayApi.stopUnconfirmed=true,routing.gatewayApi.stopGrace=1s",
  `--set=routing.gatewayApi.dataPlane.namespace=${DATA_PLANE}`,
  `--set-json=routing.gatewayApi.dataPlane.podLabels=${JSON.stringify(DATA_PLANE_LABELS)}`,
];

beforeAll(async () => {
  helm = `${execFileSync("bash", [join(root, "charts", "tools.sh")], { encoding: "utf8" })
    .trim()
    .split("\n")
    .at(-1)}/helm`;
  const bin = ensureDataplaneBinaries();
  cp = await startControlPlane();
  dir = mkdtempSync(join(tmpdir(), "atrium-chart-rbac-gwapi-"));
  kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  objects = KubernetesObjectApi.makeApiClient(kc);
  installDataplaneCrds((...args) => kubectlIn(cp.binDir, cp.kubeconfig, ...args), bin);
  for (const ns of [NAMESPACE, DATA_PLANE]) kubectl("create", "namespace", ns);
  // Established is not yet served: the operator checks these kinds once at start.
  for (const kind of [
    "securitypolicies.gateway.envoyproxy.io",
    "referencegrants.gateway.networking.k8s.io",
    "httproutes",
  ])
    await until(`${kind} served`, async () => kubectl("get", kind, "--all-namespaces") !== undefined);

  // One proxy pod of the data plane (once the namespace has its default ServiceAccount), and its
  // statistics at its address on the chart's stats port (below).
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "envoy-public", namespace: DATA_PLANE, labels: DATA_PLANE_LABELS },
    spec: { containers: [{ name: "envoy", image: "envoyproxy/envoy:distroless-v1.36.2" }] },
  };
  await until("the data plane pod created", async () =>
    kubectlIn(cp.binDir, cp.kubeconfig, "apply", "-f", "-").stdin(JSON.stringify(pod)),
  );

  execFileSync(
    helm,
    ["install", RELEASE, CHART, `--kubeconfig=${cp.kubeconfig}`, `--namespace=${NAMESPACE}`, ...gatewayApiValues],
    { encoding: "utf8" },
  );
  kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "-l", `app.kubernetes.io/instance=${RELEASE}`);

  const cluster = kc.getCurrentCluster();
  const ca = Buffer.from(cluster?.caData ?? "", "base64");
  for (const c of COMPONENTS) {
    const token = kubectl("create", "token", serviceAccount(c), `--namespace=${NAMESPACE}`, "--duration=2h").trim();
    proxies[c] = await startRecordingProxy({ server: cluster?.server ?? "", ca, token, dir, name: c });
  }

  const podIp = await until("the data plane pod's address", async () => {
    const pod = JSON.parse(kubectl("get", "pod", "envoy-public", `--namespace=${DATA_PLANE}`, "-o", "json"));
    return pod.status?.podIP as string | undefined;
  });
  const gatewayEnv = chartEnv("gateway");
  stats = createServer((req, res) => {
    if (req.url?.startsWith("/stats/prometheus")) statsReads++;
    res.end(`envoy_cluster_upstream_rq_total{envoy_cluster_name="httproute/${NS}/pub/rule/0"} 0\n`);
  });
  await new Promise<void>((r) => stats?.listen(Number(gatewayEnv.ATRIUM_DATAPLANE_STATS_PORT), podIp, r));

  operator = await startOperator({
    kubeconfig: proxies.operator.kubeconfig,
    id: "chart-rbac-gwapi",
    leaseNamespace: NAMESPACE,
    leaseDurationMs: 4000,
    env: chartEnv("operator"),
  });
  gateway = await startGateway({
    kubeconfig: proxies.gateway.kubeconfig,
    env: { ...gatewayEnv, ATRIUM_DATAPLANE_STATS_INTERVAL_MS: "300", ATRIUM_GATEWAY_FLUSH_INTERVAL_MS: "300" },
  });
}, 600_000);

afterAll(async () => {
  await gateway?.kill();
  await operator?.kill();
  for (const p of Object.values(proxies)) await p.close();
  stats?.close();
  await cp?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the chart's roles in Gateway API mode, used by the real components", () => {
  it("let the operator route apps through the data plane: HTTPRoutes, route Services, EndpointSlices, access policies", async () => {
    await objects.create({
      apiVersion: A,
      kind: "Organization",
      metadata: { name: ORG },
      spec: { displayName: "GW" },
    } as Obj);
    await until(
      "the organization Ready",
      async () => (condition(await read(A, "Organization", ORG), "Ready")?.status === "True" ? true : undefined),
      60_000,
    );
    await objects.create(echoTemplate() as Obj);
    const app = (name: string, policy: string) =>
      objects.create({
        apiVersion: A,
        kind: "AppInstance",
        metadata: { name, namespace: NS },
        spec: { template: "echo", access: { policy }, idle: { policy: "Auto", timeout: "3s" } },
      } as Obj);
    await app("pub", "Public");
    await app("members", "Members");
    const gw = "gateway.networking.k8s.io/v1";
    for (const name of ["pub", "members"]) {
      await until(`${name}'s HTTPRoute`, () => read(gw, "HTTPRoute", name, NS));
      await until(`${name}'s route Service`, () => read("v1", "Service", `${name}-route`, NS));
    }
    // Members only: Envoy Gateway asks the API about every request (a SecurityPolicy, and the
    // grant in the release namespace that lets it reach the API's Service).
    await until("members' SecurityPolicy", async () => {
      const list = (await objects.list("gateway.envoyproxy.io/v1alpha1", "SecurityPolicy", NS)).items;
      return list.length ? list : undefined;
    });
    // Public: the credential filter (an EnvoyExtensionPolicy) instead.
    await until("pub's EnvoyExtensionPolicy", () =>
      read("gateway.envoyproxy.io/v1alpha1", "EnvoyExtensionPolicy", "pub-credentials", NS),
    );
    await until("the API's ReferenceGrant", async () => {
      const list = (await objects.list("gateway.networking.k8s.io/v1beta1", "ReferenceGrant", NAMESPACE)).items;
      return list.length ? list : undefined;
    });
    // Made Public: its policy goes.
    kubectlIn(
      cp.binDir,
      cp.kubeconfig,
      "patch",
      "appinstance",
      "members",
      `--namespace=${NS}`,
      "--type=merge",
      "-p",
      '{"spec":{"access":{"policy":"Public"}}}',
    ).run();
    await until("members' SecurityPolicy deleted", async () => {
      const list = (await objects.list("gateway.envoyproxy.io/v1alpha1", "SecurityPolicy", NS)).items;
      return list.length ? undefined : true;
    });
    // Idle: the endpoints go to the activator (the EndpointSlice rewritten), then zero replicas.
    await until(
      "pub Stopped",
      async () => ((await read(A, "AppInstance", "pub", NS)).status?.phase === "Stopped" ? true : undefined),
      60_000,
    );
    const slices = JSON.parse(
      kubectl("get", "endpointslices", `--namespace=${NS}`, "-l", "kubernetes.io/service-name=pub-route", "-o", "json"),
    ).items;
    expect(slices.flatMap((s: any) => s.endpoints.flatMap((e: any) => e.addresses))).toEqual(["10.96.0.20"]);
  });

  it("let the gateway follow the data plane's pods and read their statistics", async () => {
    const before = statsReads;
    await until("two more readings of the data plane pod", async () => (statsReads >= before + 2 ? true : undefined));
    expect(
      proxies.gateway.answers.some(
        (a) => a.status === 200 && a.url.startsWith(`/api/v1/namespaces/${DATA_PLANE}/pods`),
      ),
    ).toBe(true);
  });

  it("let the operator follow the data plane's pods for a stop's checks, with its cluster-wide read of pods", async () => {
    // With the pods named, the chart gives it their namespace, labels and stats port: it watches
    // them (stop-checks.ts) and re-checked pub's stop at the pod's statistics.
    expect(chartEnv("operator")).toMatchObject({
      ATRIUM_DATA_PLANE_NAMESPACE: DATA_PLANE,
      ATRIUM_DATAPLANE_STATS_PORT: "19001",
    });
    const watched = (a: { status: number; url: string }) =>
      a.status === 200 && a.url.startsWith(`/api/v1/namespaces/${DATA_PLANE}/pods`);
    await until("the operator's watch of the data plane's pods", async () => proxies.operator.answers.some(watched));
    expect(can("operator", "watch", "pods", DATA_PLANE)).toBe(true);
  });

  it("gave neither component a single RBAC denial, and the writes this mode needs went through", () => {
    for (const c of COMPONENTS) {
      expect(proxies[c].answers.length, `${c} made requests`).toBeGreaterThan(0);
      const denied = proxies[c].forbidden().map((a) => `${a.method} ${a.url}`);
      expect(denied, `${c} was refused`).toEqual([]);
    }
    const wrote = (pattern: RegExp) =>
      proxies.operator.answers.some((a) => a.method !== "GET" && a.status < 300 && pattern.test(a.url));
    expect(wrote(/\/httproutes\//)).toBe(true);
    expect(wrote(/\/endpointslices\/pub-route/)).toBe(true);
    expect(wrote(/\/services\/pub-route/)).toBe(true);
    expect(wrote(/\/securitypolicies\//)).toBe(true);
    expect(wrote(/\/referencegrants\//)).toBe(true);
    expect(wrote(/\/envoyextensionpolicies\/pub-credentials/)).toBe(true);
    expect(
      proxies.operator.answers.some(
        (a) => a.method === "DELETE" && a.status < 300 && /\/securitypolicies\//.test(a.url),
      ),
    ).toBe(true);
  });

  it("match the reviewed rights of each ServiceAccount in this mode (chart-rbac/gateway-api-<component>.txt)", () => {
    const files: [string, string][] = [
      ["gateway-api-operator.txt", rights("operator")],
      ["gateway-api-gateway.txt", rights("gateway")],
      // Its Role in the data plane's namespace, and nothing else there.
      ["gateway-api-gateway-data-plane.txt", rights("gateway", DATA_PLANE)],
    ];
    for (const [name, text] of files) {
      const file = join(GOLDEN, name);
      if (process.env.ATRIUM_UPDATE_GOLDEN === "1") writeFileSync(file, text);
      expect(text, `${name}: run with ATRIUM_UPDATE_GOLDEN=1 after a reviewed change`).toBe(readFileSync(file, "utf8"));
    }
    expect(can("gateway", "watch", "pods", DATA_PLANE)).toBe(true);
    expect(can("gateway", "watch", "pods", NS)).toBe(false);
  });

  it("take every right of this mode away in the embedded mode: exactly the embedded proof's rights are left", () => {
    execFileSync(helm, [
      "upgrade",
      RELEASE,
      CHART,
      `--kubeconfig=${cp.kubeconfig}`,
      `--namespace=${NAMESPACE}`,
      "--reuse-values",
      "--set=routing.mode=embedded",
    ]);
    expect(can("operator", "patch", "httproutes.gateway.networking.k8s.io", NS)).toBe(false);
    expect(can("operator", "create", "endpointslices.discovery.k8s.io", NS)).toBe(false);
    expect(can("operator", "list", "securitypolicies.gateway.envoyproxy.io", NS)).toBe(false);
    expect(can("operator", "create", "envoyextensionpolicies.gateway.envoyproxy.io", NS)).toBe(false);
    expect(can("operator", "create", "referencegrants.gateway.networking.k8s.io", NAMESPACE)).toBe(false);
    expect(can("gateway", "watch", "pods", DATA_PLANE)).toBe(false);
    for (const c of COMPONENTS) expect(rights(c), c).toBe(readFileSync(join(GOLDEN, `${c}.txt`), "utf8"));
  });
});
