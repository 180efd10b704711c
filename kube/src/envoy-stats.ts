// Envoy's request statistics of HTTPRoute rules (issue 17, Gateway API mode), read by the
// gateway (running apps' activity, gateway/src/dataplane-activity.ts) and by the operator (the
// requests still under way before a stop scales an app to zero, operator/src/routing/). Envoy
// Gateway gives every HTTPRoute rule its own cluster, `httproute/<namespace>/<route>/rule/<index>`,
// and Envoy counts per cluster the requests sent (upstream_rq_total, a counter) and the ones
// under way (upstream_rq_active, a gauge that also holds open WebSockets and streams).

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
 * The rules whose requests are the app's activity: every rule of the route but the first. The
 * operator writes the `health-checks` rule (health checks and its stop probes, never activity)
 * first, then the `app` rule and, for a Public app, the rule of requests carrying Atrium's
 * credentials (operator/src/routing/gateway-api.ts); Envoy Gateway names clusters by rule
 * index. A route with a single rule (none written by this operator) is all activity. This holds
 * whatever the operator's exclusion settings are, which a reader of the statistics need not know.
 */
function trafficRules(rules: Map<number, ClusterCounters>): number[] {
  const indexes = [...rules.keys()].sort((a, b) => a - b);
  return indexes.length > 1 ? indexes.slice(1) : indexes;
}

/** Each route's traffic rule clusters, keyed "<namespace>/<route>/rule/<index>". */
export function trafficClusters(routes: RouteClusters): Map<string, { app: string; counters: ClusterCounters }> {
  const clusters = new Map<string, { app: string; counters: ClusterCounters }>();
  for (const [app, rules] of routes)
    for (const index of trafficRules(rules))
      clusters.set(`${app}/rule/${index}`, { app, counters: rules.get(index) as ClusterCounters });
  return clusters;
}

/**
 * The requests under way on one route's traffic rules in one reading (undefined: the reading has
 * no cluster of that route, e.g. Envoy has not been given the route yet).
 */
export function trafficActive(routes: RouteClusters, namespace: string, route: string): number | undefined {
  const rules = routes.get(`${namespace}/${route}`);
  if (!rules?.size) return undefined;
  return trafficRules(rules).reduce((sum, index) => sum + (rules.get(index)?.active ?? 0), 0);
}

/** Where one Envoy's statistics are read: its admin's /stats, or the Prometheus URL given. */
export const statsUrl = (url: string) => (url.endsWith("/stats/prometheus") ? url : `${url}/stats`);

/** The URL of one Envoy's filtered reading (only the HTTPRoute rules' request counters). */
export const filteredStatsUrl = (url: string) => `${statsUrl(url)}?filter=${encodeURIComponent(STATS_FILTER)}`;
