// reconcile-1000: 50 organizations × 20 apps created at once on the local control plane.
// Absolute times move with the (shared) machine, so each round measures the operator beside
// the same work done without it: the same 1,000 Deployments and Services (built by the
// operator's own desired-state functions) server-side applied directly, with the operator's
// client and the operator's cap on writes in flight (32: 16 apps, each app's two objects at
// once), until every Deployment has its replica ready. Rounds
// alternate (direct, operator, direct, operator …), each on a fresh control plane; the ratio
// of the medians is the figure. The last operator round also measures the operator's peak
// RSS (VmHWM of its process) and its writes during 60 s of steady state afterwards. Each
// operator round logs its writes per app by resource; every round logs the apiserver's requests
// (apiserver_request_total, before and after: writes by verb and resource, everyone's), the
// CPU seconds of each process, and a timeline from the objects' own times (children created,
// Deployments Available, apps Ready: is a gap in creating or in reporting?). To iterate:
// BENCH_ORGS=10 (a variant prints its figures and leaves the results file alone), BENCH_ROUNDS, BENCH_STEADY_MS,
// BENCH_CPU_PROF=<dir> for the operator's CPU profiles, and BENCH_APISERVER_PROF=<dir> for the
// apiserver's (pprof, the first BENCH_APISERVER_PROF_S seconds of each round; read them with
// `go tool pprof -top <kube-apiserver binary> <file>`), and BENCH_APISERVER_METRICS=<dir> for the
// apiserver's /metrics at the end of each round (requests and watch events by resource).
import { execFile, execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type AppInstance, type AppTemplate, orgOfNamespace } from "@atrium/crds";
import { Informer, KubeClient, type KubeObject, R, type ResourceType } from "@atrium/kube";
import { KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import { desiredDeployment, desiredService, resolveSettings } from "../../operator/src/appinstance/desired.ts";
import { managedLabels } from "../../operator/src/labels.ts";
import { OPERATOR_NODE_FLAGS } from "../../operator/src/node-flags.ts";
import { MAX_WRITES_IN_FLIGHT } from "../../operator/src/operator.ts";
import { startControlPlane } from "../../test/cluster/controlplane.ts";
import { echoTemplate } from "../../test/cluster/fake-pods.ts";
import { installCatalog, installCrds } from "../../test/cluster/install.ts";
import { startOperator } from "../../test/cluster/operator-process.ts";
import { until } from "../../test/cluster/until.ts";
import { cpuTime } from "../cpu.ts";
import { writeResult } from "../results.ts";

const ORGS = Number(process.env.BENCH_ORGS ?? 50);
const APPS_PER_ORG = Number(process.env.BENCH_APPS_PER_ORG ?? 20);
const TEMPLATE = process.env.BENCH_TEMPLATE ?? "bench-echo";
const STEADY_MS = Number(process.env.BENCH_STEADY_MS ?? 60_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
/** A variant (say BENCH_ORGS=10 to iterate quickly) prints its figures and keeps the results file. */
const FULL_SIZE = ORGS === 50 && APPS_PER_ORG === 20;
/** A directory to write the operator's CPU profiles to (node --cpu-prof), one per operator round. */
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF;
/** A directory for the apiserver's CPU profiles, one per round, and how many seconds each covers. */
const APISERVER_PROF_DIR = process.env.BENCH_APISERVER_PROF;
const APISERVER_PROF_S = Number(process.env.BENCH_APISERVER_PROF_S ?? 30);
/** A directory for the apiserver's /metrics text at the end of each round. */
const APISERVER_METRICS_DIR = process.env.BENCH_APISERVER_METRICS;
/**
 * The direct client's apps at once: each app's Service and Deployment together, so at most
 * MAX_WRITES_IN_FLIGHT writes in flight, the operator's own cap (operator.ts) on its writes.
 */
const APP_CONCURRENCY = MAX_WRITES_IN_FLIGHT / 2;
const A = "atrium.dev/v1alpha1";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (m: string) => console.log(`[reconcile-1000] ${m}`);

/** Runs `work` over `items` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

/** The middle value; for an even count, the mean of the two middle ones (two rounds are common). */
const median = (xs: readonly number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

const peakRssMb = (pid: number) =>
  Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmHWM:\s+(\d+) kB/)?.[1] ?? 0) / 1024;

/**
 * CPU seconds (user + system) each process of a round used since `start()`: the control plane's
 * components, the operator (when there is one) and this process (the bench's client). On a
 * shared 2-core machine the round's time follows the CPU everything needs, so this says where
 * the operator round's extra time goes.
 */
function cpuMeter(pids: Record<string, number>) {
  const read = () => {
    const out: Record<string, number> = {};
    for (const [name, pid] of Object.entries(pids)) {
      try {
        const t = cpuTime(pid);
        out[name] = t.user + t.system;
      } catch {
        out[name] = Number.NaN; // gone
      }
    }
    const self = process.cpuUsage();
    out.bench = (self.user + self.system) / 1e6;
    return out;
  };
  const start = read();
  return () => {
    const now = read();
    return Object.entries(now)
      .map(([name, s]) => `${name} ${(s - (start[name] ?? 0)).toFixed(1)}`)
      .join(", ");
  };
}

let profiles = 0;
/**
 * Starts the apiserver's CPU profile of the round's first APISERVER_PROF_S seconds (pprof over
 * kubectl get --raw) when BENCH_APISERVER_PROF names a directory; the file is written when it ends.
 */
function profileApiserver(cp: { binDir: string; kubeconfig: string }, round: string) {
  if (!APISERVER_PROF_DIR) return;
  const file = join(APISERVER_PROF_DIR, `apiserver-${++profiles}-${round}.pprof`);
  const path = `/debug/pprof/profile?seconds=${APISERVER_PROF_S}`;
  execFile(
    join(cp.binDir, "kubectl"),
    [`--kubeconfig=${cp.kubeconfig}`, "get", "--raw", path],
    { encoding: "buffer", maxBuffer: 64 * 2 ** 20, timeout: (APISERVER_PROF_S + 60) * 1000 },
    (error, stdout) => {
      if (error) log(`apiserver profile (${round}) failed: ${error.message}`);
      else writeFileSync(file, stdout);
    },
  );
}

let metricDumps = 0;
/**
 * Writes the apiserver's /metrics (apiserver_request_total by verb and resource,
 * apiserver_watch_events_total by kind, …) when BENCH_APISERVER_METRICS names a directory:
 * what the round asked of the apiserver, to compare the two rounds request by request.
 */
function dumpApiserverMetrics(cp: { binDir: string; kubeconfig: string }, round: string) {
  if (!APISERVER_METRICS_DIR) return;
  const file = join(APISERVER_METRICS_DIR, `apiserver-metrics-${++metricDumps}-${round}.txt`);
  try {
    const text = execFileSync(
      join(cp.binDir, "kubectl"),
      [`--kubeconfig=${cp.kubeconfig}`, "get", "--raw", "/metrics"],
      {
        encoding: "utf8",
        maxBuffer: 256 * 2 ** 20,
      },
    );
    writeFileSync(file, text);
  } catch (error) {
    log(`apiserver metrics (${round}) failed: ${(error as Error).message}`);
  }
}

/** The apiserver's request counters (apiserver_request_total) by "VERB resource", summed over codes and scopes. */
function apiserverRequests(cp: { binDir: string; kubeconfig: string }): Map<string, number> {
  const counts = new Map<string, number>();
  try {
    const text = execFileSync(
      join(cp.binDir, "kubectl"),
      [`--kubeconfig=${cp.kubeconfig}`, "get", "--raw", "/metrics"],
      {
        encoding: "utf8",
        maxBuffer: 256 * 2 ** 20,
      },
    );
    for (const m of text.matchAll(/^apiserver_request_total\{([^}]*)\} (\S+)$/gm)) {
      const labels = m[1] as string;
      const verb = /verb="([^"]+)"/.exec(labels)?.[1] ?? "?";
      const resource = /resource="([^"]*)"/.exec(labels)?.[1] ?? "?";
      const sub = /subresource="([^"]+)"/.exec(labels)?.[1];
      const key = `${verb} ${resource}${sub ? `/${sub}` : ""}`;
      counts.set(key, (counts.get(key) ?? 0) + Number(m[2]));
    }
  } catch (error) {
    log(`apiserver requests: ${(error as Error).message}`);
  }
  return counts;
}

/**
 * What a round asked of the apiserver, from its counters before and after: writes by verb and
 * resource (everyone's: the bench's, the operator's, the controllers' and KWOK's), and the
 * total of reads. To compare the two rounds request by request.
 */
function requestsMeter(cp: { binDir: string; kubeconfig: string }) {
  const before = apiserverRequests(cp);
  return () => {
    const after = apiserverRequests(cp);
    const delta = [...after]
      .map(([k, n]) => [k, n - (before.get(k) ?? 0)] as const)
      .filter(([, n]) => n > 0)
      .sort(([, a], [, b]) => b - a);
    const isWrite = (k: string) => /^(POST|PUT|PATCH|DELETE|APPLY|CREATE|UPDATE)/.test(k);
    const writes = delta.filter(([k]) => isWrite(k));
    const sum = (xs: readonly (readonly [string, number])[]) => xs.reduce((a, [, n]) => a + n, 0);
    return (
      `${sum(writes)} writes (${writes.map(([k, n]) => `${k} ${n}`).join(", ")}); ` +
      `${sum(delta) - sum(writes)} other requests (${delta
        .filter(([k]) => !isWrite(k))
        .slice(0, 8)
        .map(([k, n]) => `${k} ${n}`)
        .join(", ")})`
    );
  };
}

/** Seconds from `started` of the p50, p90 and last of some moments (ISO times, 1 s resolution). */
function spread(started: number, isoTimes: (string | undefined)[]) {
  const s = isoTimes
    .filter((t): t is string => !!t)
    .map((t) => (Date.parse(t) - started) / 1000)
    .sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]?.toFixed(0) ?? "-";
  return `p50 ${at(0.5)}, p90 ${at(0.9)}, last ${at(1)} s (${s.length})`;
}

type Cond = { type: string; status: string; lastTransitionTime?: string };
const conditionAt = (o: KubeObject, type: string) =>
  ((o.status as { conditions?: Cond[] } | undefined)?.conditions ?? []).find(
    (c) => c.type === type && c.status === "True",
  )?.lastTransitionTime;

/**
 * A round's timeline, read after its clock stopped from the objects' own times: when the
 * Services and Deployments were created, when the Deployments became Available, and (operator
 * round) when the AppInstances were created and became Ready. Says whether a round's time went
 * into creating the children or into what follows.
 */
async function timeline(client: KubeClient, started: number, apps: boolean) {
  const managed = (o: KubeObject) => orgOfNamespace(o.metadata.namespace) !== undefined;
  const created = (xs: KubeObject[]) => xs.filter(managed).map((o) => o.metadata.creationTimestamp);
  const deployments = (await client.list(R.deployment)).items.filter(managed);
  const lines = [
    `services created ${spread(started, created((await client.list(R.service)).items))}`,
    `deployments created ${spread(started, created(deployments))}`,
    `deployments available ${spread(
      started,
      deployments.map((d) => conditionAt(d, "Available")),
    )}`,
  ];
  if (apps) {
    const instances = (await client.list(R.appInstance)).items;
    lines.unshift(`apps created ${spread(started, created(instances))}`);
    lines.push(
      `apps ready ${spread(
        started,
        instances.map((a) => conditionAt(a, "Ready")),
      )}`,
    );
  }
  return lines.join("; ");
}

const orgNames = () => Array.from({ length: ORGS }, (_, i) => `bench-${i}`);
const appNames = () => Array.from({ length: APPS_PER_ORG }, (_, i) => `app-${i}`);

/** A fresh control plane with the CRDs, the catalog and the bench template. */
async function freshCluster() {
  const cp = await startControlPlane({ log });
  installCrds(cp);
  installCatalog(cp);
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  const objects = KubernetesObjectApi.makeApiClient(kc);
  // A template without a volume: what is measured is the operator, not the test cluster's
  // hostPath provisioner (it binds claims one at a time; see BENCH_TEMPLATE to include it).
  await objects.create(echoTemplate("bench-echo", 80) as never);
  return { cp, kc, objects };
}

/**
 * How a round sees its objects become ready. `watch` (the default): an informer (the
 * operator's own list-and-watch cache, @atrium/kube), started by the same rule in both rounds:
 * once the round's own writes are sent (the direct round's applies; the operator round's
 * creates), it lists what is there and then follows the changes. The clock stops at the
 * change that made the last one ready. The direct round's watch starts when nearly every
 * Deployment is already ready (a list and a few events), the operator round's some 10 s into
 * its minute (a list, then about two events per app), so what observing costs still falls
 * more on the operator's round. `poll`: the earlier method, a full list every 0.5 s; the
 * direct round began to poll only once its applies were done (2 lists in all) while the
 * operator round polled from its first create (about 80 lists of 1,000 AppInstances with
 * their status), so the operator round paid the apiserver for an observer the direct round
 * hardly had (kept to compare with older figures).
 */
const OBSERVE = process.env.BENCH_OBSERVE === "poll" ? "poll" : "watch";

/** Polls `count` every 0.5 s until it reaches the total; seconds since `started`. */
async function readyAfter(
  started: number,
  what: string,
  count: () => Promise<number>,
  progress: () => Promise<string> = async () => "",
) {
  const total = ORGS * APPS_PER_ORG;
  let lastLog = 0;
  for (;;) {
    await sleep(500);
    const ready = await count();
    if (ready >= total) break;
    if (Date.now() - lastLog > 5000) {
      lastLog = Date.now();
      log(`${what}: ${((Date.now() - started) / 1000).toFixed(0)} s: ${ready}/${total} ready${await progress()}`);
    }
    if (Date.now() - started > 300_000) throw new Error(`${what}: only ${ready}/${total} ready after 5 minutes`);
  }
  const s = (Date.now() - started) / 1000;
  log(`${what}: all ${total} ready after ${s.toFixed(1)} s`);
  return s;
}

/**
 * From now on, watches `type` (a list, then its changes) and counts the objects `isReady`
 * accepts; resolves with the seconds from `started` to the change that made the last one
 * ready (an object ready when listed counts as ready at the list), checking every 0.5 s (a
 * progress line every 5 s).
 */
async function watchedReadyAfter(
  client: KubeClient,
  type: ResourceType,
  isReady: (o: KubeObject) => boolean,
  started: number,
  what: string,
  progress?: () => Promise<string>,
) {
  const informer = new Informer(client, type);
  const ready = new Set<string>();
  let lastReadyAt = 0;
  informer.on((ch) => {
    if (ch.type !== "deleted" && isReady(ch.object)) {
      if (!ready.has(ch.key)) lastReadyAt = Date.now();
      ready.add(ch.key);
    } else ready.delete(ch.key);
  });
  informer.start();
  try {
    await readyAfter(started, what, async () => ready.size, progress);
    const s = (lastReadyAt - started) / 1000;
    log(`${what}: the last one became ready at ${s.toFixed(1)} s (watched)`);
    return s;
  } finally {
    informer.stop();
  }
}

const deploymentReady = (d: KubeObject) =>
  orgOfNamespace(d.metadata.namespace) !== undefined &&
  ((d.status as { readyReplicas?: number } | undefined)?.readyReplicas ?? 0) >= 1;
const appReady = (a: KubeObject) =>
  (a.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions?.some(
    (c) => c.type === "Ready" && c.status === "True",
  ) ?? false;

/**
 * The baseline: each org's namespace, then every app's Service and Deployment as the operator
 * would write them (its own functions, owner references left out: there is no AppInstance to
 * own them), server-side applied with the operator's client, 16 apps at a time (an app's two
 * objects at once, as the operator applies them); timed until every
 * Deployment has a ready replica.
 */
async function directRound(): Promise<number> {
  const { cp, kc, objects } = await freshCluster();
  try {
    const template = (await objects.read({
      apiVersion: A,
      kind: "AppTemplate",
      metadata: { name: TEMPLATE },
    } as never)) as unknown as AppTemplate & KubeObject;
    const client = new KubeClient(kc, { fieldManager: "bench-direct" });
    const unowned = (o: KubeObject): KubeObject => {
      const { ownerReferences: _none, ...metadata } = o.metadata;
      return { ...o, metadata };
    };
    const requests = requestsMeter(cp);
    const cpu = cpuMeter(cp.pids);
    profileApiserver(cp, "direct");
    const started = Date.now();
    await pool(orgNames(), 25, (org) =>
      client.apply(R.namespace, { metadata: { name: `org-${org}`, labels: managedLabels(org) } }),
    );
    const apps = orgNames().flatMap((org) =>
      appNames().map(
        (name) =>
          ({
            apiVersion: A,
            kind: "AppInstance",
            metadata: { name, namespace: `org-${org}`, uid: "direct" },
            spec: { template: TEMPLATE },
          }) as unknown as AppInstance & KubeObject,
      ),
    );
    await pool(apps, APP_CONCURRENCY, async (app) => {
      const settings = resolveSettings(app, template, {}, () => "unused");
      const version = template.spec.defaultVersion;
      // As the operator does: an app's Service and Deployment at once (up to 2 × 16 in flight).
      await Promise.all([
        client.apply(R.service, unowned(desiredService(app, template))),
        client.apply(R.deployment, unowned(desiredDeployment(app, template, { version, settings, replicas: 1 }))),
      ]);
    });
    log(`direct: applied ${apps.length} Services and Deployments in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const s =
      OBSERVE === "watch"
        ? await watchedReadyAfter(client, R.deployment, deploymentReady, started, "direct")
        : await readyAfter(
            started,
            "direct",
            async () => (await client.list(R.deployment)).items.filter(deploymentReady).length,
          );
    log(`direct: CPU seconds until all were ready: ${cpu()}`);
    log(`direct: apiserver requests until all were ready: ${requests()}`);
    log(`direct: timeline: ${await timeline(client, started, false)}`);
    dumpApiserverMetrics(cp, "direct");
    return s;
  } finally {
    await cp.stop();
  }
}

type OperatorRound = { s: number; rss?: number; steadyWrites?: number; leaseWrites?: number };

/** Organizations and AppInstances created at once; timed until every AppInstance is Ready. */
async function operatorRound(measureSteadyState: boolean): Promise<OperatorRound> {
  const { cp, kc } = await freshCluster();
  try {
    // The direct round's client (one keep-alive pool): client-node's makes a new TLS connection
    // per request, which on 2 cores would weigh on this round and not on the other.
    const client = new KubeClient(kc, { fieldManager: "bench" });
    const op = await startOperator({
      kubeconfig: cp.kubeconfig,
      id: "bench",
      leaseNamespace: "atrium-system",
      env: CPU_PROF_DIR ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${CPU_PROF_DIR}` } : {},
    });
    await op.waitUntil("leadership", async () => (await op.status()).leader);
    const total = ORGS * APPS_PER_ORG;
    const requests = requestsMeter(cp);
    const cpu = cpuMeter({ ...cp.pids, operator: op.pid });
    profileApiserver(cp, "operator");
    const started = Date.now();
    const orgs = orgNames();
    await pool(orgs, 25, (name) =>
      client.create(R.organization, {
        apiVersion: A,
        kind: "Organization",
        metadata: { name },
        spec: { displayName: name },
      }),
    );
    // An app needs its org's namespace; create each org's apps as soon as it exists.
    await pool(orgs, 10, async (org) => {
      const ns = `org-${org}`;
      await until(`namespace ${ns}`, () => client.get(R.namespace, ns));
      await pool(appNames(), 5, (name) =>
        client.create(R.appInstance, {
          apiVersion: A,
          kind: "AppInstance",
          metadata: { name, namespace: ns },
          spec: { template: TEMPLATE },
        }),
      );
    });
    log(`operator: created ${ORGS} orgs and ${total} apps in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const queued = async () => `; queued ${JSON.stringify((await op.status()).queues)}`;
    const s =
      OBSERVE === "watch"
        ? await watchedReadyAfter(client, R.appInstance, appReady, started, "operator", queued)
        : await readyAfter(
            started,
            "operator",
            async () => (await client.list(R.appInstance)).items.filter(appReady).length,
            queued,
          );
    log(`operator: CPU seconds until all were Ready: ${cpu()}`);
    log(`operator: apiserver requests until all were Ready: ${requests()}`);
    dumpApiserverMetrics(cp, "operator");
    log(`operator writes per app until all were Ready: ${await writesPerApp(op)}`);
    log(`operator passes per app until all were Ready: ${((await op.reconciles("AppInstance")) / total).toFixed(1)}`);
    log(`operator: timeline: ${await timeline(client, started, true)}`);
    if (!measureSteadyState) {
      await op.kill();
      return { s };
    }
    await op.settled(2000);
    const writesBefore = await op.objectWrites();
    const leaseBefore = await op.metric("atrium_operator_api_writes_total", (l) => l.includes('resource="leases"'));
    await sleep(STEADY_MS);
    const steadyWrites = (await op.objectWrites()) - writesBefore;
    const leaseWrites =
      (await op.metric("atrium_operator_api_writes_total", (l) => l.includes('resource="leases"'))) - leaseBefore;
    const rss = peakRssMb(op.pid);
    const heapMb = (await op.metric("atrium_operator_nodejs_heap_size_used_bytes")) / 2 ** 20;
    log(`operator heap in use after the run: ${heapMb.toFixed(0)} MB`);
    // Events trail the burst (one at a time): by now every one told should have been written.
    const events = await op.metric("atrium_operator_api_writes_total", (l) => l.includes('resource="events"'));
    log(`events written in all by the end of steady state: ${events} (${(events / total).toFixed(2)} per app)`);
    log(
      `steady state: ${steadyWrites} object writes, ${leaseWrites} lease renewals in ${STEADY_MS / 1000} s; peak RSS ${rss.toFixed(0)} MB`,
    );
    await op.kill();
    return { s, rss, steadyWrites, leaseWrites };
  } finally {
    await cp.stop();
  }
}

/** The operator's writes so far by resource, per app ("deployments 1.00, appinstances 2.02, …"). */
async function writesPerApp(op: Awaited<ReturnType<typeof startOperator>>) {
  const text = await (await fetch(`${op.admin}/metrics`)).text();
  const byResource = new Map<string, number>();
  for (const m of text.matchAll(/^atrium_operator_api_writes_total\{([^}]*)\} (\S+)$/gm)) {
    const resource = /resource="([^"]+)"/.exec(m[1] as string)?.[1] ?? "?";
    if (resource !== "leases") byResource.set(resource, (byResource.get(resource) ?? 0) + Number(m[2]));
  }
  const apps = ORGS * APPS_PER_ORG;
  const total = [...byResource.values()].reduce((a, b) => a + b, 0);
  return `${(total / apps).toFixed(2)} in all: ${[...byResource]
    .sort(([, a], [, b]) => b - a)
    .map(([r, n]) => `${r} ${(n / apps).toFixed(2)}`)
    .join(", ")}`;
}

export async function run() {
  const direct: number[] = [];
  const operator: OperatorRound[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    direct.push(await directRound());
    operator.push(await operatorRound(round === ROUNDS - 1));
  }
  const last = operator.at(-1) as Required<OperatorRound>;
  const directS = median(direct);
  const operatorS = median(operator.map((o) => o.s));
  const round1 = (n: number) => Math.round(n * 10) / 10;
  const ratio = Math.round((operatorS / directS) * 100) / 100;
  log(`medians: direct ${directS.toFixed(1)} s, operator ${operatorS.toFixed(1)} s, ratio ${ratio}`);
  if (!FULL_SIZE) {
    log(`a ${ORGS} x ${APPS_PER_ORG} variant: results file left alone`);
    return;
  }
  writeResult({
    scenario: "reconcile-1000",
    method:
      `${ORGS} orgs x ${APPS_PER_ORG} apps (template ${TEMPLATE}: ${TEMPLATE === "bench-echo" ? "Deployment and Service" : "Deployment, Service and PVC"}) on the local control plane ` +
      "(etcd, kube-apiserver, controller-manager, scheduler, 1 KWOK node), a fresh one per round; " +
      `${ROUNDS} rounds alternating direct, operator. Operator: Organizations and AppInstances created at once (with the same client as the direct round), clock from the first create to every AppInstance Ready=True. ` +
      `Direct: the same namespaces, Services and Deployments (the operator's desired-state functions) server-side applied with the operator's client at the operator's cap on writes in flight (${MAX_WRITES_IN_FLIGHT}: ${APP_CONCURRENCY} apps, each app's Service and Deployment at once, as the operator applies them), clock from the first apply to every Deployment readyReplicas=1. ` +
      (OBSERVE === "watch"
        ? "Both observed alike: a watch (the operator's informer code) on the Deployments, or the AppInstances, started once the round's own writes were sent (the applies; the creates); the clock stops at the change that made the last one ready. "
        : "Both polled every 0.5 s (the direct round only after its applies; BENCH_OBSERVE=poll, the earlier method). ") +
      "Medians of the rounds " +
      `(direct ${direct.map((s) => s.toFixed(1)).join(", ")} s; operator ${operator.map((o) => o.s.toFixed(1)).join(", ")} s). ` +
      "The operator writes its Events one at a time per recorder and after its other waiting writes, so under this burst most come after the clock stops (the writes-per-app log counts those written before it). " +
      `Last operator round: peak RSS = VmHWM of the operator process; steady-state writes = its writes to anything but its leader Lease (and Events) ` +
      `during ${STEADY_MS / 1000} s after the queues drained (lease renewals in that window: ${last.leaseWrites}). Operator flags: ${OPERATOR_NODE_FLAGS.join(" ")}.`,
    metrics: {
      direct_apply_s: round1(directS),
      operator_s: round1(operatorS),
      ratio_vs_direct_apply: ratio,
      operator_peak_rss_mb: Math.round(last.rss),
      steady_state_writes: last.steadyWrites,
    },
    goals: { ratio_vs_direct_apply: "<= 1.3", operator_peak_rss_mb: "< 250", steady_state_writes: "== 0" },
  });
}
