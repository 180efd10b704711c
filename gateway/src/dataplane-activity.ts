// Activity without being in the path (issue 17, Gateway API mode): while an app runs, its
// traffic goes through the cluster's data plane and never reaches this gateway, so the activity
// comes from the data plane's own statistics. Envoy Gateway gives every HTTPRoute rule its own
// cluster, `httproute/<namespace>/<route>/rule/<index>`, and Envoy counts per cluster the
// requests sent (upstream_rq_total, a counter) and the ones under way (upstream_rq_active, a
// gauge that also holds open WebSockets and streams). Every interval each Envoy's admin /stats
// is read; an app whose `app` rule cluster has a request under way, or more requests than at the
// last reading, was active now, and the ActivityTracker writes that at its bounded rate.

import { errorMessage, type Logger } from "@atrium/kube";

export type ClusterCounters = { total: number; active: number };

/** The clusters of HTTPRoute rules in one reading: "<namespace>/<route>" → rule index → counters. */
export type RouteClusters = Map<string, Map<number, ClusterCounters>>;

/**
 * Only the two statistics needed, so a reading stays small with thousands of routes (RE2, as
 * Envoy's admin takes it). Histograms never match it.
 */
export const STATS_FILTER = String.raw`^cluster\.httproute/.*\.upstream_rq_(total|active)$`;

// A route's name and namespace hold no "/" (Kubernetes names), so the rule index is unambiguous
// even when the name has dots. Plain text: `cluster.<name>.upstream_rq_total: 3`.
const TEXT_STAT = /^cluster\.httproute\/([^/]+)\/([^/]+)\/rule\/(\d+)\.upstream_rq_(total|active): (\d+)$/;
// Prometheus (/stats/prometheus, what Envoy Gateway's proxies serve on their pod address, port
// 19001): `envoy_cluster_upstream_rq_total{envoy_cluster_name="<name>"} 3`, labels in any order.
const PROMETHEUS_STAT =
  /^envoy_cluster_upstream_rq_(total|active)\{(?:[^}]*,)?envoy_cluster_name="httproute\/([^/"]+)\/([^/"]+)\/rule\/(\d+)"[^}]*\} (\d+)$/;

/** One line's cluster counter, in either format, or undefined for any other line. */
function clusterStat(line: string) {
  const text = TEXT_STAT.exec(line);
  if (text) return { namespace: text[1], route: text[2], rule: text[3], stat: text[4], value: text[5] };
  const prom = PROMETHEUS_STAT.exec(line);
  if (prom) return { namespace: prom[2], route: prom[3], rule: prom[4], stat: prom[1], value: prom[5] };
  return undefined;
}

/**
 * Reads Envoy's /stats in plain text (`name: value` a line) or /stats/prometheus, filtered or
 * not: the request counters of HTTPRoute rule clusters; everything else (other clusters, other
 * statistics, histograms, comments) is skipped.
 */
export function parseRouteClusters(text: string): RouteClusters {
  const routes: RouteClusters = new Map();
  for (const line of text.split("\n")) {
    const found = clusterStat(line.trimEnd());
    if (!found) continue;
    const { namespace, route, rule, stat, value } = found;
    const key = `${namespace}/${route}`;
    const rules = routes.get(key) ?? new Map<number, ClusterCounters>();
    routes.set(key, rules);
    const counters = rules.get(Number(rule)) ?? { total: 0, active: 0 };
    rules.set(Number(rule), counters);
    counters[stat as "total" | "active"] = Number(value);
  }
  return routes;
}

/**
 * Each route's `app` rule cluster, keyed "<namespace>/<route>/rule/<index>". The operator
 * writes the `app` rule (PathPrefix "/") last, after the `health-checks` rule when the app has
 * exclusions (operator/src/routing/gateway-api.ts), and Envoy Gateway names clusters by rule
 * index: so the app rule is the highest index of the route, and every lower one is health
 * checks, never activity. This holds whatever the operator's exclusion settings are, which
 * this process does not know.
 */
export function appRuleClusters(routes: RouteClusters): Map<string, { app: string; counters: ClusterCounters }> {
  const clusters = new Map<string, { app: string; counters: ClusterCounters }>();
  for (const [app, rules] of routes) {
    const index = Math.max(...rules.keys());
    clusters.set(`${app}/rule/${index}`, { app, counters: rules.get(index) as ClusterCounters });
  }
  return clusters;
}

/**
 * The requests a cluster's counter gained between two readings. A counter that went down means
 * Envoy restarted (it starts counting from zero again): all of the new value is new. A cluster
 * the last reading did not have (a new app, or a health rule added, which moves the app rule to
 * another index) counts all of its value too; the very first reading of an Envoy (`previous`
 * undefined) is only the baseline, so a gateway restart does not make every app ever used active.
 */
export function increase(previous: number | undefined, current: number, firstReading: boolean): number {
  if (firstReading) return 0;
  if (previous === undefined || current < previous) return current;
  return current - previous;
}

/** Apps ("<namespace>/<app>") whose app rule was in use or got requests since the last reading. */
export function activeApps(
  previous: Map<string, ClusterCounters> | undefined,
  current: Map<string, { app: string; counters: ClusterCounters }>,
): Set<string> {
  const apps = new Set<string>();
  for (const [cluster, { app, counters }] of current) {
    if (counters.active > 0 || increase(previous?.get(cluster)?.total, counters.total, !previous) > 0) apps.add(app);
  }
  return apps;
}

export type DataplaneStatsConfig = {
  /**
   * One per data-plane replica (each counts on its own): an Envoy admin's base URL (its /stats
   * is read), or a URL ending in /stats/prometheus (read as is).
   */
  urls: string[];
  /** How often they are read; activity is as fine as this (at most the flush interval, to matter). */
  intervalMs: number;
};

/**
 * ATRIUM_DATAPLANE_STATS_URLS (comma-separated Envoy admin URLs or /stats/prometheus URLs, e.g.
 * `http://10.0.3.7:19001/stats/prometheus,http://10.0.3.8:19001/stats/prometheus`) and ATRIUM_DATAPLANE_STATS_INTERVAL_MS
 * (default 10 s). Unset: undefined. A bad URL or interval stops the gateway at start, naming the
 * variable and the value.
 */
export function parseDataplaneStatsConfig(env: NodeJS.ProcessEnv): DataplaneStatsConfig | undefined {
  const urls = (env.ATRIUM_DATAPLANE_STATS_URLS ?? "")
    .split(",")
    .map((u) => u.trim())
    .filter(Boolean);
  if (!urls.length) return undefined;
  for (const raw of urls) {
    const url = URL.parse(raw);
    if (!url || !/^https?:$/.test(url.protocol) || url.search || url.hash)
      throw new Error(`ATRIUM_DATAPLANE_STATS_URLS: "${raw}" is not an http(s) URL of an Envoy admin (no query)`);
  }
  const rawInterval = env.ATRIUM_DATAPLANE_STATS_INTERVAL_MS;
  const intervalMs = rawInterval ? Number(rawInterval) : 10_000;
  if (!Number.isFinite(intervalMs) || intervalMs < 100)
    throw new Error(`ATRIUM_DATAPLANE_STATS_INTERVAL_MS must be a number >= 100, got "${rawInterval}"`);
  return { urls: urls.map((u) => u.replace(/\/+$/, "")), intervalMs };
}

/**
 * The setting as the gateway uses it: parsed in every mode (a bad URL stops the start whatever
 * the mode), kept only in Gateway API mode, the one where running apps' traffic is not ours.
 */
export function dataplaneStatsFor(env: NodeJS.ProcessEnv): DataplaneStatsConfig | undefined {
  const stats = parseDataplaneStatsConfig(env);
  return env.ATRIUM_ROUTING === "gateway-api" ? stats : undefined;
}

export type DataplaneActivityOptions = DataplaneStatsConfig & {
  /** Whether "<namespace>/<app>" is an AppInstance this gateway knows (other routes are not apps). */
  isApp: (key: string) => boolean;
  /** Records activity (ActivityTracker.touch: written at its bounded rate). */
  touch: (key: string, at: number) => void;
  log: Logger;
  timeoutMs?: number;
};

/** Where one Envoy's statistics are read: its admin's /stats, or the Prometheus URL given. */
export const statsUrl = (url: string) => (url.endsWith("/stats/prometheus") ? url : `${url}/stats`);

/** Reads every Envoy's statistics each interval and turns them into app activity. */
export class DataplaneActivity {
  /** The app rule counters of each Envoy at its last successful reading. */
  private readonly last = new Map<string, Map<string, ClusterCounters>>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<Set<string>> | undefined;
  private readonly options: DataplaneActivityOptions;

  constructor(options: DataplaneActivityOptions) {
    this.options = options;
  }

  start(): void {
    void this.scrape(); // the baseline at once: the first interval's activity is not lost
    this.timer = setInterval(() => void this.scrape(), this.options.intervalMs);
    this.timer.unref();
  }

  /** Stops reading after a last reading, so activity since the previous one is not lost. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.scrape();
  }

  /** One reading of every Envoy; the apps found active are touched once each. Never overlaps. */
  scrape(): Promise<Set<string>> {
    this.running ??= this.readAll().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async readAll(): Promise<Set<string>> {
    const now = Date.now();
    const found = await Promise.all(this.options.urls.map((url) => this.read(url)));
    const apps = new Set<string>();
    for (const set of found) for (const app of set) if (this.options.isApp(app)) apps.add(app);
    for (const app of apps) this.options.touch(app, now);
    return apps;
  }

  private async read(url: string): Promise<Set<string>> {
    try {
      const response = await fetch(`${statsUrl(url)}?filter=${encodeURIComponent(STATS_FILTER)}`, {
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 5000),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const current = appRuleClusters(parseRouteClusters(await response.text()));
      const apps = activeApps(this.last.get(url), current);
      this.last.set(url, new Map([...current].map(([cluster, { counters }]) => [cluster, counters])));
      return apps;
    } catch (error) {
      // The last reading stays the baseline: requests meanwhile count at the next good one.
      this.options.log("Could not read the data plane's statistics", { url, error: errorMessage(error) }, "warn");
      return new Set();
    }
  }
}
