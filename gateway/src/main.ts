#!/usr/bin/env node
// The gateway process. Proxy on ATRIUM_GATEWAY_ADDR (default 0.0.0.0:8081); /healthz, /readyz
// and /metrics on ATRIUM_GATEWAY_ADMIN_ADDR (default 0.0.0.0:9091). Other settings: gateway.ts.
import { createServer } from "node:http";
import { applyNodeFlags, errorMessage, jsonLogger, nodeRuntime } from "@atrium/kube";
import { KubeConfig } from "@kubernetes/client-node";
import { createGateway, defaultGatewayConfig } from "./gateway.ts";
import { checkParserBinding } from "./llhttp.ts";
import { gatewayMetrics } from "./metrics.ts";
import { gatewayNodeFlags } from "./node-flags.ts";
import { checkNodeVersion, readNvmrc } from "./node-version.ts";

const env = process.env;
const log = jsonLogger("atrium-gateway");
// Node internals under the HTTP server and client (docs/adr/0007): the pinned Node, its V8
// flags, and a parser binding that still behaves as the gateway expects, or no start at all.
try {
  applyNodeFlags(gatewayNodeFlags(env));
  checkNodeVersion({ running: process.version, nvmrc: readNvmrc(), env, log });
  await checkParserBinding();
} catch (e) {
  log("Gateway cannot start on this Node", { error: errorMessage(e) }, "error");
  process.exit(1);
}
log("Node runtime", nodeRuntime());
const metrics = gatewayMetrics();
const kc = new KubeConfig();
kc.loadFromDefault();
const config = defaultGatewayConfig(env);
if (!config.authUrl)
  log(
    "No access check: only Public apps are served, the others answer 503; set ATRIUM_GATEWAY_AUTH_URL to the Atrium API",
    {},
    "warn",
  );
if (!config.usageToken || !config.authUrl)
  log(
    "No usage reporting: requests, 5xx answers and wakes per app are not sent to the API; set ATRIUM_USAGE_TOKEN (the API's too) and ATRIUM_GATEWAY_AUTH_URL",
    {},
    "warn",
  );
if (config.activator && !config.dataplaneStats)
  log(
    "No activity from the data plane: running apps' requests do not pass here, so they look idle and stop at their idle timeout; set ATRIUM_DATA_PLANE_NAMESPACE and ATRIUM_DATA_PLANE_POD_LABELS to the data plane's pods, or ATRIUM_DATAPLANE_STATS_URLS to its Envoy admins",
    {},
    "warn",
  );
if (!config.activator && env.ATRIUM_DATAPLANE_STATS_URLS)
  log("ATRIUM_DATAPLANE_STATS_URLS is ignored: it is for ATRIUM_ROUTING=gateway-api", {}, "warn");
const gateway = createGateway({ kc, config, log, metrics });
const split = (addr: string) => addr.split(":") as [string, string];
/** SIGTERM came: not ready any more, though requests are still served until the drain. */
let stopping = false;

const [adminHost, adminPort] = split(env.ATRIUM_GATEWAY_ADMIN_ADDR ?? "0.0.0.0:9091");
createServer(async (req, res) => {
  if (req.url === "/healthz") return void res.end("ok");
  if (req.url === "/readyz") {
    const ready = gateway.synced() && !stopping;
    res.statusCode = ready ? 200 : 503;
    return void res.end(ready ? "ok" : stopping ? "shutting down" : "caches not synced");
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
    log("Gateway failed to start", { error: errorMessage(e) }, "error");
    process.exit(1);
  });

for (const signal of ["SIGTERM", "SIGINT"] as const)
  process.once(signal, async () => {
    // Not ready first, still serving: whatever sends traffic here has time to stop before the
    // gateway drains (Ctrl-C in development drains at once).
    stopping = true;
    const delayMs = signal === "SIGTERM" ? config.shutdownDelayMs : 0;
    log("Shutting down: not ready, draining soon", { signal, delayMs });
    await new Promise((r) => setTimeout(r, delayMs));
    await gateway.stop();
    process.exit(0);
  });
