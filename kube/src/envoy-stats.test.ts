import { describe, expect, it } from "vitest";
import { filteredStatsUrl, parseRouteClusters, STATS_FILTER, trafficActive } from "./envoy-stats.ts";

// The parser's full cases (Envoy's real output, text and Prometheus) are the gateway's
// (gateway/src/dataplane-activity.test.ts); here what the operator's re-check before a stop reads.
const stat = (ns: string, route: string, rule: number, total: number, active: number) =>
  `cluster.httproute/${ns}/${route}/rule/${rule}.upstream_rq_active: ${active}\n` +
  `cluster.httproute/${ns}/${route}/rule/${rule}.upstream_rq_total: ${total}\n`;

describe("the requests under way on a route's traffic rules", () => {
  it("are every rule's but the first (health checks and probes), summed, in either format", () => {
    const text = `${stat("org-acme", "docs", 0, 9, 4)}${stat("org-acme", "docs", 1, 3, 2)}${stat("org-acme", "web", 0, 1, 0)}`;
    expect(trafficActive(parseRouteClusters(text), "org-acme", "docs")).toBe(2);
    expect(trafficActive(parseRouteClusters(text), "org-acme", "web")).toBe(0);
    const prometheus =
      'envoy_cluster_upstream_rq_active{envoy_cluster_name="httproute/org-acme/docs/rule/1"} 5\n' +
      'envoy_cluster_upstream_rq_active{envoy_cluster_name="httproute/org-acme/docs/rule/0"} 1\n';
    expect(trafficActive(parseRouteClusters(prometheus), "org-acme", "docs")).toBe(5);
    // A Public app: its app rule and the rule of requests with Atrium's credentials (rule 2).
    const pub = `${stat("org-acme", "lobby", 2, 5, 1)}${stat("org-acme", "lobby", 0, 9, 4)}${stat("org-acme", "lobby", 1, 3, 2)}`;
    expect(trafficActive(parseRouteClusters(pub), "org-acme", "lobby")).toBe(3);
  });

  it("are unknown for a route the reading does not have", () => {
    expect(trafficActive(parseRouteClusters(stat("org-acme", "web", 0, 1, 1)), "org-acme", "docs")).toBeUndefined();
  });

  it("are read filtered, from an admin's /stats or a Prometheus URL as given", () => {
    const filter = `?filter=${encodeURIComponent(STATS_FILTER)}`;
    expect(filteredStatsUrl("http://10.0.3.7:19000")).toBe(`http://10.0.3.7:19000/stats${filter}`);
    expect(filteredStatsUrl("http://10.0.3.7:19001/stats/prometheus")).toBe(
      `http://10.0.3.7:19001/stats/prometheus${filter}`,
    );
  });
});
