// export: the GDPR export of an organization with 10,000 members and 1,000,000 audit entries,
// through the real API as its own process (api/src/main.ts, on SQLite) over a real control plane.
// Side by side, alternating: `sqlite3 .dump` of the same tables (the baseline) and the export
// (request to succeeded, the job's own timestamps), each alone; then GET /api/me under wrk
// without and with another export running; the API process's RSS sampled from /proc during each
// export.
//
// Members are Member resources: the export reads them from the API's watch cache, so the fixture
// is 10,000 Member objects in the apiserver (created 32 at a time; no operator runs, none needs a
// namespace of its own or a login). The database rows (audit log, keys, subscriptions, invoices,
// usage) are written once into a SQLite file cached under ~/.cache/atrium and copied per run.
import { execFile, execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { homedir, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { BUILT_IN_ROLES, namespaceFor } from "@atrium/crds";
import { KubeClient, R } from "@atrium/kube";
import { KubeConfig } from "@kubernetes/client-node";
import { openDatabase } from "../../api/src/db/index.ts";
import { startApiProcess } from "../../test/cluster/api-process.ts";
import { startControlPlane } from "../../test/cluster/controlplane.ts";
import { installCrds } from "../../test/cluster/install.ts";
import { freePorts } from "../../test/cluster/ports.ts";
import { writeResult } from "../results.ts";
import { median } from "../stats.ts";
import { wrk } from "../wrk.ts";
import { createMembers, MEMBERS } from "./members-list.ts";

const exec = promisify(execFile);
const AUDIT = Number(process.env.BENCH_AUDIT ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Load samples of one second each, taken back to back (see loadSamples). */
const SAMPLE_SECONDS = 1;
/** Samples in the first round's idle run (later rounds: as many as the previous round's export held). */
const FIRST_IDLE_SAMPLES = Number(process.env.BENCH_IDLE_SAMPLES ?? 4);
const CONNECTIONS = 10;
const ORG = "bench";
const ADMIN = "admin@bench.example";
/** The tables the organization export reads (members are resources, not rows). */
const TABLES = ["AuditEvent", "ApiKey", "Subscription", "Invoice", "InvoiceLine", "UsageDay", "BillingDetails"];
const log = (m: string) => console.log(`[export] ${m}`);

/** The database with the organization's rows, built once (about a minute) and kept in the cache. */
export async function cachedDatabase(): Promise<string> {
  const dir = join(homedir(), ".cache", "atrium", "bench-export");
  const migrations = execFileSync("git", ["log", "-1", "--format=%h", "--", "api/prisma/sqlite/migrations"], {
    encoding: "utf8",
  }).trim();
  const file = join(dir, `org-${AUDIT}-audit-${migrations}.db`);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const building = `${file}.${process.pid}.tmp`;
  const started = performance.now();
  const db = await openDatabase(`file:${building}`);
  try {
    const p = db.prisma;
    const t0 = Date.parse("2025-01-01T00:00:00Z");
    const actions = ["members.invite", "apps.install", "apps.configure", "apikeys.create", "roles.update"];
    for (let i = 0; i < AUDIT; i += 5000)
      await p.auditEvent.createMany({
        data: Array.from({ length: Math.min(5000, AUDIT - i) }, (_, j) => {
          const n = i + j;
          return {
            // Distinct instants (the export pages by (at, id)), about 30 s apart: 1 year of history.
            at: new Date(t0 + n * 31_000 + (n % 997)),
            org: ORG,
            actor: `person${n % MEMBERS}@bench.example`,
            actorType: "user",
            action: actions[n % actions.length] as string,
            target: `member/person${(n * 7) % MEMBERS}`,
            result: n % 50 ? "success" : "denied",
            status: n % 50 ? 200 : 403,
            ip: `10.0.${(n >> 8) & 255}.${n & 255}`,
            detail: n % 10 ? null : JSON.stringify({ note: `entry ${n}` }),
          };
        }),
      });
    await p.apiKey.createMany({
      data: Array.from({ length: 200 }, (_, n) => ({
        id: `k${String(n).padStart(11, "0")}`,
        org: ORG,
        name: `key ${n}`,
        type: "STANDARD",
        prefix: `atr_sk_k${n}…`,
        hashVersion: 1,
        hash: createHash("sha256").update(`key ${n}`).digest("hex"),
        scopes: JSON.stringify(["apps:view"]),
        createdBy: ADMIN,
        memberName: "admin",
      })),
    });
    for (let n = 0; n < 50; n++) {
      const sub = await p.subscription.create({
        data: {
          org: ORG,
          template: `app-${n}`,
          app: `app-${n}`,
          state: "active",
          planId: "basic",
          amount: 1000,
          currency: "USD",
          interval: "monthly",
        },
      });
      for (let m = 0; m < 12; m++)
        await p.invoice.create({
          data: {
            org: ORG,
            subscriptionId: sub.id,
            key: `sub:${sub.id}:${m}`,
            status: "paid",
            currency: "USD",
            total: 1000,
            issuedAt: new Date(t0 + m * 30 * 86_400_000),
            dueAt: new Date(t0 + (m * 30 + 14) * 86_400_000),
            lines: { create: [{ position: 1, description: `app-${n} monthly`, unitAmount: 1000, amount: 1000 }] },
          },
        });
    }
    const metrics = ["requests", "wakes", "errors_5xx", "running_seconds"];
    for (let app = 0; app < 50; app++)
      await p.usageDay.createMany({
        data: Array.from({ length: 400 * metrics.length }, (_, k) => ({
          org: ORG,
          app: `app-${app}`,
          metric: metrics[k % metrics.length] as string,
          day: new Date(t0 + Math.floor(k / metrics.length) * 86_400_000),
          value: k,
        })),
      });
  } finally {
    await db.close();
  }
  // One file: the WAL folded in, so a copy is the whole database.
  execFileSync("sqlite3", [building, "PRAGMA wal_checkpoint(TRUNCATE);"]);
  renameSync(building, file);
  rmSync(`${building}-wal`, { force: true });
  rmSync(`${building}-shm`, { force: true });
  log(`fixture database built in ${((performance.now() - started) / 1000).toFixed(0)} s: ${file}`);
  return file;
}

async function seedMembers(kube: KubeClient) {
  const ns = namespaceFor(ORG);
  await kube.create(R.organization, { metadata: { name: ORG }, spec: { displayName: "Bench" } } as never);
  await kube.create(R.namespace, { metadata: { name: ns } } as never);
  for (const r of BUILT_IN_ROLES)
    await kube.create(R.orgRole, {
      metadata: { name: r.name, namespace: ns },
      spec: { displayName: r.displayName, level: r.level, permissions: [...r.permissions], builtIn: true },
    } as never);
  await kube.create(R.member, {
    metadata: { name: "admin", namespace: ns },
    spec: { email: ADMIN, role: "admin" },
  } as never);
  await kube.apply(
    R.member,
    { metadata: { name: "admin", namespace: ns }, status: { joinedAt: new Date().toISOString() } } as never,
    { subresource: "status" },
  );
  await createMembers(kube, 32);
}

/**
 * wrk's latencies (microseconds) as value:count pairs on one line, so that samples taken back to
 * back can be pooled into one distribution (wrk itself reports each run's percentiles only).
 */
const HISTOGRAM_LUA = `done = function(summary, latency, requests)
  local parts = {}
  for i = 1, #latency do
    local v, c = latency(i)
    if c and c > 0 then parts[#parts + 1] = v .. ":" .. c end
  end
  io.write("HISTOGRAM " .. table.concat(parts, ",") .. "\\n")
end
`;

type Latencies = Map<number, number>;

/** One wrk run of SAMPLE_SECONDS: its latencies (microseconds → count). Its p99 is the same as wrk's own. */
async function loadSample(url: string, headers: Record<string, string>, script: string): Promise<Latencies> {
  const args = [`-t1`, `-c${CONNECTIONS}`, `-d${SAMPLE_SECONDS}s`, "-s", script];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  const { stdout } = await exec("wrk", [...args, url], { encoding: "utf8" });
  if (stdout.includes("Non-2xx") || stdout.includes("Socket errors")) throw new Error(`non-2xx answers: ${stdout}`);
  const line = /^HISTOGRAM (.*)$/m.exec(stdout)?.[1];
  if (line === undefined) throw new Error(`wrk gave no histogram: ${stdout}`);
  const sample: Latencies = new Map();
  for (const pair of line.split(",").filter(Boolean)) {
    const [us, count] = pair.split(":").map(Number) as [number, number];
    sample.set(us, (sample.get(us) ?? 0) + count);
  }
  return sample;
}

const pool = (into: Latencies, sample: Latencies) => {
  for (const [us, count] of sample) into.set(us, (into.get(us) ?? 0) + count);
};

/** Nearest-rank p99 (ms) of pooled latencies. */
function p99Ms(latencies: Latencies): number {
  const sorted = [...latencies].sort((a, b) => a[0] - b[0]);
  const total = sorted.reduce((n, [, c]) => n + c, 0);
  let seen = 0;
  for (const [us, count] of sorted) {
    seen += count;
    if (seen >= Math.ceil(0.99 * total)) return us / 1000;
  }
  return Number.NaN;
}

const rssMb = (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
};

export async function run() {
  if (!existsSync("/usr/bin/sqlite3")) {
    writeResult({
      scenario: "export",
      method: "not run: the baseline needs Debian's sqlite3 CLI (apt-get install sqlite3)",
      metrics: {},
      goals: {},
    });
    return;
  }
  const cached = await cachedDatabase();
  const work = mkdtempSync(join(tmpdir(), "atrium-bench-export-"));
  const dbFile = join(work, "atrium.db");
  copyFileSync(cached, dbFile);
  const cp = await startControlPlane({ log });
  try {
    installCrds(cp);
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    const kube = new KubeClient(kc, { fieldManager: "atrium-bench" });
    let started = performance.now();
    await seedMembers(kube);
    log(`${MEMBERS} members created in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    // A session for the Admin, as a login leaves it (the cookie's SHA-256 is the row's id).
    const token = randomBytes(32).toString("base64url");
    const db = await openDatabase(`file:${dbFile}`);
    const user = await db.prisma.user.create({ data: { email: ADMIN, name: "Admin", emailVerified: true } });
    await db.prisma.session.create({
      data: {
        id: createHash("sha256").update(token).digest("hex"),
        userId: user.id,
        csrfToken: "bench-csrf",
        expiresAt: new Date(Date.now() + 86_400_000),
      },
    });
    const [port] = (await freePorts(1)) as [number];
    const api = await startApiProcess({
      kubeconfig: cp.kubeconfig,
      port,
      env: {
        ATRIUM_DATABASE_URL: `file:${dbFile}`,
        ATRIUM_KEY_PEPPERS: "1:bench-pepper-not-secret-0123456789",
        ATRIUM_API_NAMESPACE: "default",
      },
    });
    try {
      const headers = { cookie: `atrium_session=${token}`, "x-csrf-token": "bench-csrf" };
      started = performance.now();
      for (;;) {
        const r = await fetch(`${api.url}/api/orgs/${ORG}/exports`, { headers });
        if (r.status === 200) break;
        if (performance.now() - started > 120_000)
          throw new Error(`the admin cannot export: ${r.status} ${await r.text()}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const me = `${api.url}/api/me`;
      await wrk(me, { connections: CONNECTIONS, seconds: 2, headers }); // warm-up
      const script = join(work, "histogram.lua");
      writeFileSync(script, HISTOGRAM_LUA);
      const state = async (id: string) =>
        ((await (await fetch(`${api.url}/api/orgs/${ORG}/exports/${id}`, { headers })).json()) as { state: string })
          .state;

      /**
       * Requests an export and resolves with its job once finished, sampling the API's RSS and
       * noting when its step changed (the progress the worker reports, at most every second).
       */
      const exportOnce = async () => {
        // Earlier rounds' jobs go, so the daily allowance (3) does not stop the benchmark.
        await db.prisma.exportJob.deleteMany({ where: { org: ORG } });
        const before = rssMb(api.pid);
        let peak = before;
        const sampler = setInterval(() => {
          peak = Math.max(peak, rssMb(api.pid));
        }, 50);
        const requested = performance.now();
        const r = await fetch(`${api.url}/api/orgs/${ORG}/exports`, { method: "POST", headers });
        if (r.status !== 202) throw new Error(`export request: ${r.status} ${await r.text()}`);
        const { id } = (await r.json()) as { id: string };
        const steps: string[] = [];
        const finished = (async () => {
          for (;;) {
            const job = (await (await fetch(`${api.url}/api/orgs/${ORG}/exports/${id}`, { headers })).json()) as {
              state: string;
              createdAt: string;
              finishedAt: string | null;
              sizeBytes: number | null;
              progress: { step: string | null; done: number };
            };
            const step = `${job.progress.step ?? job.state}`;
            if (!steps.at(-1)?.startsWith(`${step} `))
              steps.push(`${step} ${((performance.now() - requested) / 1000).toFixed(1)}`);
            if (job.state !== "queued" && job.state !== "running") {
              clearInterval(sampler);
              if (job.state !== "succeeded") throw new Error(`export ${job.state}`);
              return { ...job, growthMb: peak - before, steps };
            }
            await new Promise((resolve) => setTimeout(resolve, 250));
          }
        })();
        return { id, finished };
      };

      const samples = {
        dump: [] as number[],
        export: [] as number[],
        loaded: [] as number[],
        growth: [] as number[],
        idleP99: [] as number[],
        duringP99: [] as number[],
        idleCounts: [] as number[],
        duringCounts: [] as number[],
      };
      let size = 0;
      let records = 0;
      let idleSamples = FIRST_IDLE_SAMPLES;
      for (let round = 0; round < ROUNDS; round++) {
        const d0 = performance.now();
        await exec("sh", ["-c", `sqlite3 '${dbFile}' '.dump ${TABLES.join(" ")}' > /dev/null`]);
        const dumpS = (performance.now() - d0) / 1000;
        // The export alone, as the dump runs alone: its time is compared with the dump's.
        const alone = await (await exportOnce()).finished;
        const exportS = (Date.parse(alone.finishedAt ?? "") - Date.parse(alone.createdAt)) / 1000;
        // Then the same export while other requests come in, for their p99 beside the same
        // requests without an export: as many one-second samples as the previous round's export held.
        const idle: Latencies = new Map();
        for (let i = 0; i < idleSamples; i++) pool(idle, await loadSample(me, headers, script));
        const job = await exportOnce();
        // While it runs: one-second samples back to back until it has ended (so the load covers
        // the whole export); a sample counts when the job was still running at its end, i.e. it
        // lay within the export. The one the export ended in is not counted.
        const during: Latencies = new Map();
        let counted = 0;
        for (;;) {
          const sample = await loadSample(me, headers, script);
          const s = await state(job.id);
          if (s !== "queued" && s !== "running") break;
          pool(during, sample);
          counted++;
        }
        const done = await job.finished;
        const loadedS = (Date.parse(done.finishedAt ?? "") - Date.parse(done.createdAt)) / 1000;
        samples.dump.push(dumpS);
        samples.export.push(exportS);
        samples.loaded.push(loadedS);
        samples.growth.push(Math.max(alone.growthMb, done.growthMb));
        samples.idleP99.push(p99Ms(idle));
        samples.idleCounts.push(idleSamples);
        samples.duringCounts.push(counted);
        if (counted) samples.duringP99.push(p99Ms(during));
        size = done.sizeBytes ?? 0;
        records = done.progress.done;
        log(
          `round ${round + 1}: dump ${dumpS.toFixed(1)} s, export ${exportS.toFixed(1)} s (${(size / 2 ** 20).toFixed(0)} MiB, ` +
            `${records} records; steps seen at s: ${alone.steps.join(", ")}), RSS +${alone.growthMb.toFixed(0)} MB; ` +
            `under requests ${loadedS.toFixed(1)} s, RSS +${done.growthMb.toFixed(0)} MB; ` +
            `/api/me p99 idle ${p99Ms(idle)} ms (${idleSamples} × ${SAMPLE_SECONDS} s), during ` +
            `${counted ? `${p99Ms(during)} ms (${counted} × ${SAMPLE_SECONDS} s)` : "none: the export ended within the first sample"}`,
        );
        idleSamples = Math.max(1, counted);
      }
      const ratio = median(samples.export) / median(samples.dump);
      writeResult({
        scenario: "export",
        method:
          `POST /api/orgs/${ORG}/exports of an org with ${MEMBERS} members (Member resources, read from the API's watch) ` +
          `and ${AUDIT} audit entries (+ 200 keys, 50 subscriptions, 600 invoices, 80,000 usage rows) in SQLite; the API ` +
          `as its own process (main.ts); time from request to succeeded (the job's createdAt/finishedAt), the export ` +
          `alone, vs \`sqlite3 .dump ${TABLES.join(" ")}\` of the same file, alone, alternating, ${ROUNDS} rounds, ` +
          "medians; each round then exports again under the p99 load below (export_under_requests_s). RSS: /proc " +
          "VmRSS of the API sampled every 50 ms, peak minus the value at the request, the worst export. p99: wrk 4.1, " +
          `1 thread, ${CONNECTIONS} connections on GET /api/me (a session), in samples of ${SAMPLE_SECONDS} s taken back ` +
          "to back, their latencies pooled (a Lua done() hook prints wrk's histogram): during = every sample that ended " +
          "while the export was still running (the load goes on until it ends; the sample it ended in is not counted), " +
          "idle = right before the export, as many samples as the previous round's export held " +
          `(${FIRST_IDLE_SAMPLES} in the first); samples per round idle ${samples.idleCounts.join("/")}, during ` +
          `${samples.duringCounts.join("/")}; medians of the rounds' p99. Archive ` +
          `${(size / 2 ** 20).toFixed(0)} MiB. Load average (1 min) at the end: ${loadavg()[0]?.toFixed(1)}.`,
        metrics: {
          export_s: Number(median(samples.export).toFixed(2)),
          sqlite_dump_s: Number(median(samples.dump).toFixed(2)),
          export_under_requests_s: Number(median(samples.loaded).toFixed(2)),
          ratio_vs_sqlite_dump: Number(ratio.toFixed(2)),
          rss_growth_mb: Math.round(Math.max(...samples.growth)),
          idle_p99_ms: Number(median(samples.idleP99).toFixed(1)),
          during_p99_ms: Number(median(samples.duringP99).toFixed(1)),
          ratio_p99_during_vs_idle: Number((median(samples.duringP99) / median(samples.idleP99)).toFixed(2)),
        },
        goals: { ratio_vs_sqlite_dump: "<= 3", rss_growth_mb: "<= 150", ratio_p99_during_vs_idle: "<= 2" },
      });
    } finally {
      await api.kill();
      await db.close();
    }
  } finally {
    await cp.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
