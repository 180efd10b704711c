#!/usr/bin/env node
// The operator process. Configuration comes from the environment (the Helm chart sets it):
//   KUBECONFIG                  kubeconfig file; in a pod the service account is used
//   ATRIUM_OPERATOR_ADDR        host:port for /healthz, /readyz, /metrics (default 0.0.0.0:8080)
//   ATRIUM_OPERATOR_NAMESPACE   where the leader-election Lease lives (default atrium-system)
//   ATRIUM_OPERATOR_ID          this replica's identity (default hostname-pid)
//   ATRIUM_LEASE_DURATION_MS    leader lease (default 15000)
//   ATRIUM_SHUTDOWN_DELAY_MS    on SIGTERM, how long /readyz answers 503 before the operator
//                               stops (default 0: it stops at once; readiness fails first anyway)
//   ATRIUM_BASE_DOMAIN, ATRIUM_GATEWAY_NAMESPACE, ATRIUM_APP_URL_TEMPLATE,
//   ATRIUM_ORG_DELETION_GRACE (default 30d)                                 see config.ts
import { createServer } from "node:http";
import { hostname } from "node:os";
import { applyNodeFlags, envNumber, errorMessage, jsonLogger, nodeRuntime, sleep } from "@atrium/kube";
import { KubeConfig } from "@kubernetes/client-node";
import { defaultConfig } from "./config.ts";
import { operatorNodeFlags } from "./node-flags.ts";
import { createOperator } from "./operator.ts";
import { operatorMetrics } from "./runtime/metrics.ts";

const env = process.env;
const log = jsonLogger("atrium-operator");
// Its V8 flags, however it was started (a plain `node main.ts` starts again with them).
try {
  applyNodeFlags(operatorNodeFlags(env));
} catch (e) {
  log("Operator cannot start with its V8 flags", { error: errorMessage(e) }, "error");
  process.exit(1);
}
log("Node runtime", nodeRuntime());
const metrics = operatorMetrics();
const kc = new KubeConfig();
kc.loadFromDefault();

const operator = createOperator({
  kc,
  config: defaultConfig(env),
  metrics,
  log,
  identity: env.ATRIUM_OPERATOR_ID ?? `${hostname()}-${process.pid}`,
  leaseNamespace: env.ATRIUM_OPERATOR_NAMESPACE ?? "atrium-system",
  leaseDurationMs: envNumber(env, "ATRIUM_LEASE_DURATION_MS", 15_000, 1000),
});

const [host, port] = (env.ATRIUM_OPERATOR_ADDR ?? "0.0.0.0:8080").split(":") as [string, string];
const server = createServer(async (req, res) => {
  const send = (code: number, body: string, type = "text/plain") => {
    res.writeHead(code, { "content-type": type });
    res.end(body);
  };
  switch (req.url) {
    case "/healthz":
      return send(200, "ok");
    case "/readyz":
      // Not ready from the first moment of a shutdown, before anything stops.
      if (stopping) return send(503, "shutting down");
      return operator.synced() ? send(200, "ok") : send(503, "caches not synced");
    case "/metrics":
      return send(200, await metrics.registry.metrics(), metrics.registry.contentType);
    case "/statusz":
      return send(
        200,
        JSON.stringify({ leader: operator.leading, synced: operator.synced(), queues: operator.queues() }),
        "application/json",
      );
    default:
      return send(404, "not found");
  }
});
let stopping = false;
server.listen(Number(port), host, () => log("Serving health and metrics", { address: `${host}:${port}` }));

const shutdownDelayMs = envNumber(env, "ATRIUM_SHUTDOWN_DELAY_MS", 0, 0);
for (const signal of ["SIGTERM", "SIGINT"] as const)
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    log("Shutting down: not ready", { signal });
    await sleep(shutdownDelayMs);
    // Stopping fences writes and releases the lease; /readyz keeps answering 503 meanwhile.
    await operator.stop();
    server.close();
    process.exit(0);
  });

operator.run().catch((e) => {
  log("Operator failed", { error: errorMessage(e) }, "error");
  process.exit(1);
});
