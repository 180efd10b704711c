// Runs the real operator (operator/src/main.ts) as a separate process, as it runs in a pod,
// and reads its /statusz and /metrics.
import { spawn } from "node:child_process";
import { existsSync, openSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { OPERATOR_NODE_FLAGS } from "../../operator/src/node-flags.ts";
import { freePorts } from "./ports.ts";

const MAIN = fileURLToPath(new URL("../../operator/src/main.ts", import.meta.url));
const LEASH = fileURLToPath(new URL("./leash.sh", import.meta.url));
const NODE_FLAGS = process.env.ATRIUM_OPERATOR_NODE_FLAGS?.split(" ").filter(Boolean) ?? OPERATOR_NODE_FLAGS;

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
  const pidFile = `${logFile}.pid`;
  // Leashed like the control plane: the operator dies with the test run however it ends.
  const child = spawn("bash", [LEASH, process.execPath, ...NODE_FLAGS, MAIN], {
    stdio: ["pipe", out, out],
    env: {
      LEASH_PIDFILE: pidFile,
      ...process.env,
      KUBECONFIG: options.kubeconfig,
      ATRIUM_OPERATOR_ADDR: `127.0.0.1:${port}`,
      ATRIUM_OPERATOR_ID: options.id,
      ATRIUM_OPERATOR_NAMESPACE: options.leaseNamespace,
      ATRIUM_LEASE_DURATION_MS: String(options.leaseDurationMs ?? 15_000),
    },
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const pid = async () => {
    for (;;) {
      const text = existsSync(pidFile) ? readFileSync(pidFile, "utf8").trim() : "";
      if (text) return Number(text);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
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
    pid: await pid(),
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
    /** Signals the operator process itself (the leash then exits with it). */
    kill(signal: NodeJS.Signals = "SIGTERM") {
      try {
        process.kill(op.pid, signal);
      } catch {
        // already gone
      }
      return exited;
    },
  };
  await op.waitUntil("the operator to be ready", async () => (await fetch(`${base}/readyz`)).ok, 30_000);
  return op;
}
