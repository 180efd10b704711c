// install: 100 installs through the API on KWOK, timed from the API call to phase Running, side
// by side with the same AppInstances server-side applied directly (as `kubectl apply
// --server-side` would). One control plane, the real operator process and the API assembly in
// this process (an Admin's API key); in each round the two paths' installs are interleaved
// (kubectl, API, kubectl, API …) so both meet the same load, and the round's apps are deleted
// before the next. "Running" is seen through one watch of AppInstances in this process, the
// same for both paths. Two installs in flight (people installing, not a bulk import): at 10 in
// flight the 2-core cluster itself saturates and every path's latency is queueing in the
// controllers (the ratio stays about 1). BENCH_INSTALLS, BENCH_CONCURRENCY and BENCH_ROUNDS vary
// it (a variant prints its figures and keeps the results file).
import { namespaceFor } from "@atrium/crds";
import { Informer, KubeClient, type KubeObject, R } from "@atrium/kube";
import { KubeConfig } from "@kubernetes/client-node";
import { generateKey, hashKey } from "../../api/src/auth/keyformat.ts";
import { startApi } from "../../test/cluster/api-stack.ts";
import { startControlPlane } from "../../test/cluster/controlplane.ts";
import { echoTemplate } from "../../test/cluster/fake-pods.ts";
import { installCrds } from "../../test/cluster/install.ts";
import { startOperator } from "../../test/cluster/operator-process.ts";
import { until } from "../../test/cluster/until.ts";
import { writeResult } from "../results.ts";
import { median, percentile } from "../stats.ts";

const INSTALLS = Number(process.env.BENCH_INSTALLS ?? 100);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const FULL_SIZE = INSTALLS === 100 && CONCURRENCY === 2 && ROUNDS === 2;
const ORG = "bench";
const NS = namespaceFor(ORG);
const TEMPLATE = "bench-echo";
const log = (m: string) => console.log(`[install] ${m}`);

type App = KubeObject & { status?: { phase?: string } };

/** Runs `work` over `items` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

export async function run() {
  const cp = await startControlPlane({ log });
  const stops: Array<() => Promise<unknown> | unknown> = [() => cp.stop()];
  try {
    installCrds(cp);
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    const kube = new KubeClient(kc, { fieldManager: "atrium-bench" });
    const kubectl = new KubeClient(kc, { fieldManager: "kubectl" });
    await kube.create(R.appTemplate, echoTemplate(TEMPLATE, 80) as never);
    const operator = await startOperator({ kubeconfig: cp.kubeconfig, id: "bench", leaseNamespace: "atrium-system" });
    stops.push(() => operator.kill());
    await kube.create(R.organization, { metadata: { name: ORG }, spec: { displayName: "Bench" } } as never);
    await until(
      "the org's roles",
      async () => (await kube.list(R.orgRole, { namespace: NS })).items.length >= 5,
      60_000,
    );
    const adminEmail = "admin@bench.example";
    await kube.create(R.member, {
      metadata: { name: "admin", namespace: NS },
      spec: { email: adminEmail, role: "admin" },
    } as never);
    await kube.apply(
      R.member,
      { metadata: { name: "admin", namespace: NS }, status: { joinedAt: new Date().toISOString() } } as never,
      { subresource: "status" },
    );
    const api = await startApi({
      kubeconfig: cp.kubeconfig,
      env: { ATRIUM_RATE_STANDARD: "100000000/1m" },
      quiet: true,
    });
    stops.push(() => api.stop());
    await until("the admin's permissions", async () => api.directory.authorizer.can(adminEmail, ORG, "apps:install"));
    await until("the template in the API's catalog", async () => !!api.services.catalog.get(TEMPLATE));
    const key = generateKey("STANDARD");
    await api.db.prisma.apiKey.create({
      data: {
        id: key.id,
        org: ORG,
        name: "bench",
        type: "STANDARD",
        prefix: key.display,
        hashVersion: api.config.peppers.current,
        hash: hashKey(api.config.peppers, api.config.peppers.current, key.secret),
        scopes: JSON.stringify(["apps:install", "apps:view", "apps:uninstall"]),
        createdBy: adminEmail,
        memberName: "admin",
        createdAt: new Date(),
      },
    });
    const headers = { authorization: `Bearer ${key.secret}`, "content-type": "application/json" };

    // When each app first showed phase Running, from one watch.
    const runningAt = new Map<string, number>();
    const apps = new Informer<App>(kube, R.appInstance).on((c) => {
      if (c.type !== "deleted" && c.object.status?.phase === "Running" && !runningAt.has(c.object.metadata.name))
        runningAt.set(c.object.metadata.name, performance.now());
    });
    apps.start();
    stops.push(() => apps.stop());
    await apps.synced;

    const paths = {
      kubectl: (name: string) =>
        kubectl.apply(
          R.appInstance,
          { metadata: { name, namespace: NS }, spec: { template: TEMPLATE, access: { policy: "Public" } } } as never,
          { force: false },
        ),
      api: async (name: string) => {
        const res = await fetch(`${api.base}/api/orgs/${ORG}/apps`, {
          method: "POST",
          headers,
          body: JSON.stringify({ template: TEMPLATE, name, access: { policy: "Public" } }),
        });
        if (res.status !== 201) throw new Error(`install ${name}: ${res.status} ${await res.text()}`);
      },
    };
    const samples = { kubectl: [] as number[], api: [] as number[] };
    const callMs: number[] = [];
    const roundSeconds: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Interleaved (kubectl, API, kubectl, API …) in one stream of installs: on a shared machine
      // both paths meet the same load, which separate rounds would not guarantee.
      const jobs = Array.from({ length: INSTALLS }, (_, i) =>
        (["kubectl", "api"] as const).map((path) => ({ path, name: `${path}-${round}-${i}` })),
      ).flat();
      const calledAt = new Map<string, number>();
      const started = performance.now();
      await pool(jobs, CONCURRENCY, async ({ path, name }) => {
        const at = performance.now();
        calledAt.set(name, at);
        await paths[path](name);
        if (path === "api") callMs.push(performance.now() - at);
      });
      const names = jobs.map((j) => j.name);
      await until(`round ${round}: all Running`, async () => names.every((n) => runningAt.has(n)), 300_000, 50);
      for (const { path, name } of jobs)
        samples[path].push((runningAt.get(name) as number) - (calledAt.get(name) as number));
      roundSeconds.push(`${((performance.now() - started) / 1000).toFixed(1)} s`);
      const last = (xs: number[]) => xs.slice(-INSTALLS);
      log(
        `round ${round}: kubectl p50 ${median(last(samples.kubectl)).toFixed(0)} ms, API p50 ${median(last(samples.api)).toFixed(0)} ms`,
      );
      // A clean slate for the next round: the apps and everything the operator made for them gone.
      await pool(names, 25, (n) => kube.delete(R.appInstance, n, NS));
      await until(
        "the round's apps and Deployments gone",
        async () =>
          names.every((n) => !apps.get(`${NS}/${n}`)) &&
          (await kube.list(R.deployment, { namespace: NS })).items.length === 0 &&
          (await kube.list(R.pod, { namespace: NS })).items.length === 0,
        180_000,
        500,
      );
    }

    const p = (xs: number[], q: number) => Math.round(percentile(xs, q));
    const metrics = {
      api_to_running_p50_ms: p(samples.api, 50),
      api_to_running_p99_ms: p(samples.api, 99),
      kubectl_to_running_p50_ms: p(samples.kubectl, 50),
      kubectl_to_running_p99_ms: p(samples.kubectl, 99),
      ratio_vs_kubectl: Math.round((percentile(samples.api, 50) / percentile(samples.kubectl, 50)) * 100) / 100,
      api_call_p50_ms: p(callMs, 50),
    };
    log(JSON.stringify(metrics));
    if (!FULL_SIZE) return;
    writeResult({
      scenario: "install",
      method:
        `${INSTALLS} installs per path per round, interleaved (kubectl, API, kubectl, API …) with ${CONCURRENCY} in flight, ${ROUNDS} rounds on one local control plane ` +
        "(etcd, kube-apiserver, controller-manager, scheduler, 1 KWOK node) with the operator process; template without pricing or volume. " +
        "API: POST /api/orgs/{org}/apps with an Admin's API key (the API assembly in the benchmark's process); " +
        "kubectl: the same AppInstance server-side applied (field manager kubectl). Time per app from the call to phase Running seen by one watch; " +
        `nearest-rank p50/p99 over ${INSTALLS * ROUNDS} apps per path; ratio = API p50 / kubectl p50; api_call_p50_ms = the POST's own answer time. ` +
        `Each round's apps (and their Deployments and pods) deleted before the next. Rounds took ${roundSeconds.join(", ")}.`,
      metrics,
      goals: { api_to_running_p50_ms: "<= 2000", api_to_running_p99_ms: "<= 5000", ratio_vs_kubectl: "<= 1.2" },
    });
  } finally {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => undefined);
  }
}
