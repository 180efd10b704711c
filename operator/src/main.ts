#!/usr/bin/env node
// The operator process. Configuration comes from the environment (the Helm chart sets it):
//   KUBECONFIG                  kubeconfig file; in a pod the service account is used
//   ATRIUM_OPERATOR_ADDR        host:port for /healthz, /readyz, /metrics (default 0.0.0.0:8080)
//   ATRIUM_OPERATOR_NAMESPACE   where the leader-election Lease lives (default atrium-system)
//   ATRIUM_OPERATOR_ID          this replica's identity (default hostname-pid)
//   ATRIUM_LEASE_DURATION_MS    leader lease (default 15000)
//   ATRIUM_BASE_DOMAIN, ATRIUM_GATEWAY_NAMESPACE   see config.ts
import { createServer } from "node:http";
import { hostname } from "node:os";
import { envNumber, errorMessage, jsonLogger } from "@atrium/kube";
import { KubeConfig } from "@kubernetes/client-node";
import { defaultConfig } from "./config.ts";
import { createOperator } from "./operator.ts";
import { operatorMetrics } from "./runtime/metrics.ts";

const env = process.env;
const log = jsonLogger("atrium-operator");
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
server.listen(Number(port), host, () => log("Serving health and metrics", { address: `${host}:${port}` }));

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const)
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    log("Shutting down", { signal });
    await operator.stop();
    server.close();
    process.exit(0);
  });

operator.run().catch((e) => {
  log("Operator failed", { error: errorMessage(e) });
  process.exit(1);
});
