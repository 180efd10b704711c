// gateway-warm: one loopback backend measured five ways with the same load generator, in
// alternating rounds: direct, through nginx (one worker, keep-alive upstream), through the
// Atrium gateway (one process), and through a minimal proxy on Node's public APIs only
// (node:http server with an http.Agent client, and with an undici Pool client: what leaving
// Node's internals would cost, docs/adr/0007). wrk -c50 for throughput and the proxies' CPU per
// request, wrk -c1 for latency.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gatewayNodeFlags } from "../../gateway/src/node-flags.ts";
import { freePorts } from "../../test/cluster/ports.ts";
import { until } from "../../test/cluster/until.ts";
import { writeResult } from "../results.ts";
import { gatewayStack } from "../setup.ts";
import { median } from "../stats.ts";
import { LEASH, load as loadWith, pidIn, podIp, ROUNDS, SECONDS, startBackend, startNginx } from "../warm.ts";

// Five rounds (BENCH_ROUNDS): the machine's background load drifts by 10 % or more within a run.
const PUBLIC_API_PROXY = fileURLToPath(new URL("../public-api-proxy.ts", import.meta.url));
const log = (m: string) => console.log(`[gateway-warm] ${m}`);
const load = (url: string, connections: number, pid?: number) => loadWith(log, url, connections, pid);

export async function run() {
  execFileSync("bash", [fileURLToPath(new URL("../ensure-tools.sh", import.meta.url))], { stdio: "inherit" });
  const stack = await gatewayStack(log);
  const children: ReturnType<typeof spawn>[] = [];
  try {
    await stack.install("warm", { policy: "AlwaysOn" });
    const ip = await until(
      "a pod address",
      async () =>
        ((await stack.read("warm")).status?.phase === "Running" && (await podIp(stack.kc, "warm"))) || undefined,
    );
    startBackend(ip, children);
    const dir = mkdtempSync(join(tmpdir(), "atrium-nginx-"));
    const nginx = await startNginx(dir, ip, children);
    // The public-API contenders: their own processes, with the gateway's V8 flags.
    const [agentPort, undiciPort] = (await freePorts(2)) as [number, number];
    const publicPidFile = (client: string) => join(dir, `${client}.pid`);
    for (const [client, port] of [
      ["agent", agentPort],
      ["undici", undiciPort],
    ] as const)
      children.push(
        spawn(
          "bash",
          [LEASH, process.execPath, ...gatewayNodeFlags(), PUBLIC_API_PROXY, client, `127.0.0.1:${port}`, `${ip}:8080`],
          { stdio: ["pipe", "inherit", "inherit"], env: { ...process.env, LEASH_PIDFILE: publicPidFile(client) } },
        ),
      );
    const targets = {
      direct: `http://${ip}:8080/`,
      nginx: nginx.url,
      gateway: `${stack.gateway.url}/apps/bench/warm/`,
      public_api: `http://127.0.0.1:${agentPort}/`,
      public_undici: `http://127.0.0.1:${undiciPort}/`,
    };
    for (const url of Object.values(targets))
      await until(`${url} to answer`, async () => (await fetch(url)).status === 200, 30_000);
    // The proxies' own processes (nginx's master with its worker): CPU per request.
    const pids: Record<string, number | undefined> = {
      nginx: pidIn(nginx.pidFile),
      gateway: stack.gateway.pid,
      public_api: pidIn(publicPidFile("agent")),
      public_undici: pidIn(publicPidFile("undici")),
    };
    for (const url of Object.values(targets)) await load(url, 10); // warm-up (JIT, pools)

    type Samples = { rps: number[]; p99: number[]; user: number[]; system: number[]; total: number[] };
    const samples: Record<string, Samples> = Object.fromEntries(
      Object.keys(targets).map((name) => [name, { rps: [], p99: [], user: [], system: [], total: [] }]),
    );
    for (let round = 0; round < ROUNDS; round++)
      for (const [name, url] of Object.entries(targets)) {
        const s = samples[name] as Samples;
        const throughput = await load(url, 50, pids[name]);
        s.rps.push(throughput.rps);
        if (throughput.cpu) {
          s.user.push(throughput.cpu.user);
          s.system.push(throughput.cpu.system);
          s.total.push(throughput.cpu.total);
        }
        s.p99.push((await load(url, 1)).p99);
        const cpu = throughput.cpu
          ? `, proxy CPU ${throughput.cpu.user.toFixed(1)} µs user + ${throughput.cpu.system.toFixed(1)} µs system per request`
          : "";
        log(`round ${round + 1} ${name}: ${s.rps.at(-1)} rps${cpu}, p99 ${s.p99.at(-1)} ms at 1 connection`);
      }
    const rps = (n: string) => Math.round(median(samples[n]?.rps ?? []));
    const p99 = (n: string) => median(samples[n]?.p99 ?? []);
    /** The p99 a proxy adds over the backend alone, at one connection (medians of the rounds). */
    const addedP99 = (n: string) => Math.round((p99(n) - p99("direct")) * 1000) / 1000;
    const cpuMicros = (n: string, kind: "user" | "system" | "total") =>
      Math.round(median(samples[n]?.[kind] ?? []) * 10) / 10;
    // Each round measures nginx and the others seconds apart: their ratio within a round is
    // paired, so a drift in the machine's load between rounds cancels out of it.
    const paired = (a: string, b: string, kind: "rps" | "total" = "rps") =>
      Math.round(median((samples[a]?.[kind] ?? []).map((x, i) => x / (samples[b]?.[kind][i] ?? Number.NaN))) * 100) /
      100;
    writeResult({
      scenario: "gateway-warm",
      method:
        `wrk 4.1 (1 thread) for ${SECONDS} s per sample against one Node backend process on a pod address: direct, ` +
        `nginx 1.22 (1 worker, keepalive upstream), the gateway (1 process) and two public-API proxies (1 process ` +
        `each), ${ROUNDS} alternating rounds; ` +
        "rps at 50 connections, p99 at 1 connection; medians of the rounds; the ratio is the median of the " +
        "per-round ratios; CPU per request (user + system) of each proxy's processes from /proc during the " +
        "50-connection samples, its ratio to nginx's paired per round likewise. public_api: a minimal proxy on " +
        "Node's public APIs only (node:http server, http.Agent keep-alive client; public_undici: undici Pool client; " +
        "bench/public-api-proxy.ts), no routing or access checks, with the gateway's V8 flags. " +
        "All on the same 2 cores, shared with other work.",
      metrics: {
        direct_rps: rps("direct"),
        nginx_rps: rps("nginx"),
        gateway_rps: rps("gateway"),
        ratio_gateway_vs_nginx_rps: paired("gateway", "nginx"),
        ratio_cpu_per_req_vs_nginx: paired("gateway", "nginx", "total"),
        added_p99_ms: addedP99("gateway"),
        // nginx's beside it: a p99 moves with the machine (nginx's own spread from 0.5 to 27 ms in
        // one run), so the gateway's figure is read against what nginx added in the same rounds.
        nginx_added_p99_ms: addedP99("nginx"),
        nginx_cpu_user_us_per_req: cpuMicros("nginx", "user"),
        nginx_cpu_system_us_per_req: cpuMicros("nginx", "system"),
        gateway_cpu_user_us_per_req: cpuMicros("gateway", "user"),
        gateway_cpu_system_us_per_req: cpuMicros("gateway", "system"),
        public_api_rps: rps("public_api"),
        ratio_public_api_vs_nginx_rps: paired("public_api", "nginx"),
        ratio_public_api_cpu_per_req_vs_nginx: paired("public_api", "nginx", "total"),
        public_api_cpu_us_per_req: cpuMicros("public_api", "total"),
        public_api_added_p99_ms: addedP99("public_api"),
        public_undici_rps: rps("public_undici"),
        ratio_public_undici_vs_nginx_rps: paired("public_undici", "nginx"),
        ratio_public_undici_cpu_per_req_vs_nginx: paired("public_undici", "nginx", "total"),
        public_undici_cpu_us_per_req: cpuMicros("public_undici", "total"),
        public_undici_added_p99_ms: addedP99("public_undici"),
      },
      goals: { ratio_gateway_vs_nginx_rps: ">= 0.7", ratio_cpu_per_req_vs_nginx: "<= 2.0", added_p99_ms: "<= 1" },
    });
  } finally {
    for (const c of children) c.stdin?.end();
    await stack.close();
  }
}
