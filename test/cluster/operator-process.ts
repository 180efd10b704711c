// The real operator (operator/src/main.ts) as its own process, with its /statusz and metrics.
import { fileURLToPath } from "node:url";
import { operatorNodeFlags } from "../../operator/src/node-flags.ts";
import { startNodeProcess } from "./node-process.ts";
import { freePorts } from "./ports.ts";

const MAIN = fileURLToPath(new URL("../../operator/src/main.ts", import.meta.url));

export type OperatorProcess = Awaited<ReturnType<typeof startOperator>>;

export async function startOperator(options: {
  kubeconfig: string;
  id: string;
  leaseNamespace: string;
  leaseDurationMs?: number;
  env?: Record<string, string>;
}) {
  const [port] = (await freePorts(1)) as [number];
  const base = `http://127.0.0.1:${port}`;
  const proc = await startNodeProcess({
    name: `operator-${options.id}`,
    main: MAIN,
    // On its command line, as main.ts would otherwise start itself again with them.
    nodeFlags: operatorNodeFlags(),
    admin: base,
    env: {
      KUBECONFIG: options.kubeconfig,
      ATRIUM_OPERATOR_ADDR: `127.0.0.1:${port}`,
      ATRIUM_OPERATOR_ID: options.id,
      ATRIUM_OPERATOR_NAMESPACE: options.leaseNamespace,
      ATRIUM_LEASE_DURATION_MS: String(options.leaseDurationMs ?? 15_000),
      ...options.env,
    },
  });
  const status = async () =>
    (await (await fetch(`${base}/statusz`)).json()) as {
      leader: boolean;
      synced: boolean;
      queues: Record<string, number>;
    };
  return {
    ...proc,
    /** Base URL of its health and metrics server. */
    admin: base,
    status,
    /** Writes to anything but the leader Lease and Events: what steady state must not do. */
    objectWrites: () => proc.metric("atrium_operator_api_writes_total", (l) => !/resource="(leases|events)"/.test(l)),
    allWrites: () => proc.metric("atrium_operator_api_writes_total"),
    reconciles: (kind: string) => proc.metric("atrium_operator_reconcile_total", (l) => l.includes(`kind="${kind}"`)),
    /** Until reconciles stop changing and every queue is empty. */
    async settled(quietMs = 1500) {
      let last = -1;
      for (;;) {
        const s = await status();
        const total = await proc.metric("atrium_operator_reconcile_total");
        if (Object.values(s.queues).every((d) => d === 0) && total === last) return;
        last = total;
        await new Promise((r) => setTimeout(r, quietMs));
      }
    },
  };
}
