#!/usr/bin/env node
// The API process: ATRIUM_API_ADDR (default 127.0.0.1:8080). Settings: config.ts.
import { errorMessage, jsonLogger } from "@atrium/kube";
import { KubeConfig } from "@kubernetes/client-node";
import { assembleApi } from "./assemble.ts";
import { loadConfig } from "./config.ts";

const log = jsonLogger("atrium-api");

async function main() {
  const config = loadConfig();
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const api = await assembleApi(config, kc, { log });
  const [host, port] = config.addr.split(":") as [string, string];
  const server = api.app.listen(Number(port), host, () => log("API listening", { address: config.addr }));
  for (const signal of ["SIGTERM", "SIGINT"] as const)
    process.once(signal, () => {
      log("Shutting down", { signal });
      server.close();
      void api.close().finally(() => process.exit(0));
    });
}

main().catch((e) => {
  log("API failed to start", { error: errorMessage(e) });
  process.exit(1);
});
