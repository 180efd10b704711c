// entitlement: the gateway's billing decision before it serves or wakes an app, with 10,000
// paid apps (and their published subscriptions) in its caches. In one process: the gateway's
// own Informers (fed by a list, as at start; no apiserver needed for a lookup) and its own check
// (gateway/src/entitlement.ts billingCheck, as gateway.ts calls it per request). Side by side,
// call for call: the bare AppInstance cache lookup every request already costs. Each call is
// timed on its own (process.hrtime, ~50 ns resolution).
import type { AppInstance, AppTemplate, Entitlement } from "@atrium/crds";
import { Informer, type KubeClient, type KubeObject, keyOf, R } from "@atrium/kube";
import { billingCheck } from "../../gateway/src/entitlement.ts";
import { writeResult } from "../results.ts";
import { percentile } from "../stats.ts";

const ORGS = 200;
const PAID_PER_ORG = 50; // 10,000 paid apps, each with its published subscription
const FREE_PER_ORG = 5; // and 1,000 free ones
const PAID_TEMPLATES = 40;
const FREE_TEMPLATES = 10;
const SAMPLES = Number(process.env.BENCH_ENTITLEMENT_SAMPLES ?? 1_000_000);
const WARMUP = 200_000;
const log = (m: string) => console.log(`[entitlement] ${m}`);

function seeded(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

/** An Informer's client that lists `items` once and then watches forever without news. */
const listing = (items: KubeObject[]) =>
  ({
    list: async () => ({ items, resourceVersion: "1" }),
    watch: () => ({ abort: () => {}, done: new Promise<void>(() => {}) }),
  }) as unknown as KubeClient;

const iso = (ms: number) => new Date(ms).toISOString();

function world(now: number) {
  const random = seeded(11);
  const templates: (AppTemplate & KubeObject)[] = Array.from({ length: PAID_TEMPLATES + FREE_TEMPLATES }, (_, i) => ({
    apiVersion: "atrium.dev/v1alpha1",
    kind: "AppTemplate",
    metadata: { name: `tpl-${i}` },
    spec: {
      displayName: `Template ${i}`,
      category: "Development",
      image: `example/tpl-${i}`,
      versions: ["1.0"],
      defaultVersion: "1.0",
      ports: [{ name: "http", containerPort: 8080 }],
      ...(i < PAID_TEMPLATES
        ? {
            pricing: {
              trialDays: 30,
              plans: [
                { id: "monthly", interval: "monthly", amount: 900, currency: "EUR" },
                { id: "annual", interval: "annual", amount: 9000, currency: "EUR" },
              ],
            },
          }
        : {}),
    },
  }));
  // What the API publishes, in a plausible mix: most paid or trialing, some lapsed by the clock
  // (a trial past its end, decided by the gateway alone), some refused.
  const entitlementFor = (r: number): Entitlement => {
    if (r < 0.4) return { allowed: true, reason: "Active", until: iso(now + 20 * 86_400_000), plan: "monthly" };
    if (r < 0.7) return { allowed: true, reason: "Trialing", until: iso(now + 10 * 86_400_000), message: "Trial" };
    if (r < 0.8) return { allowed: true, reason: "Trialing", until: iso(now - 3_600_000), message: "Trial" };
    if (r < 0.85) return { allowed: true, reason: "Lifetime" };
    if (r < 0.97) return { allowed: false, reason: "TrialEnded", message: "Members with billing:manage can subscribe" };
    return { allowed: true, reason: "PastDue", until: iso(now + 3 * 86_400_000) };
  };
  const apps: (AppInstance & KubeObject)[] = [];
  for (let o = 0; o < ORGS; o++)
    for (let a = 0; a < PAID_PER_ORG + FREE_PER_ORG; a++) {
      const paid = a < PAID_PER_ORG;
      const template = paid
        ? `tpl-${Math.floor(random() * PAID_TEMPLATES)}`
        : `tpl-${PAID_TEMPLATES + Math.floor(random() * FREE_TEMPLATES)}`;
      const entitlement = paid ? entitlementFor(random()) : undefined;
      apps.push({
        apiVersion: "atrium.dev/v1alpha1",
        kind: "AppInstance",
        metadata: { name: `app-${a}`, namespace: `org-org-${o}`, uid: `uid-${o}-${a}`, resourceVersion: "1" },
        spec: { template, access: { policy: "Members" }, idle: { policy: "Auto", timeout: "12h" } },
        status: {
          phase: "Running",
          url: `https://app-${a}.org-${o}.atrium.example`,
          lastActivity: iso(now - 60_000),
          ...(entitlement ? { entitlement } : {}),
        },
      });
    }
  return { templates, apps };
}

export async function run() {
  const now = Date.now();
  const { templates, apps } = world(now);
  // The gateway's caches as gateway.ts builds them.
  const appCache = new Informer<AppInstance & KubeObject>(listing(apps), R.appInstance).start();
  const templateCache = new Informer<AppTemplate & KubeObject>(listing(templates), R.appTemplate).start();
  await Promise.all([appCache.synced, templateCache.synced]);
  appCache.stop();
  templateCache.stop();
  const billing = billingCheck(templateCache);
  const paid = apps.filter((a) => a.status?.entitlement).length;
  log(`${apps.length} apps (${paid} with a published subscription) of ${templates.length} templates in the caches`);

  const random = seeded(42);
  const keys = Array.from({ length: 4096 }, () => keyOf(apps[Math.floor(random() * apps.length)] as KubeObject));
  let sink = 0;
  /** What every request already costs: the app from the cache. */
  const lookup = (key: string) => (appCache.get(key) ? 1 : 0);
  /** The gateway's billing step: that lookup, the template, the decision. */
  const decision = (key: string) => {
    const app = appCache.get(key);
    return app && billing(app, Date.now()) ? 1 : 0;
  };
  for (let i = 0; i < WARMUP; i++) sink += lookup(keys[i & 4095] as string) + decision(keys[i & 4095] as string);

  const bare: number[] = new Array(SAMPLES);
  const ours: number[] = new Array(SAMPLES);
  let refused = 0;
  const started = performance.now();
  for (let i = 0; i < SAMPLES; i++) {
    const key = keys[(i * 7919) & 4095] as string;
    const t0 = process.hrtime.bigint();
    sink += lookup(key);
    const t1 = process.hrtime.bigint();
    const r = decision(key);
    const t2 = process.hrtime.bigint();
    refused += r;
    bare[i] = Number(t1 - t0) / 1000;
    ours[i] = Number(t2 - t1) / 1000;
  }
  const seconds = (performance.now() - started) / 1000;
  if (sink === 0) throw new Error("no app found in the cache");
  log(`${SAMPLES} decisions and as many bare lookups in ${seconds.toFixed(1)} s; ${refused} refusals (402)`);

  const p = (xs: number[], q: number) => Number(percentile(xs, q).toFixed(2));
  const result = writeResult({
    scenario: "entitlement",
    method:
      `The gateway's billing check before serving or waking an app (gateway/src/entitlement.ts billingCheck, as ` +
      `gateway.ts calls it: AppInstance from the cache, its AppTemplate, decideEntitlement) with ${apps.length} ` +
      `apps of ${ORGS} orgs (${paid} with a published subscription: active, trialing, trials past their end, ` +
      `lifetime, refused) in the gateway's own Informers, fed by one list, in one process. Side by side with the bare ` +
      `AppInstance cache lookup every request costs anyway, alternating call for call over ${SAMPLES} random keys ` +
      `after ${WARMUP} warm-up calls; each call timed alone with process.hrtime (its own ~50 ns included in both); ` +
      "nearest-rank percentiles.",
    metrics: {
      decision_p99_us: p(ours, 99),
      decision_p50_us: p(ours, 50),
      decision_p999_us: p(ours, 99.9),
      bare_lookup_p99_us: p(bare, 99),
      bare_lookup_p50_us: p(bare, 50),
      ratio_decision_vs_lookup_p99: Number((percentile(ours, 99) / percentile(bare, 99)).toFixed(2)),
    },
    goals: { decision_p99_us: "<= 20" },
  });
  log(JSON.stringify(result.metrics));
}
