// marketplace-search: search + category filter over a catalog of 2,000 AppTemplates, through
// the real API (in this process, on SQLite) over a real control plane: the templates are
// created in the apiserver and reach the API through its watch, as the real catalog does.
// wrk with an API key at 50 connections, rotating through searches with a category filter;
// side by side, alternating, with the same server's /healthz.
import { writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { APP_CATEGORIES } from "@atrium/crds";
import { KubeClient, R } from "@atrium/kube";
import { KubeConfig } from "@kubernetes/client-node";
import { startApi } from "../../test/cluster/api-stack.ts";
import { startControlPlane } from "../../test/cluster/controlplane.ts";
import { installCrds } from "../../test/cluster/install.ts";
import { until } from "../../test/cluster/until.ts";
import { cpuPerRequest, createApiKey, joinedMember, seedOrg as seedBenchOrg } from "../api-bench.ts";
import { writeResult } from "../results.ts";
import { median } from "../stats.ts";
import { wrk } from "../wrk.ts";

const TEMPLATES = Number(process.env.BENCH_TEMPLATES ?? 2_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 50;
const ROUNDS = 3;
const ORG = "bench";
const log = (m: string) => console.log(`[marketplace-search] ${m}`);

const NAME_WORDS = [
  "note",
  "chat",
  "sync",
  "vault",
  "flow",
  "board",
  "cloud",
  "pulse",
  "forge",
  "metric",
  "desk",
  "café",
];
const DESCRIPTION_WORDS = [
  "files",
  "calendars",
  "team",
  "dashboards",
  "passwords",
  "workflows",
  "monitoring",
  "backups",
  "documents",
  "agents",
  "alerts",
  "wikis",
];

/** The i-th template: names and descriptions from small vocabularies, so searches match many. */
export function template(i: number) {
  const word = NAME_WORDS[i % NAME_WORDS.length] as string;
  const other = NAME_WORDS[(i * 7 + 3) % NAME_WORDS.length] as string;
  const paid = i % 3 !== 0;
  return {
    apiVersion: "atrium.dev/v1alpha1",
    kind: "AppTemplate",
    metadata: { name: `app-${i}` },
    spec: {
      displayName: `${word[0]?.toUpperCase()}${word.slice(1)} ${other} ${i}`,
      description: `Self-hosted ${DESCRIPTION_WORDS[i % DESCRIPTION_WORDS.length]} and ${
        DESCRIPTION_WORDS[(i * 5 + 1) % DESCRIPTION_WORDS.length]
      } for teams of every size, number ${i}.`,
      category: APP_CATEGORIES[i % APP_CATEGORIES.length],
      publisher: `Publisher ${i % 40}`,
      image: `registry.example/app-${i}`,
      versions: ["2.0", "1.0"],
      defaultVersion: "2.0",
      ports: [{ name: "http", containerPort: 8080 }],
      env: [{ name: "ADMIN_PASSWORD", required: true, secret: true, generated: true }],
      ...(paid
        ? {
            pricing: {
              trialDays: i % 2 ? 30 : 0,
              plans: [
                { id: "monthly", interval: "monthly", amount: 100 * (i % 50), currency: "USD" },
                { id: "annual", interval: "annual", amount: 1000 * (i % 50), currency: i % 10 ? "USD" : "EUR" },
              ],
            },
          }
        : {}),
    },
  };
}

/** The searches the load rotates through: a query and a category each, the sorts mixed. */
export const SEARCHES = [
  "q=note&category=Productivity",
  "q=chat&category=Analytics&sort=popularity",
  "q=dashboards&category=Analytics",
  "q=CAFE&category=Security",
  "q=files%20teams&category=Storage&sort=price",
  "q=vault&category=Development&sort=name",
  "q=flow&category=Automation",
  "q=board&category=AI&limit=48",
];

/** The organization and a joined viewer, who searches. */
async function seedOrg(kube: KubeClient) {
  await seedBenchOrg(kube, ORG);
  await joinedMember(kube, ORG, "viewer", "viewer@bench.example", "viewer");
}

async function createTemplates(kube: KubeClient) {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < TEMPLATES; i = next++) await kube.create(R.appTemplate, template(i) as never);
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

export async function run() {
  const cp = await startControlPlane({ log });
  try {
    installCrds(cp);
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    const kube = new KubeClient(kc, { fieldManager: "atrium-bench" });
    await seedOrg(kube);
    const started = performance.now();
    await createTemplates(kube);
    log(`${TEMPLATES} templates created in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const api = await startApi({
      kubeconfig: cp.kubeconfig,
      env: { ATRIUM_RATE_STANDARD: "100000000/1m" },
      quiet: true,
      keepRequestLogs: false,
    });
    try {
      await until("the catalog in the API", async () => api.services.catalog.all().length === TEMPLATES, 120_000);
      await until("the viewer's permissions", async () =>
        api.directory.authorizer.can("viewer@bench.example", ORG, "marketplace:view"),
      );
      const secret = await createApiKey(api, {
        org: ORG,
        email: "viewer@bench.example",
        memberName: "viewer",
        scopes: ["marketplace:view"],
      });
      const headers = { authorization: `Bearer ${secret}` };
      const base = `/api/orgs/${ORG}/marketplace/apps`;
      let matched = 0;
      for (const search of SEARCHES) {
        const r = await fetch(`${api.base}${base}?${search}`, { headers });
        const body = (await r.json()) as { items: unknown[]; total: number };
        if (r.status !== 200 || body.items.length === 0)
          throw new Error(`unexpected answer to ${search}: ${r.status} ${JSON.stringify(body).slice(0, 300)}`);
        matched += body.total;
      }
      log(`the ${SEARCHES.length} searches match ${(matched / SEARCHES.length).toFixed(0)} templates on average`);
      const script = join(tmpdir(), `marketplace-search-${process.pid}.lua`);
      writeFileSync(
        script,
        `local paths = { ${SEARCHES.map((s) => `"${base}?${s}"`).join(", ")} }\n` +
          "local i = 0\n" +
          "request = function()\n  i = i + 1\n  return wrk.format(nil, paths[(i % #paths) + 1])\nend\n",
      );
      const healthz = `${api.base}/healthz`;
      const searchUrl = `${api.base}${base}`;
      await wrk(healthz, { connections: 10, seconds: 2, headers }); // warm-up
      await wrk(searchUrl, { connections: 10, seconds: 2, headers, script });
      const samples = {
        healthz: [] as number[],
        healthzP99: [] as number[],
        search: [] as number[],
        searchP99: [] as number[],
        healthzCpu: [] as number[],
        searchCpu: [] as number[],
      };
      for (let round = 0; round < ROUNDS; round++) {
        const { result: h, us: hCpu } = await cpuPerRequest(() =>
          wrk(healthz, { connections: CONNECTIONS, seconds: SECONDS, headers }),
        );
        // The event loop's own stalls during the search load (GC, synchronous work), to tell them
        // apart from waits that leave the loop free (a database read).
        const loop = monitorEventLoopDelay({ resolution: 1 });
        loop.enable();
        const { result: s, us: sCpu } = await cpuPerRequest(() =>
          wrk(searchUrl, { connections: CONNECTIONS, seconds: SECONDS, headers, script }),
        );
        loop.disable();
        if (h.non2xx || s.non2xx) throw new Error("non-2xx answers during the load");
        samples.healthz.push(h.rps);
        samples.healthzP99.push(h.p99);
        samples.search.push(s.rps);
        samples.searchP99.push(s.p99);
        samples.healthzCpu.push(hCpu);
        samples.searchCpu.push(sCpu);
        log(
          `round ${round + 1}: healthz ${h.rps.toFixed(0)} rps (p99 ${h.p99} ms, ${hCpu.toFixed(0)} µs CPU), ` +
            `search ${s.rps.toFixed(0)} rps (p99 ${s.p99} ms, ${sCpu.toFixed(0)} µs CPU; event loop delay p99 ` +
            `${(loop.percentile(99) / 1e6).toFixed(1)} ms, max ${(loop.max / 1e6).toFixed(1)} ms)`,
        );
      }
      writeResult({
        scenario: "marketplace-search",
        method:
          `GET ${base}?q=…&category=… over ${TEMPLATES} AppTemplates created in the apiserver (the API's catalog ` +
          `from its watch), ${SEARCHES.length} searches in rotation (each with a category filter; relevance, name, ` +
          `popularity and price sorts), API key auth, the API in one Node process on SQLite; wrk 4.1, 1 thread, ` +
          `${CONNECTIONS} connections, ${SECONDS} s per sample, ${ROUNDS} rounds alternating with the same server's ` +
          "/healthz; medians of the rounds. CPU per request: the API process's CPU time (process.cpuUsage) over a " +
          `sample divided by its requests. Load average (1 min) at the end: ${loadavg()[0]?.toFixed(1)}.`,
        metrics: {
          p99_ms: Number(median(samples.searchP99).toFixed(1)),
          search_rps: Math.round(median(samples.search)),
          healthz_rps: Math.round(median(samples.healthz)),
          healthz_p99_ms: Number(median(samples.healthzP99).toFixed(1)),
          ratio_vs_healthz: Number((median(samples.search) / median(samples.healthz)).toFixed(2)),
          search_cpu_us: Math.round(median(samples.searchCpu)),
          healthz_cpu_us: Math.round(median(samples.healthzCpu)),
          ratio_cpu_vs_healthz: Number((median(samples.searchCpu) / median(samples.healthzCpu)).toFixed(2)),
        },
        goals: { p99_ms: "<= 10" },
      });
    } finally {
      await api.stop();
    }
  } finally {
    await cp.stop();
  }
}
