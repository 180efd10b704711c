#!/usr/bin/env node
// The API process: ATRIUM_API_ADDR (default 127.0.0.1:8080), and /healthz, /readyz and /metrics
// on ATRIUM_API_ADMIN_ADDR (default 127.0.0.1:9090). Settings: config.ts.
import type { Server } from "node:http";
import { errorMessage, jsonLogger } from "@atrium/kube";
import { KubeConfig } from "@kubernetes/client-node";
import type { Express } from "express";
import { type AssembledApi, assembleApi } from "./assemble.ts";
import { type ApiConfig, loadConfig } from "./config.ts";

const log = jsonLogger("atrium-api");

/** In-flight requests get this long after the port closes; then their connections are cut. */
const FINISH_MS = 10_000;

function listen(app: Express, addr: string, message: string): Server {
  const [host, port] = addr.split(":") as [string, string];
  return app.listen(Number(port), host, () => log(message, { address: addr }));
}

async function main() {
  const config = loadConfig();
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const api = await assembleApi(config, kc, { log });
  const server = listen(api.app, config.addr, "API listening");
  const admin = listen(api.admin, config.adminAddr, "Serving health and metrics");
  let stopping = false;
  for (const signal of ["SIGTERM", "SIGINT"] as const)
    process.on(signal, () => {
      if (stopping) process.exit(1); // a second signal: stop now
      stopping = true;
      shutdown(signal, config, api, server, admin).then(
        () => process.exit(0),
        (e) => {
          log("Shutdown failed", { error: errorMessage(e) }, "error");
          process.exit(1);
        },
      );
    });
}

/**
 * Readiness fails first, and the port stays open while load balancers and Service endpoints
 * take the replica out (ATRIUM_API_DRAIN_SECONDS); then the port closes, requests in flight
 * finish, and the audit queue, mail pool and database are closed.
 */
async function shutdown(signal: string, config: ApiConfig, api: AssembledApi, server: Server, admin: Server) {
  api.drain();
  log("Shutting down: readiness fails, requests are still served", { signal, drainMs: config.drainMs });
  await sleep(config.drainMs);
  log("Closing the port; requests in flight finish");
  const closed = new Promise((resolve) => server.close(resolve));
  server.closeIdleConnections();
  const late = setTimeout(() => server.closeAllConnections(), FINISH_MS);
  await closed;
  clearTimeout(late);
  await api.close();
  admin.close();
  log("Stopped");
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

main().catch((e) => {
  log("API failed to start", { error: errorMessage(e) }, "error");
  process.exit(1);
});
