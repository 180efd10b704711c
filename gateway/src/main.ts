#!/usr/bin/env node
// The gateway process. Proxy on ATRIUM_GATEWAY_ADDR (default 0.0.0.0:8081); /healthz, /readyz
// and /metrics on ATRIUM_GATEWAY_ADMIN_ADDR (default 0.0.0.0:9091). Other settings: gateway.ts.
import { createServer } from "node:http";
import { errorMessage, jsonLogger } from "@atrium/kube";
import { KubeConfig } from "@kubernetes/client-node";
import { createGateway, defaultGatewayConfig } from "./gateway.ts";
import { gatewayMetrics } from "./metrics.ts";

const env = process.env;
const log = jsonLogger("atrium-gateway");
const metrics = gatewayMetrics();
const kc = new KubeConfig();
kc.loadFromDefault();
const config = defaultGatewayConfig(env);
if (!config.authUrl)
  log("Access policies are NOT enforced: set ATRIUM_GATEWAY_AUTH_URL to the Atrium API (development only)");
const gateway = createGateway({ kc, config, log, metrics });
const split = (addr: string) => addr.split(":") as [string, string];

const [adminHost, adminPort] = split(env.ATRIUM_GATEWAY_ADMIN_ADDR ?? "0.0.0.0:9091");
createServer(async (req, res) => {
  if (req.url === "/healthz") return void res.end("ok");
  if (req.url === "/readyz") {
    res.statusCode = gateway.synced() ? 200 : 503;
    return void res.end(gateway.synced() ? "ok" : "caches not synced");
  }
  if (req.url === "/metrics") {
    res.setHeader("content-type", metrics.registry.contentType);
    return void res.end(await metrics.registry.metrics());
  }
  res.statusCode = 404;
  res.end("not found");
}).listen(Number(adminPort), adminHost);

gateway
  .start()
  .then(() => {
    const [host, port] = split(env.ATRIUM_GATEWAY_ADDR ?? "0.0.0.0:8081");
    gateway.server.listen(Number(port), host, () => log("Gateway listening", { address: `${host}:${port}` }));
  })
  .catch((e) => {
    log("Gateway failed to start", { error: errorMessage(e) });
    process.exit(1);
  });

for (const signal of ["SIGTERM", "SIGINT"] as const)
  process.once(signal, async () => {
    log("Shutting down", { signal });
    await gateway.stop();
    process.exit(0);
  });
