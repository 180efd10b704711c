// usage-ingest: gateway-warm with usage reporting on, side by side with it off. Two gateway
// processes with the same settings except ATRIUM_USAGE_TOKEN, in front of the same warm apps,
// measured in rounds of on, off, off, on (each in both positions: on a loaded machine the first
// sample of a pair was seen 30 % faster) with wrk -c50 spreading requests over the apps, and the
// CPU each gateway process spent per request; the "on" gateway reports its batches every minute
// (the default) to the real API on PostgreSQL. Database writes are counted in the database
// itself: a row trigger the benchmark adds logs every insert and update of the usage tables with
// its time, so each write of a batch is seen, whoever made it. An app's hour is one UsageAppHour
// row (ADR 0022); UsageHour holds the organization's own metrics (the API's calls).
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { type ApiStack, startApi } from "../../test/cluster/api-stack.ts";
import { startGateway } from "../../test/cluster/gateway-process.ts";
import { freePorts } from "../../test/cluster/ports.ts";
import { createDatabase, startPostgres } from "../../test/cluster/postgres.ts";
import { until } from "../../test/cluster/until.ts";
import { cpuTime, microsPerRequest } from "../cpu.ts";
import { writeResult } from "../results.ts";
import { gatewayStack } from "../setup.ts";
import { median } from "../stats.ts";
import { wrk } from "../wrk.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const APPS = 4;
const INTERVAL_MS = 60_000;
const TOKEN = "bench-usage-token-0123456789abcdef";
const LEASH = fileURLToPath(new URL("../../test/cluster/leash.sh", import.meta.url));
const log = (m: string) => console.log(`[usage-ingest] ${m}`);

const TRIGGERS = `
CREATE TABLE bench_writes (tbl text NOT NULL, metric text, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION bench_log_metric() RETURNS trigger AS $$
BEGIN INSERT INTO bench_writes (tbl, metric) VALUES (TG_TABLE_NAME, NEW.metric); RETURN NULL; END $$ LANGUAGE plpgsql;
CREATE FUNCTION bench_log() RETURNS trigger AS $$
BEGIN INSERT INTO bench_writes (tbl) VALUES (TG_TABLE_NAME); RETURN NULL; END $$ LANGUAGE plpgsql;
CREATE TRIGGER bench_hour AFTER INSERT OR UPDATE ON "UsageHour" FOR EACH ROW EXECUTE FUNCTION bench_log_metric();
CREATE TRIGGER bench_app_hour AFTER INSERT OR UPDATE ON "UsageAppHour" FOR EACH ROW EXECUTE FUNCTION bench_log();
CREATE TRIGGER bench_day AFTER INSERT OR UPDATE ON "UsageDay" FOR EACH ROW EXECUTE FUNCTION bench_log_metric();
CREATE TRIGGER bench_batch AFTER INSERT OR UPDATE ON "UsageBatch" FOR EACH ROW EXECUTE FUNCTION bench_log();
CREATE TRIGGER bench_member AFTER INSERT OR UPDATE ON "ActiveMember" FOR EACH ROW EXECUTE FUNCTION bench_log();
CREATE TRIGGER bench_transition AFTER INSERT OR UPDATE ON "AppTransition" FOR EACH ROW EXECUTE FUNCTION bench_log();
`;

type Write = { tbl: string; metric: string | null; at: Date };

export async function run() {
  execFileSync("bash", [fileURLToPath(new URL("../ensure-tools.sh", import.meta.url))], { stdio: "inherit" });
  const postgres = await startPostgres();
  const [apiPort] = (await freePorts(1)) as [number];
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  // Everything but the token alike: the "off" gateway also knows the API (forward-auth), and
  // the apps are Public, so neither asks it anything per request.
  const common = { ATRIUM_GATEWAY_AUTH_URL: apiUrl, ATRIUM_USAGE_INTERVAL_MS: String(INTERVAL_MS) };
  const stack = await gatewayStack(log, { ...common, ATRIUM_USAGE_TOKEN: TOKEN });
  const children: ReturnType<typeof spawn>[] = [];
  let api: ApiStack | undefined;
  let off: Awaited<ReturnType<typeof startGateway>> | undefined;
  let db: pg.Client | undefined;
  try {
    off = await startGateway({ kubeconfig: stack.kubeconfig, env: common });
    const databaseUrl = await createDatabase(postgres.url, "atrium_bench");
    api = await startApi({
      kubeconfig: stack.kubeconfig,
      port: apiPort,
      databaseUrl,
      quiet: true,
      env: { ATRIUM_USAGE_TOKEN: TOKEN },
    });
    const names = Array.from({ length: APPS }, (_, i) => `warm-${i}`);
    for (const name of names) await stack.install(name, { policy: "AlwaysOn" });
    const ips = await until("pod addresses", async () => {
      const found = await podIps(stack);
      return names.every((n) => found.has(n)) ? names.map((n) => found.get(n) as string) : undefined;
    });
    const backend = `const h=require("http");for(const ip of ${JSON.stringify(ips)})h.createServer((q,s)=>s.end("ok")).listen(8080,ip)`;
    children.push(spawn("bash", [LEASH, process.execPath, "-e", backend], { stdio: ["pipe", "inherit", "inherit"] }));
    const dir = mkdtempSync(join(tmpdir(), "atrium-usage-bench-"));
    const script = join(dir, "apps.lua");
    writeFileSync(
      script,
      `local paths = {${names.map((n) => `"/apps/bench/${n}/"`).join(", ")}}\nlocal i = 0\n` +
        "request = function()\n  i = i % #paths + 1\n  return wrk.format(nil, paths[i])\nend\n",
    );
    const targets = { on: stack.gateway, off };
    for (const g of Object.values(targets))
      for (const n of names)
        await until(
          `${g.url} serving ${n}`,
          async () => (await fetch(`${g.url}/apps/bench/${n}/`)).status === 200,
          60_000,
        );
    // The database writes are counted from here (the API's own start-up writes are not the gateway's).
    db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    await db.query(TRIGGERS);
    for (const g of Object.values(targets)) await wrk(`${g.url}/`, { connections: 10, seconds: 2, script }); // warm-up
    // From a batch boundary: the batch before it holds the start-up's answers (502s while the
    // apps became ready), which are not what is measured.
    await until(
      "a usage batch",
      async () => (await db?.query("SELECT 1 FROM bench_writes WHERE tbl = 'UsageBatch'"))?.rowCount,
      2 * INTERVAL_MS,
      200,
    );
    const started = new Date();
    const rps: Record<"on" | "off", number[]> = { on: [], off: [] };
    const cpu: Record<"on" | "off", number[]> = { on: [], off: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const sample: Record<"on" | "off", { rps: number; cpu: number }[]> = { on: [], off: [] };
      for (const name of ["on", "off", "off", "on"] as const) {
        const pid = targets[name].pid as number;
        const before = cpuTime(pid);
        const r = await wrk(`${targets[name].url}/`, { connections: 50, seconds: SECONDS, script });
        if (r.non2xx) log(`warning: non-2xx answers or socket errors from the ${name} gateway`);
        sample[name].push({ rps: r.rps, cpu: microsPerRequest(before, cpuTime(pid), r.requests).total });
      }
      for (const name of ["on", "off"] as const) {
        rps[name].push((sample[name][0]?.rps ?? 0) + (sample[name][1]?.rps ?? 0));
        cpu[name].push(((sample[name][0]?.cpu ?? 0) + (sample[name][1]?.cpu ?? 0)) / 2);
      }
      log(
        `round ${round + 1}: on ${sample.on.map((x) => Math.round(x.rps)).join(" + ")} rps, off ${sample.off.map((x) => Math.round(x.rps)).join(" + ")} rps; ` +
          `CPU per request on ${cpu.on.at(-1)?.toFixed(1)} µs, off ${cpu.off.at(-1)?.toFixed(1)} µs`,
      );
    }
    const ended = new Date();
    const writes = (
      await db.query<Write>("SELECT tbl, metric, at FROM bench_writes WHERE at >= $1 AND at <= $2 ORDER BY at", [
        started,
        ended,
      ])
    ).rows;
    const batches = writes.filter((w) => w.tbl === "UsageBatch");
    if (batches.length < 2) throw new Error(`only ${batches.length} usage batch(es) in the window: raise BENCH_ROUNDS`);
    // Each write belongs to the batch whose id was inserted last before it (the id goes first in
    // a batch's transaction); writes before the first batch are left out, as is the last batch's
    // interval beyond the window (so the window holds whole batch intervals).
    const first = batches[0]?.at.getTime() as number;
    const last = batches.at(-1)?.at.getTime() as number;
    const inBatches = writes.filter((w) => w.at.getTime() >= first && w.at.getTime() < last);
    const minutes = (last - first) / 60_000;
    const kinds = new Map<string, number>();
    for (const w of inBatches)
      kinds.set(`${w.tbl} ${w.metric ?? ""}`, (kinds.get(`${w.tbl} ${w.metric ?? ""}`) ?? 0) + 1);
    log(`writes between the first and the last batch: ${JSON.stringify(Object.fromEntries(kinds))}`);
    const count = (tbl: string) => inBatches.filter((w) => w.tbl === tbl).length;
    const perAppMinute = (n: number) => Math.round((n / APPS / minutes) * 1000) / 1000;
    // One gateway replica reports here.
    const hourWrites = count("UsageAppHour");
    const paired = rps.on.map((x, i) => x / (rps.off[i] ?? Number.NaN));
    const pairedCpu = cpu.on.map((x, i) => x / (cpu.off[i] ?? Number.NaN));
    writeResult({
      scenario: "usage-ingest",
      method:
        `wrk 4.1 (1 thread, 50 connections, a Lua script spreading requests over ${APPS} warm apps) for ${SECONDS} s ` +
        `per sample, ${ROUNDS} rounds of on, off, off, on: the gateway with usage reporting on (one ` +
        `batch a minute, the default interval, to the real API on PostgreSQL 15) and an identical gateway with ` +
        "it off (no ATRIUM_USAGE_TOKEN), one Node backend process on the pods' addresses; a round's ratio is " +
        "its two on samples over its two off samples, the ratio the median of the rounds'; CPU per request of " +
        "each gateway process from /proc during its samples, its ratio paired per round likewise. Writes, from " +
        "a batch boundary after start-up: a row trigger added by the benchmark logs every insert and " +
        "update of UsageAppHour, UsageHour, UsageDay, UsageBatch, ActiveMember and AppTransition with its time; counted " +
        `between the first and the last batch received during the rounds (${batches.length} batches, ` +
        `${minutes.toFixed(2)} minutes, 1 reporting gateway). writes_per_app_minute: UsageAppHour rows written per ` +
        "app per minute (per reporting replica: one per app with any count per batch, all its counts in it; the " +
        "minutes between the first and the last batch's arrival), writes_per_app_batch the same per batch; " +
        "org_hour_writes_per_minute: UsageHour rows (the API's own calls per key type and status class, not the " +
        "gateway's); batch_id_writes_per_minute: the batch ids (one row per batch, " +
        "whatever the number of apps); rollup_writes_per_app_minute: UsageDay rows (the rollup, every 5 min by " +
        "default: 0 when no pass fell in the window). All on the same 2 cores, shared with other work.",
      metrics: {
        on_rps: Math.round(median(rps.on) / 2),
        off_rps: Math.round(median(rps.off) / 2),
        ratio_on_vs_off_rps: Math.round(median(paired) * 1000) / 1000,
        on_cpu_us_per_req: Math.round(median(cpu.on) * 10) / 10,
        off_cpu_us_per_req: Math.round(median(cpu.off) * 10) / 10,
        ratio_on_vs_off_cpu_per_req: Math.round(median(pairedCpu) * 1000) / 1000,
        writes_per_app_minute: perAppMinute(hourWrites),
        // The same writes per app and batch: the minutes above are between the batches' arrivals,
        // which the POST's latency moves by a few milliseconds either way.
        writes_per_app_batch: Math.round((hourWrites / APPS / (batches.length - 1)) * 1000) / 1000,
        org_hour_writes_per_minute: Math.round((count("UsageHour") / minutes) * 1000) / 1000,
        batch_id_writes_per_minute: Math.round((count("UsageBatch") / minutes) * 1000) / 1000,
        rollup_writes_per_app_minute: perAppMinute(count("UsageDay")),
        batches: batches.length,
        rounds: ROUNDS,
      },
      goals: { ratio_on_vs_off_rps: ">= 0.97", writes_per_app_minute: "<= 1" },
    });
  } finally {
    for (const c of children) c.stdin?.end();
    await db?.end().catch(() => {});
    await off?.kill();
    await api?.stop();
    await stack.close();
    await postgres.stop();
  }
}

async function podIps(stack: Awaited<ReturnType<typeof gatewayStack>>): Promise<Map<string, string>> {
  const { CoreV1Api } = await import("@kubernetes/client-node");
  const pods = await stack.kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: "org-bench" });
  const found = new Map<string, string>();
  for (const p of pods.items) {
    const app = p.metadata?.labels?.["app.kubernetes.io/instance"];
    if (app && p.status?.phase === "Running" && p.status.podIP) found.set(app, p.status.podIP);
  }
  return found;
}
