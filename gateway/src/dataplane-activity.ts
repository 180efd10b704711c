// Activity without being in the path (issue 17, Gateway API mode): while an app runs, its
// traffic goes through the cluster's data plane and never reaches this gateway, so the activity
// comes from the data plane's own statistics. Envoy Gateway gives every HTTPRoute rule its own
// cluster, `httproute/<namespace>/<route>/rule/<index>`, and Envoy counts per cluster the
// requests sent (upstream_rq_total, a counter) and the ones under way (upstream_rq_active, a
// gauge that also holds open WebSockets and streams). Every interval each Envoy's admin /stats
// is read; an app whose traffic rules (every rule of its route but the health checks') have a
// request under way, or more requests than at the last reading, was active now, and the ActivityTracker writes that at its bounded rate.

import {
  type ClusterCounters,
  envList,
  errorMessage,
  filteredStatsUrl,
  type Logger,
  parseRouteClusters,
  trafficClusters,
} from "@atrium/kube";
import { type DataplanePodsConfig, parseDataplanePods, type StatsTarget } from "./dataplane-pods.ts";

// The parser is shared with the operator (its re-check before a stop): @atrium/kube's envoy-stats.ts.
export {
  type ClusterCounters,
  parseRouteClusters,
  type RouteClusters,
  STATS_FILTER,
  statsUrl,
  trafficClusters,
} from "@atrium/kube";

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

/** Apps ("<namespace>/<app>") whose traffic rules were in use or got requests since the last reading. */
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
  /** The data plane's pods, each ready one read as it comes and until it goes (dataplane-pods.ts). */
  pods?: DataplanePodsConfig;
  /** How often they are read; activity is as fine as this (at most the flush interval, to matter). */
  intervalMs: number;
};

/**
 * ATRIUM_DATAPLANE_STATS_URLS (comma-separated Envoy admin URLs or /stats/prometheus URLs, e.g.
 * `http://10.0.3.7:19001/stats/prometheus,http://10.0.3.8:19001/stats/prometheus`), the data
 * plane's pods (ATRIUM_DATA_PLANE_NAMESPACE, ATRIUM_DATA_PLANE_POD_LABELS, ATRIUM_DATAPLANE_STATS_PORT:
 * dataplane-pods.ts), either or both, and ATRIUM_DATAPLANE_STATS_INTERVAL_MS (default 10 s).
 * Neither: undefined. A bad URL, pod setting or interval stops the gateway at start, naming the
 * variable and the value.
 */
export function parseDataplaneStatsConfig(env: NodeJS.ProcessEnv): DataplaneStatsConfig | undefined {
  const urls = envList(env, "ATRIUM_DATAPLANE_STATS_URLS");
  const pods = parseDataplanePods(env);
  if (!urls.length && !pods) return undefined;
  for (const raw of urls) {
    const url = URL.parse(raw);
    if (!url || !/^https?:$/.test(url.protocol) || url.search || url.hash)
      throw new Error(`ATRIUM_DATAPLANE_STATS_URLS: "${raw}" is not an http(s) URL of an Envoy admin (no query)`);
  }
  const rawInterval = env.ATRIUM_DATAPLANE_STATS_INTERVAL_MS;
  const intervalMs = rawInterval ? Number(rawInterval) : 10_000;
  if (!Number.isFinite(intervalMs) || intervalMs < 100)
    throw new Error(`ATRIUM_DATAPLANE_STATS_INTERVAL_MS must be a number >= 100, got "${rawInterval}"`);
  return { urls: urls.map((u) => u.replace(/\/+$/, "")), ...(pods ? { pods } : {}), intervalMs };
}

/**
 * The setting as the gateway uses it: parsed in every mode (a bad URL stops the start whatever
 * the mode), kept only in Gateway API mode, the one where running apps' traffic is not ours.
 */
export function dataplaneStatsFor(env: NodeJS.ProcessEnv): DataplaneStatsConfig | undefined {
  const stats = parseDataplaneStatsConfig(env);
  return env.ATRIUM_ROUTING === "gateway-api" ? stats : undefined;
}

export type DataplaneActivityOptions = Omit<DataplaneStatsConfig, "pods"> & {
  /** Sources found at run time (the data plane's ready pods), read beside the fixed URLs. */
  discovered?: () => StatsTarget[];
  /** Whether "<namespace>/<app>" is an AppInstance this gateway knows (other routes are not apps). */
  isApp: (key: string) => boolean;
  /** Records activity (ActivityTracker.touch: written at its bounded rate). */
  touch: (key: string, at: number) => void;
  log: Logger;
  timeoutMs?: number;
};

/**
 * Reads every Envoy's statistics each interval and turns them into app activity. Each source
 * has its own baseline, kept by its identity (a fixed URL, or a pod's uid) for as long as it is
 * a source: a pod that goes (deleted, terminating, not ready) takes its baseline along and
 * counts nothing, and a pod that comes is read first as a baseline only, however many requests
 * it served before, so neither a rollout nor a scale-up makes every app look active.
 */
export class DataplaneActivity {
  /** The traffic rule counters of each source at its last successful reading, by the source's key. */
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

  /** How many sources have a baseline now: only the current ones (a gone pod's is forgotten). */
  get baselines(): number {
    return this.last.size;
  }

  /** The fixed URLs and the sources found now. */
  private targets(): StatsTarget[] {
    const fixed = this.options.urls.map((url) => ({ key: url, url }));
    return [...fixed, ...(this.options.discovered?.() ?? [])];
  }

  private async readAll(): Promise<Set<string>> {
    const now = Date.now();
    const targets = this.targets();
    const live = new Set(targets.map((t) => t.key));
    for (const key of this.last.keys()) if (!live.has(key)) this.last.delete(key);
    const found = await Promise.all(targets.map((target) => this.read(target)));
    const apps = new Set<string>();
    for (const set of found) for (const app of set) if (this.options.isApp(app)) apps.add(app);
    for (const app of apps) this.options.touch(app, now);
    return apps;
  }

  private async read({ key, url }: StatsTarget): Promise<Set<string>> {
    try {
      const response = await fetch(filteredStatsUrl(url), {
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 5000),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const current = trafficClusters(parseRouteClusters(await response.text()));
      const apps = activeApps(this.last.get(key), current);
      this.last.set(key, new Map([...current].map(([cluster, { counters }]) => [cluster, counters])));
      return apps;
    } catch (error) {
      // The last reading stays the baseline: requests meanwhile count at the next good one.
      this.options.log("Could not read the data plane's statistics", { url, error: errorMessage(error) }, "warn");
      return new Set();
    }
  }
}
