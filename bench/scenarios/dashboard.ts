// dashboard: an organization with 200 apps, 400 days of daily usage rollups (and the last 35 days
// of hourly rows, as the metering keeps them: one UsageAppHour row per app and hour, ADR 0022), 1,000,000 audit entries, subscriptions and
// invoices; its overview, usage charts (7, 30 and 90 days in rotation) and economic overview
// through the real API (in this process, on SQLite) over a real control plane, wrk with an API
// key at 50 connections, side by side, alternating, with the same server's /healthz.
//
// The database rows are written with raw SQL in a few transactions into a SQLite file kept under
// ~/.cache/atrium/bench/ for the UTC day it was made for (the rows are dated from that day), and
// each run works on a copy of it.
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { namespaceFor } from "@atrium/crds";
import { KubeClient, R } from "@atrium/kube";
import { KubeConfig } from "@kubernetes/client-node";
import { Dashboard } from "../../api/src/dashboard/dashboard.ts";
import { openDatabase } from "../../api/src/db/index.ts";
import { openSqlite } from "../../api/src/db/migrate.ts";
import { APP_METRIC_COLUMNS } from "../../api/src/usage/hours.ts";
import { startApi } from "../../test/cluster/api-stack.ts";
import { startControlPlane } from "../../test/cluster/controlplane.ts";
import { installCrds } from "../../test/cluster/install.ts";
import { until } from "../../test/cluster/until.ts";
import { createApiKey, joinedMember, med, seedOrg, sideBySide } from "../api-bench.ts";
import { writeResult } from "../results.ts";
import { median } from "../stats.ts";

const APPS = 200;
const DAYS = 400;
const HOURLY_DAYS = 35;
const AUDIT = Number(process.env.BENCH_AUDIT ?? 1_000_000);
const MEMBERS = 100;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 50;
const ROUNDS = 3;
const ORG = "bench";
const FREE = "bench-app";
const PAID = "bench-paid";
const FIXTURE_VERSION = 2;
const DAY = 86_400_000;
const HOUR = 3_600_000;
const log = (m: string) => console.log(`[dashboard] ${m}`);

const appName = (i: number) => `app-${String(i).padStart(3, "0")}`;
/** Prisma's SQLite DateTime text ("2026-01-02T03:04:05.678+00:00"). */
const sqlDate = (t: number) => new Date(t).toISOString().replace("Z", "+00:00");
/** Deterministic variety without a random generator. */
const spread = (i: number, n: number) => ((i * 2_654_435_761) >>> 0) % n;

const APP_METRICS = [
  "requests",
  "errors_5xx",
  "wakes",
  "running_seconds",
  "stopped_idle_seconds",
  "stopped_idle_cpu_core_seconds",
  "stopped_idle_gib_seconds",
];
/** UsageAppHour's columns, in APP_METRICS' order. */
const APP_COLUMNS = APP_METRICS.map((m) => APP_METRIC_COLUMNS[m as keyof typeof APP_METRIC_COLUMNS]);
const ORG_METRICS = ["session", "STANDARD", "AI_AGENT"].flatMap((k) =>
  ["2xx", "3xx", "4xx", "5xx"].map((c) => `api_calls:${k}:${c}`),
);

/** One app's (or the org's) value of a metric in a period of `seconds` (an hour or a day). */
function value(app: number, metric: string, at: number, seconds: number): number {
  const k = spread(app * 7919 + Math.floor(at / HOUR), 1000);
  const running = Math.round((seconds * (k % 100)) / 100);
  switch (metric) {
    case "requests":
      return Math.round((k * seconds) / 3600);
    case "errors_5xx":
      return k % 7;
    case "wakes":
      return k % 3;
    case "running_seconds":
      return running;
    case "stopped_idle_seconds":
      return seconds - running;
    case "stopped_idle_cpu_core_seconds":
      return (seconds - running) * 0.25;
    case "stopped_idle_gib_seconds":
      return (seconds - running) * 0.5;
    default:
      return k % 50;
  }
}

/** The fixture's database for today (UTC), made once a day and kept. */
async function fixtureDatabase(today: number): Promise<string> {
  const dir = join(homedir(), ".cache", "atrium", "bench");
  mkdirSync(dir, { recursive: true });
  const name = `dashboard-v${FIXTURE_VERSION}-${AUDIT}-${new Date(today).toISOString().slice(0, 10)}.db`;
  const path = join(dir, name);
  if (existsSync(path)) {
    log(`fixture database from ${path}`);
    return path;
  }
  for (const f of readdirSync(dir)) if (f.startsWith("dashboard-")) rmSync(join(dir, f), { force: true });
  const building = join(dir, `${name}.building-${process.pid}`);
  const started = performance.now();
  // The schema by the API's own migrations, then rows with raw SQL in a few transactions.
  await (await openDatabase(`file:${building}`)).close();
  const db = openSqlite(building);
  db.pragma("synchronous = OFF");
  const tx = (rows: () => void) => {
    db.exec("BEGIN");
    rows();
    db.exec("COMMIT");
  };
  const day = db.prepare('INSERT INTO "UsageDay" ("org","app","metric","day","value") VALUES (?,?,?,?,?)');
  const hour = db.prepare('INSERT INTO "UsageHour" ("org","app","metric","hour","value") VALUES (?,?,?,?,?)');
  const appHour = db.prepare(
    `INSERT INTO "UsageAppHour" ("org","app","hour",${APP_COLUMNS.map((c) => `"${c}"`).join(",")}) VALUES (?,?,?,${APP_COLUMNS.map(() => "?").join(",")})`,
  );
  tx(() => {
    for (let d = DAYS; d >= 1; d--) {
      const at = today - d * DAY;
      const date = sqlDate(at);
      for (let a = 0; a < APPS; a++)
        for (const m of APP_METRICS) day.run(ORG, appName(a), m, date, value(a, m, at, 86_400));
      for (const m of ORG_METRICS) day.run(ORG, "", m, date, value(APPS, m, at, 86_400));
      day.run(ORG, "", "members_active", date, 20 + spread(d, 30));
    }
  });
  log(`${DAYS} days of rollups written`);
  const now = Date.now();
  tx(() => {
    for (let at = today - HOURLY_DAYS * DAY; at <= now; at += HOUR) {
      const date = sqlDate(at);
      for (let a = 0; a < APPS; a++)
        appHour.run(ORG, appName(a), date, ...APP_METRICS.map((m) => value(a, m, at, 3600)));
      for (const m of ORG_METRICS) hour.run(ORG, "", m, date, value(APPS, m, at, 3600));
    }
  });
  log(`${HOURLY_DAYS} days of hourly rows written`);
  const active = db.prepare('INSERT INTO "ActiveMember" ("org","user","day") VALUES (?,?,?)');
  tx(() => {
    for (let d = HOURLY_DAYS; d >= 0; d--)
      for (let m = 0; m < 20 + spread(d, 30); m++)
        active.run(ORG, `person${m}@bench.example`, sqlDate(today - d * DAY));
  });
  // Two starts and two stops a day for every app over the last 30 days, and ten apps uninstalled.
  const transition = db.prepare(
    'INSERT INTO "AppTransition" ("id","key","org","app","kind","cause","at","cpuMillis","memoryBytes") VALUES (?,?,?,?,?,?,?,?,?)',
  );
  tx(() => {
    let n = 0;
    for (let a = 0; a < APPS + 10; a++)
      for (let d = 30; d >= 1; d--)
        for (const [kind, cause, h] of [
          ["start", "wake", 8],
          ["stop", "idle", 12],
          ["start", "wake", 13],
          ["stop", "idle", 20],
        ] as const) {
          const at = sqlDate(today - d * DAY + h * HOUR);
          transition.run(`t${n++}`, `${appName(a)}:${kind}:${at}`, ORG, appName(a), kind, cause, at, 250, 2 ** 29);
        }
  });
  log("transitions written");
  // Subscriptions of every app: monthly USD, annual USD, annual EUR, or a trial ending within 40
  // days; a few one-time and lifetime purchases; a year of monthly invoices, some open.
  const subscription = db.prepare(
    'INSERT INTO "Subscription" ("id","org","template","app","liveKey","planId","interval","amount","currency","state","trialEnd","currentPeriodEnd","cancelAtPeriodEnd","createdAt","updatedAt") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,0,?,?)',
  );
  const invoice = db.prepare(
    'INSERT INTO "Invoice" ("id","org","subscriptionId","key","status","currency","total","issuedAt","dueAt") VALUES (?,?,?,?,?,?,?,?,?)',
  );
  tx(() => {
    const created = sqlDate(today - 400 * DAY);
    const periodEnd = sqlDate(today + 20 * DAY);
    for (let a = 0; a < APPS + 7; a++) {
      const app = a < APPS ? appName(a) : `bought-${a}`;
      const kind = a < APPS ? a % 4 : a % 2 === 0 ? 4 : 5;
      const [plan, interval, amount, currency, state] = (
        [
          ["monthly", "monthly", 1500, "USD", "active"],
          ["annual", "annual", 12_000 + a, "USD", "active"],
          ["annual-eur", "annual", 10_000 + a, "EUR", "active"],
          [null, null, null, null, "trialing"],
          ["once", "one-time", 4900, "USD", "active"],
          ["forever", "lifetime", 9900, "EUR", "active"],
        ] as const
      )[kind] as readonly [string | null, string | null, number | null, string | null, string];
      const id = `s${a}`;
      subscription.run(
        id,
        ORG,
        PAID,
        app,
        `${ORG}/${app}`,
        plan,
        interval,
        amount,
        currency,
        state,
        state === "trialing" ? sqlDate(today + (1 + spread(a, 40)) * DAY) : null,
        interval === "monthly" || interval === "annual" ? periodEnd : null,
        created,
        created,
      );
      if (amount === null || currency === null) continue;
      const months = interval === "monthly" ? 12 : 1;
      for (let m = 0; m < months; m++) {
        const issued = today - (m * 30 + spread(a, 20)) * DAY;
        const open = m === 0 && a % 10 === 0;
        invoice.run(
          `i${a}-${m}`,
          ORG,
          id,
          `sub:${id}:${m}`,
          open ? "open" : "paid",
          currency,
          amount,
          sqlDate(issued),
          sqlDate(issued + 7 * DAY),
        );
      }
    }
  });
  log("subscriptions and invoices written");
  const audit = db.prepare(
    'INSERT INTO "AuditEvent" ("id","at","org","actor","actorType","action","target","result","status") VALUES (?,?,?,?,?,?,?,?,?)',
  );
  const ACTIONS = ["apps.restart", "members.invite", "apikeys.create", "apps.settings", "roles.update"];
  const step = (DAYS * DAY) / AUDIT;
  for (let chunk = 0; chunk < AUDIT; chunk += 100_000)
    tx(() => {
      for (let i = chunk; i < Math.min(AUDIT, chunk + 100_000); i++)
        audit.run(
          `e${i}`,
          sqlDate(today - DAYS * DAY + Math.floor(i * step)),
          ORG,
          `person${spread(i, 50)}@bench.example`,
          "user",
          ACTIONS[i % ACTIONS.length],
          `app/${appName(spread(i, APPS))}`,
          i % 97 === 0 ? "denied" : "success",
          i % 97 === 0 ? 403 : 200,
        );
    });
  log(`${AUDIT} audit entries written`);
  db.exec("ANALYZE");
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.close();
  renameSync(building, path);
  for (const suffix of ["-wal", "-shm"]) rmSync(`${building}${suffix}`, { force: true });
  log(`fixture database made in ${((performance.now() - started) / 1000).toFixed(1)} s: ${path}`);
  return path;
}

async function seedCluster(kube: KubeClient) {
  await seedOrg(kube, ORG);
  const admin = await joinedMember(kube, ORG, "admin", "admin@bench.example", "admin");
  const ns = namespaceFor(ORG);
  const template = (name: string, pricing?: unknown) => ({
    apiVersion: "atrium.dev/v1alpha1",
    kind: "AppTemplate",
    metadata: { name },
    spec: {
      displayName: name,
      category: "Development",
      image: "registry.example/bench",
      versions: ["1.0"],
      defaultVersion: "1.0",
      ports: [{ name: "http", containerPort: 8080 }],
      ...(pricing ? { pricing } : {}),
    },
  });
  await kube.create(R.appTemplate, template(FREE) as never);
  await kube.create(
    R.appTemplate,
    template(PAID, {
      trialDays: 30,
      plans: [
        { id: "monthly", interval: "monthly", amount: 1500, currency: "USD" },
        { id: "annual", interval: "annual", amount: 12_000, currency: "USD" },
        { id: "annual-eur", interval: "annual", amount: 10_000, currency: "EUR" },
      ],
    }) as never,
  );
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < APPS + MEMBERS; i = next++) {
      if (i < APPS) {
        const name = appName(i);
        await kube.create(R.appInstance, {
          metadata: { name, namespace: ns },
          spec: { template: FREE, access: { policy: "Public" } },
        } as never);
        // The operator does not run here: half the apps are said to run, the rest stopped.
        await kube.apply(
          R.appInstance,
          { metadata: { name, namespace: ns }, status: { phase: i % 2 ? "Running" : "Stopped" } } as never,
          { subresource: "status" },
        );
      } else {
        const m = i - APPS;
        await kube.create(R.member, {
          metadata: { name: `person${m}`, namespace: ns },
          spec: { email: `person${m}@bench.example`, role: "member" },
        } as never);
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return admin as { metadata: { name: string } };
}

/** The uncached cost of each answer: a fresh Dashboard (empty caches) per call, one call at a time. */
async function coldMs(services: ConstructorParameters<typeof Dashboard>[0]) {
  const time = async (f: (d: Dashboard) => Promise<unknown>) => {
    const samples: number[] = [];
    for (let i = 0; i < 7; i++) {
      const d = new Dashboard(services);
      const t = performance.now();
      await f(d);
      samples.push(performance.now() - t);
    }
    return Number(median(samples).toFixed(1));
  };
  return {
    overview: await time((d) => d.overviewRows(ORG)),
    usage7: await time((d) => d.usage(ORG, 7)),
    usage90: await time((d) => d.usage(ORG, 90)),
    economics: await time((d) => d.economics(ORG)),
  };
}

export async function run() {
  const today = Math.floor(Date.now() / DAY) * DAY;
  const fixture = await fixtureDatabase(today);
  const work = join(tmpdir(), `atrium-bench-dashboard-${process.pid}`);
  mkdirSync(work, { recursive: true });
  const dbPath = join(work, "atrium.db");
  copyFileSync(fixture, dbPath);
  const cp = await startControlPlane({ log });
  try {
    installCrds(cp);
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    const kube = new KubeClient(kc, { fieldManager: "atrium-bench" });
    const started = performance.now();
    const admin = await seedCluster(kube);
    log(`${APPS} apps and ${MEMBERS} members created in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const api = await startApi({
      kubeconfig: cp.kubeconfig,
      databaseUrl: `file:${dbPath}`,
      env: { ATRIUM_RATE_STANDARD: "100000000/1m" },
      quiet: true,
      keepRequestLogs: false,
      scheduler: false,
    });
    try {
      await until("the apps in the API", async () => api.services.installs.inOrg(ORG).length === APPS, 120_000);
      await until("the catalog", async () => !!api.services.catalog.get(PAID));
      await until("the admin's permissions", async () =>
        api.directory.authorizer.can("admin@bench.example", ORG, "billing:view"),
      );
      const secret = await createApiKey(api, {
        org: ORG,
        email: "admin@bench.example",
        memberName: admin.metadata.name,
        scopes: ["dashboard:view", "billing:view", "audit:view"],
      });
      const headers = { authorization: `Bearer ${secret}` };
      const base = `${api.base}/api/orgs/${ORG}`;
      // The answers are what they should be before anything is measured.
      const check = async (path: string) => {
        const r = await fetch(`${base}/${path}`, { headers });
        const body = (await r.json()) as Record<string, any>;
        if (r.status !== 200) throw new Error(`${path}: ${r.status} ${JSON.stringify(body).slice(0, 300)}`);
        return body;
      };
      const overview = await check("overview");
      const usage = await check("usage?days=90");
      const economics = await check("economics");
      if (overview.apps.installed !== APPS || overview.recentActivity.length !== 10)
        throw new Error(`unexpected overview ${JSON.stringify(overview).slice(0, 300)}`);
      if (usage.runningHoursByApp.length < APPS || usage.requests.length !== 90)
        throw new Error("unexpected usage answer");
      log(
        `overview ${JSON.stringify({ members: overview.members, apps: overview.apps })}, usage 90 days ${
          JSON.stringify(usage).length
        } bytes, economics committed ${JSON.stringify(economics.committedMonthly)}, saved ${economics.savedByAutoStop.amount} cents`,
      );
      const script = join(work, "usage.lua");
      writeFileSync(
        script,
        `local paths = { ${[7, 30, 90].map((d) => `"/api/orgs/${ORG}/usage?days=${d}"`).join(", ")} }\n` +
          "local i = 0\n" +
          "request = function()\n  i = i + 1\n  return wrk.format(nil, paths[(i % #paths) + 1])\nend\n",
      );
      const samples = await sideBySide({
        healthz: `${api.base}/healthz`,
        targets: {
          overview: { url: `${base}/overview` },
          usage: { url: `${base}/usage`, script },
          economics: { url: `${base}/economics` },
        },
        headers,
        connections: CONNECTIONS,
        seconds: SECONDS,
        rounds: ROUNDS,
        log,
      });
      // After the load, so that its garbage is not collected during it.
      const cold = await coldMs(api.services);
      log(`uncached: ${JSON.stringify(cold)} ms`);
      const h = samples.healthz;
      const ratio = (xs: number[], ys: number[]) => Number((median(xs) / median(ys)).toFixed(2));
      const metrics: Record<string, number> = { healthz_p99_ms: med(h.p99), healthz_rps: Math.round(median(h.rps)) };
      for (const name of ["overview", "usage", "economics"] as const) {
        const s = samples[name] as (typeof samples)["healthz"];
        metrics[`${name}_p99_ms`] = med(s.p99);
        metrics[`${name}_rps`] = Math.round(median(s.rps));
        metrics[`ratio_${name}_vs_healthz_rps`] = ratio(s.rps, h.rps);
        metrics[`ratio_${name}_vs_healthz_p99`] = ratio(s.p99, h.p99);
        metrics[`${name}_cpu_us`] = Math.round(median(s.cpuUs));
      }
      metrics.overview_uncached_ms = cold.overview;
      metrics.usage7_uncached_ms = cold.usage7;
      metrics.usage90_uncached_ms = cold.usage90;
      metrics.economics_uncached_ms = cold.economics;
      writeResult({
        scenario: "dashboard",
        method:
          `GET /api/orgs/${ORG}/overview, /usage?days=7|30|90 (in rotation) and /economics of an org with ${APPS} ` +
          `AppInstances (in the apiserver, through the API's watch), ${MEMBERS} members, ${DAYS} days of UsageDay rows ` +
          `(${APP_METRICS.length} metrics per app and day), ${HOURLY_DAYS} days of hourly rows (UsageAppHour: one per app and hour; UsageHour: the org's API calls), ${AUDIT} audit ` +
          "entries, 207 subscriptions and 707 invoices (raw SQL into a SQLite file cached per day); API key auth, " +
          `the API in one Node process on SQLite; wrk 4.1, 1 thread, ${CONNECTIONS} connections, ${SECONDS} s per ` +
          `sample, ${ROUNDS} rounds alternating with the same server's /healthz; medians of the rounds. Answers are ` +
          "kept per org (overview rows 2 s, economics 5 s, usage 15 s; refreshed in the background after half of " +
          "that; days before yesterday 10 min, added up per window once; see api/README.md, Dashboard); *_uncached_ms: one request's work with empty caches, median of 7, one at a time. Load average " +
          `(1 min) at the end: ${loadavg()[0]?.toFixed(1)}.`,
        metrics,
        goals: { overview_p99_ms: "<= 50", usage_p99_ms: "<= 50", economics_p99_ms: "<= 50" },
      });
    } finally {
      await api.stop();
    }
  } finally {
    await cp.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
