// What the warm-traffic scenarios (gateway-warm, dataplane-warm) share: the backend process on
// a pod's address, nginx in front of it, and wrk with each proxy's CPU per request.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { freePorts } from "../test/cluster/ports.ts";
import { cpuTime, microsPerRequest } from "./cpu.ts";
import { wrk } from "./wrk.ts";

export const LEASH = fileURLToPath(new URL("../test/cluster/leash.sh", import.meta.url));
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
export const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

/** The pid a leash.sh child wrote (its program's, not bash's), once it is there. */
export const pidIn = (file: string) => (existsSync(file) ? Number(readFileSync(file, "utf8")) : undefined);

/**
 * wrk with one thread, warning when anything but 2xx came back; with a pid, also the CPU time
 * that process (and its children) spent per request.
 */
export async function load(
  log: (m: string) => void,
  url: string,
  connections: number,
  pid?: number,
  headers?: Record<string, string>,
) {
  const before = pid ? cpuTime(pid) : undefined;
  const r = await wrk(url, { connections, seconds: SECONDS, headers });
  const cpu = pid && before ? microsPerRequest(before, cpuTime(pid), r.requests) : undefined;
  if (r.non2xx) log(`warning from wrk for ${url}: non-2xx answers or socket errors`);
  return { ...r, cpu };
}

/** The running pod's address of one app in org-bench. */
export async function podIp(kc: KubeConfig, app: string): Promise<string> {
  const pods = await kc
    .makeApiClient(CoreV1Api)
    .listNamespacedPod({ namespace: "org-bench", labelSelector: `app.kubernetes.io/instance=${app}` });
  return pods.items.find((p) => p.status?.phase === "Running")?.status?.podIP ?? "";
}

/** The backend: its own process on the pod's address, so it shares an event loop with nothing measured. */
export function startBackend(ip: string, children: ChildProcess[]) {
  const backend = `require("http").createServer((q,s)=>s.end("ok")).listen(8080,"${ip}")`;
  children.push(spawn("bash", [LEASH, process.execPath, "-e", backend], { stdio: ["pipe", "inherit", "inherit"] }));
}

/** nginx with one worker and a keep-alive upstream to the backend; its URL and the file with its master's pid. */
export async function startNginx(dir: string, ip: string, children: ChildProcess[]) {
  const [port] = (await freePorts(1)) as [number];
  writeFileSync(
    join(dir, "nginx.conf"),
    `worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 4096; }
http { access_log off;
  upstream app { server ${ip}:8080; keepalive 64; }
  server { listen 127.0.0.1:${port};
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host $host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; } } }\n`,
  );
  const pidFile = join(dir, "leash.pid");
  children.push(
    spawn(
      "bash",
      [LEASH, process.env.NGINX ?? "/usr/sbin/nginx", "-p", dir, "-c", join(dir, "nginx.conf"), "-g", "daemon off;"],
      { stdio: ["pipe", "inherit", "inherit"], env: { ...process.env, LEASH_PIDFILE: pidFile } },
    ),
  );
  return { url: `http://127.0.0.1:${port}/`, pidFile };
}
