#!/usr/bin/env node
// The API process: ATRIUM_API_ADDR (default 127.0.0.1:8080). Settings: config.ts.
import { errorMessage, jsonLogger, KubeClient } from "@atrium/kube";
import { KubeConfig } from "@kubernetes/client-node";
import { createApi } from "./app.ts";
import { createOidcClient } from "./auth/oidc.ts";
import { Directory } from "./authz/directory.ts";
import { loadConfig } from "./config.ts";
import { openDatabase } from "./db/index.ts";
import { createMailer } from "./mail/mailer.ts";
import { apiMetrics } from "./metrics.ts";

const log = jsonLogger("atrium-api");

async function main() {
  const config = loadConfig();
  const db = await openDatabase(config.databaseUrl);
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const kube = new KubeClient(kc, { fieldManager: "atrium-api" });
  const directory = new Directory(kube);
  await directory.start();
  const oidc = config.oidc
    ? await createOidcClient({
        ...config.oidc,
        redirectUri: `${config.publicUrl}/api/auth/callback`,
        // Plain http only for a provider on this machine (development).
        allowInsecure: /^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(config.oidc.issuer),
      })
    : undefined;
  if (!oidc) log("Login is disabled: set ATRIUM_OIDC_ISSUER (API keys still work)");
  const mailer = createMailer({ url: config.smtpUrl, from: config.mailFrom });
  const { app, services } = createApi({ config, db, kube, directory, mailer, oidc, log, metrics: apiMetrics() });
  const [host, port] = config.addr.split(":") as [string, string];
  const server = app.listen(Number(port), host, () => log("API listening", { address: config.addr }));
  for (const signal of ["SIGTERM", "SIGINT"] as const)
    process.once(signal, () => {
      log("Shutting down", { signal });
      server.close();
      directory.stop();
      void services.audit
        .flushed()
        .then(() => db.close())
        .finally(() => process.exit(0));
    });
}

main().catch((e) => {
  log("API failed to start", { error: errorMessage(e) });
  process.exit(1);
});
