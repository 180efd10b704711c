// The API's parts from its settings: database, informers, OIDC client, mailer, Express app.
// main.ts serves them as the process; the test harness (test/cluster/api-stack.ts) serves the
// very same assembly on a port of its own.
import { KubeClient, type Logger } from "@atrium/kube";
import type { KubeConfig } from "@kubernetes/client-node";
import { createApi } from "./app.ts";
import { Installs } from "./apps/installs.ts";
import { createOidcClient } from "./auth/oidc.ts";
import { Directory } from "./authz/directory.ts";
import { Scheduler } from "./billing/scheduler.ts";
import type { ApiConfig } from "./config.ts";
import { openDatabase } from "./db/index.ts";
import { createMailer } from "./mail/mailer.ts";
import { Catalog } from "./marketplace/catalog.ts";
import { apiMetrics } from "./metrics.ts";
import { OrgLifecycle } from "./orgs/jobs.ts";

export type AssembledApi = Awaited<ReturnType<typeof assembleApi>>;

export async function assembleApi(
  config: ApiConfig,
  kc: KubeConfig,
  options: {
    log: Logger;
    mailLog?: (line: string) => void;
    /** The API's clock (tests inject one to end a trial without waiting for it). */
    now?: () => number;
    /** Run the leader-elected scheduler (default true; tests may run its passes themselves). */
    scheduler?: boolean;
  },
) {
  const { log } = options;
  const db = await openDatabase(config.databaseUrl);
  const kube = new KubeClient(kc, { fieldManager: "atrium-api" });
  const directory = new Directory(kube);
  const installs = new Installs(kube, { log });
  const catalog = new Catalog(kube, { log });
  await Promise.all([directory.start(), installs.start(), catalog.start()]);
  const oidc = config.oidc
    ? await createOidcClient({
        ...config.oidc,
        redirectUri: `${config.publicUrl}/api/auth/callback`,
        // Plain http only for a provider on this machine, or where asked for by name (a
        // development provider the cluster's pods reach on their node's host).
        allowInsecure: config.oidc.allowHttp || /^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(config.oidc.issuer),
      })
    : undefined;
  if (!oidc) log("Login is disabled: set ATRIUM_OIDC_ISSUER (API keys still work)");
  const mailer = createMailer({
    url: config.smtpUrl,
    from: config.mailFrom,
    ...(options.mailLog ? { log: options.mailLog } : {}),
  });
  const api = createApi({
    config,
    db,
    kube,
    directory,
    installs,
    catalog,
    mailer,
    oidc,
    log,
    metrics: apiMetrics(),
    ...(options.now ? { now: options.now } : {}),
  });
  // AppInstances (kubectl's too) get their subscriptions from the watch; those made while no API
  // ran, from one sweep now. Time's work (trial ends, renewals) runs on the scheduler's leader.
  const { billing } = api.services;
  const unfollow = billing.follow(installs, catalog);
  void billing.sweep().catch((error) => log("Billing sweep failed", { error: String(error) }, "error"));
  // Notices: app news from the watch; billing's Outbox, email retries and digests on the scheduler.
  const { notifications } = api.services;
  const unfollowNotices = notifications.follow(installs);
  // Deletion notices and the purge of deleted organizations' rows (api/src/orgs/jobs.ts).
  const lifecycle = new OrgLifecycle(api.services);
  const scheduler = new Scheduler(
    kube,
    [
      { name: "billing", run: () => billing.runDue() },
      { name: "notifications", run: () => notifications.runDue() },
      { name: "org-lifecycle", run: () => lifecycle.runDue() },
    ],
    {
      namespace: config.billing.leaseNamespace,
      intervalMs: config.billing.schedulerIntervalMs,
      log,
    },
  );
  if (options.scheduler !== false) scheduler.start();
  // Usage runs on every replica (its passes are idempotent): transitions from the watch, the
  // API's call counts flushed every minute, rollups and retention every few minutes.
  const { usage } = api.services;
  usage.start();
  // Export jobs run on every replica: each claims one queued job at a time (api/src/export).
  const { exports } = api.services;
  exports.start();
  return {
    ...api,
    config,
    db,
    kube,
    directory,
    scheduler,
    lifecycle,
    /** Stops watching, writes the queued audit entries, closes the mail pool and the database. */
    async close(): Promise<void> {
      await scheduler.stop();
      await usage.stop();
      await exports.stop();
      unfollow();
      unfollowNotices();
      await billing.idle();
      await notifications.idle();
      directory.stop();
      installs.stop();
      catalog.stop();
      await api.services.audit.flushed();
      await mailer.close();
      await db.close();
    },
  };
}
