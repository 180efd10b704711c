// Runs the real operator (operator/src/main.ts) as a separate process, as it runs in a pod,
// and reads its /statusz and /metrics.
import { type ChildProcess, spawn } from "node:child_process";
import { openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePorts } from "../cluster/ports.ts";

const MAIN = fileURLToPath(new URL("../../operator/src/main.ts", import.meta.url));
const started = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of started) child.kill("SIGKILL");
});

export type OperatorProcess = Awaited<ReturnType<typeof startOperator>>;

export async function startOperator(options: {
  kubeconfig: string;
  id: string;
  leaseNamespace: string;
  leaseDurationMs?: number;
}) {
  const [port] = (await freePorts(1)) as [number];
  const logFile = join(tmpdir(), `atrium-operator-${options.id}-${port}.log`);
  const out = openSync(logFile, "a");
  const child = spawn(process.execPath, [MAIN], {
    stdio: ["ignore", out, out],
    env: {
      ...process.env,
      KUBECONFIG: options.kubeconfig,
      ATRIUM_OPERATOR_ADDR: `127.0.0.1:${port}`,
      ATRIUM_OPERATOR_ID: options.id,
      ATRIUM_OPERATOR_NAMESPACE: options.leaseNamespace,
      ATRIUM_LEASE_DURATION_MS: String(options.leaseDurationMs ?? 15_000),
    },
  });
  started.add(child);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const base = `http://127.0.0.1:${port}`;

  const status = async () =>
    (await (await fetch(`${base}/statusz`)).json()) as {
      leader: boolean;
      synced: boolean;
      queues: Record<string, number>;
    };
  /** Sums a metric's samples whose labels pass `where`. */
  const metric = async (name: string, where: (labels: string) => boolean = () => true) => {
    const text = await (await fetch(`${base}/metrics`)).text();
    let sum = 0;
    for (const line of text.split("\n")) {
      const m = line.match(/^(\w+)(\{[^}]*\})? (\S+)$/);
      if (m && m[1] === name && where(m[2] ?? "")) sum += Number(m[3]);
    }
    return sum;
  };

  const op = {
    logFile,
    pid: child.pid as number,
    exited,
    status,
    metric,
    /** Writes to anything but the leader Lease and Events: what steady state must not do. */
    objectWrites: () => metric("atrium_operator_api_writes_total", (l) => !/resource="(leases|events)"/.test(l)),
    allWrites: () => metric("atrium_operator_api_writes_total"),
    reconciles: (kind: string) => metric("atrium_operator_reconcile_total", (l) => l.includes(`kind="${kind}"`)),
    async waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (await check().catch(() => false)) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`timed out waiting for ${what} (operator log: ${logFile})`);
    },
    /** Until reconciles stop changing and every queue is empty. */
    async settled(quietMs = 1500) {
      let last = -1;
      for (;;) {
        const s = await status();
        const total = await metric("atrium_operator_reconcile_total");
        if (Object.values(s.queues).every((d) => d === 0) && total === last) return;
        last = total;
        await new Promise((r) => setTimeout(r, quietMs));
      }
    },
    kill(signal: NodeJS.Signals = "SIGTERM") {
      child.kill(signal);
      return exited;
    },
  };
  await op.waitUntil("the operator to be ready", async () => (await fetch(`${base}/readyz`)).ok, 30_000);
  return op;
}
