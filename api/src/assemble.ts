// The API's parts from its settings: database, informers, OIDC client, mailer, Express app.
// main.ts serves them as the process; the test harness (test/cluster/api-stack.ts) serves the
// very same assembly on a port of its own.
import { KubeClient, type Logger } from "@atrium/kube";
import type { KubeConfig } from "@kubernetes/client-node";
import { createApi } from "./app.ts";
import { createOidcClient } from "./auth/oidc.ts";
import { Directory } from "./authz/directory.ts";
import type { ApiConfig } from "./config.ts";
import { openDatabase } from "./db/index.ts";
import { createMailer } from "./mail/mailer.ts";
import { apiMetrics } from "./metrics.ts";

export type AssembledApi = Awaited<ReturnType<typeof assembleApi>>;

export async function assembleApi(
  config: ApiConfig,
  kc: KubeConfig,
  options: { log: Logger; mailLog?: (line: string) => void },
) {
  const { log } = options;
  const db = await openDatabase(config.databaseUrl);
  const kube = new KubeClient(kc, { fieldManager: "atrium-api" });
  const directory = new Directory(kube);
  await directory.start();
  const oidc = config.oidc
    ? await createOidcClient({
        ...config.oidc,
        redirectUri: `${config.publicUrl}/api/auth/callback`,
        // Plain http only for a provider on this machine (development and tests).
        allowInsecure: /^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(config.oidc.issuer),
      })
    : undefined;
  if (!oidc) log("Login is disabled: set ATRIUM_OIDC_ISSUER (API keys still work)");
  const mailer = createMailer({
    url: config.smtpUrl,
    from: config.mailFrom,
    ...(options.mailLog ? { log: options.mailLog } : {}),
  });
  const api = createApi({ config, db, kube, directory, mailer, oidc, log, metrics: apiMetrics() });
  return {
    ...api,
    config,
    db,
    kube,
    directory,
    /** Stops watching, writes the queued audit entries, closes the mail pool and the database. */
    async close(): Promise<void> {
      directory.stop();
      await api.services.audit.flushed();
      await mailer.close();
      await db.close();
    },
  };
}
