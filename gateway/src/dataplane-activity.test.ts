import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  activeApps,
  DataplaneActivity,
  dataplaneStatsFor,
  parseDataplaneStatsConfig,
  parseRouteClusters,
  STATS_FILTER,
  trafficClusters,
} from "./dataplane-activity.ts";
import { defaultGatewayConfig } from "./gateway.ts";

// Real Envoy 1.40.0 (the harness's binary) output with clusters named as Envoy Gateway names
// them: a route "web" in org-acme with a health-checks rule (rule/0, one /healthz request) and
// the app rule (rule/1, three requests, one of them still streaming when read).
const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");

/** Envoy's text line for one cluster counter. */
const stat = (ns: string, route: string, rule: number, total: number, active = 0) =>
  `cluster.httproute/${ns}/${route}/rule/${rule}.upstream_rq_active: ${active}\n` +
  `cluster.httproute/${ns}/${route}/rule/${rule}.upstream_rq_total: ${total}\n`;

describe("parseRouteClusters", () => {
  it("reads the request counters of HTTPRoute rule clusters from Envoy's full /stats", () => {
    const routes = parseRouteClusters(fixture("envoy-stats-all.txt"));
    expect([...routes.keys()]).toEqual(["org-acme/web"]);
    // upstream_rq_active_overflow, upstream_rq_timeout, histograms … are not taken for the two.
    expect(routes.get("org-acme/web")).toEqual(
      new Map([
        [0, { total: 1, active: 0 }],
        [1, { total: 3, active: 1 }],
      ]),
    );
  });

  it("reads Envoy's filtered /stats the same way, and skips clusters that are not HTTPRoute rules", () => {
    const text = `${fixture("envoy-stats-filtered.txt")}cluster.prometheus_stats.upstream_rq_total: 9\ncluster.httproute/org-acme/api.v2/rule/0.upstream_rq_total: 4\n`;
    const routes = parseRouteClusters(text);
    expect(routes.get("org-acme/web")).toEqual(
      new Map([
        [0, { total: 2, active: 0 }],
        [1, { total: 2, active: 1 }],
      ]),
    );
    expect(routes.get("org-acme/api.v2")).toEqual(new Map([[0, { total: 4, active: 0 }]]));
    expect(routes.size).toBe(2);
  });

  it("reads Envoy's Prometheus output (Envoy Gateway's stats port) the same way, full or filtered", () => {
    // The full one: every upstream_rq line of the real output, histograms and labelled counters included.
    const expected = new Map([
      [0, { total: 1, active: 0 }],
      [1, { total: 2, active: 1 }],
    ]);
    expect(parseRouteClusters(fixture("envoy-stats-prometheus.txt"))).toEqual(new Map([["org-acme/web", expected]]));
    expect(parseRouteClusters(fixture("envoy-stats-prometheus-filtered.txt"))).toEqual(
      new Map([["org-acme/web", expected]]),
    );
    const labelled = 'envoy_cluster_upstream_rq_total{zone="a",envoy_cluster_name="httproute/org-b/api.v2/rule/0"} 4\n';
    expect(parseRouteClusters(labelled).get("org-b/api.v2")).toEqual(new Map([[0, { total: 4, active: 0 }]]));
  });
});

describe("activeApps", () => {
  const read = (text: string) => trafficClusters(parseRouteClusters(text));
  const baseline = (text: string) => new Map([...read(text)].map(([c, { counters }]) => [c, counters]));

  it("counts an app active when its app rule got requests since the last reading, not otherwise", () => {
    const before = baseline(stat("org-a", "web", 0, 10) + stat("org-a", "db", 0, 4));
    expect(activeApps(before, read(stat("org-a", "web", 0, 12) + stat("org-a", "db", 0, 4)))).toEqual(
      new Set(["org-a/web"]),
    );
  });

  it("counts an open request or stream as activity even with no new request", () => {
    const before = baseline(stat("org-a", "ws", 0, 1, 1));
    expect(activeApps(before, read(stat("org-a", "ws", 0, 1, 1)))).toEqual(new Set(["org-a/ws"]));
    expect(activeApps(before, read(stat("org-a", "ws", 0, 1, 0)))).toEqual(new Set());
  });

  it("takes a counter that went down (Envoy restarted) as that many new requests, never negative", () => {
    const before = baseline(stat("org-a", "web", 0, 500) + stat("org-a", "idle", 0, 300));
    expect(activeApps(before, read(stat("org-a", "web", 0, 3) + stat("org-a", "idle", 0, 0)))).toEqual(
      new Set(["org-a/web"]),
    );
  });

  it("ignores the health-checks rule: requests there neither count nor hide the app rule", () => {
    // The operator writes health-checks as rule 0 and app as rule 1.
    const before = baseline(stat("org-a", "web", 0, 100) + stat("org-a", "web", 1, 7));
    expect(activeApps(before, read(stat("org-a", "web", 0, 180, 2) + stat("org-a", "web", 1, 7)))).toEqual(new Set());
    expect(activeApps(before, read(stat("org-a", "web", 0, 100) + stat("org-a", "web", 1, 8)))).toEqual(
      new Set(["org-a/web"]),
    );
  });

  it("counts the requests of a Public app's credentials rule (rule 2) as activity too", () => {
    const before = baseline(stat("org-a", "lobby", 0, 5) + stat("org-a", "lobby", 1, 7) + stat("org-a", "lobby", 2, 3));
    expect(
      activeApps(
        before,
        read(stat("org-a", "lobby", 0, 5) + stat("org-a", "lobby", 1, 7) + stat("org-a", "lobby", 2, 4)),
      ),
    ).toEqual(new Set(["org-a/lobby"]));
    expect(
      activeApps(
        before,
        read(stat("org-a", "lobby", 0, 9) + stat("org-a", "lobby", 1, 7) + stat("org-a", "lobby", 2, 3)),
      ),
    ).toEqual(new Set());
  });

  it("takes the first reading as the baseline, and counts a cluster new since then in full", () => {
    expect(activeApps(undefined, read(stat("org-a", "web", 0, 40)))).toEqual(new Set());
    const before = baseline(stat("org-a", "web", 0, 40));
    expect(activeApps(before, read(stat("org-a", "web", 0, 40) + stat("org-a", "new", 0, 2)))).toEqual(
      new Set(["org-a/new"]),
    );
  });
});

describe("parseDataplaneStatsConfig", () => {
  it("takes a comma-separated list of Envoy admin URLs and an interval", () => {
    expect(
      parseDataplaneStatsConfig({
        ATRIUM_DATAPLANE_STATS_URLS: "http://envoy-0:19000/, http://envoy-1:19000",
        ATRIUM_DATAPLANE_STATS_INTERVAL_MS: "5000",
      }),
    ).toEqual({ urls: ["http://envoy-0:19000", "http://envoy-1:19000"], intervalMs: 5000 });
    expect(parseDataplaneStatsConfig({})).toBeUndefined();
    expect(parseDataplaneStatsConfig({ ATRIUM_DATAPLANE_STATS_URLS: "http://e:19000" })?.intervalMs).toBe(10_000);
  });

  it("refuses a bad URL or interval at start, naming the variable and the value", () => {
    expect(() => parseDataplaneStatsConfig({ ATRIUM_DATAPLANE_STATS_URLS: "http://e:19000,envoy:19000" })).toThrow(
      'ATRIUM_DATAPLANE_STATS_URLS: "envoy:19000" is not an http(s) URL',
    );
    expect(() => parseDataplaneStatsConfig({ ATRIUM_DATAPLANE_STATS_URLS: "http://e:19000/stats?x=1" })).toThrow(
      /ATRIUM_DATAPLANE_STATS_URLS/,
    );
    expect(() =>
      parseDataplaneStatsConfig({
        ATRIUM_DATAPLANE_STATS_URLS: "http://e:19000",
        ATRIUM_DATAPLANE_STATS_INTERVAL_MS: "10s",
      }),
    ).toThrow('ATRIUM_DATAPLANE_STATS_INTERVAL_MS must be a number >= 100, got "10s"');
  });

  it("is used only in Gateway API mode, and a bad URL stops the gateway's start in any mode", () => {
    const urls = { ATRIUM_DATAPLANE_STATS_URLS: "http://e:19000" };
    expect(dataplaneStatsFor({ ...urls, ATRIUM_ROUTING: "gateway-api" })?.urls).toEqual(["http://e:19000"]);
    expect(dataplaneStatsFor(urls)).toBeUndefined();
    expect(defaultGatewayConfig({ ...urls, ATRIUM_ROUTING: "gateway-api" }).dataplaneStats?.urls).toEqual([
      "http://e:19000",
    ]);
    expect(defaultGatewayConfig(urls).dataplaneStats).toBeUndefined();
    expect(() => defaultGatewayConfig({ ATRIUM_DATAPLANE_STATS_URLS: "e:19000" })).toThrow(
      /ATRIUM_DATAPLANE_STATS_URLS/,
    );
  });
});

describe("DataplaneActivity", () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });

  /** A loopback stand-in for an Envoy admin: answers /stats with what `body()` says now. */
  async function envoyAdmin(body: () => string, status = () => 200) {
    const queries: string[] = [];
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      queries.push(`${url.pathname}?${url.searchParams.get("filter")}`);
      const known = url.pathname === "/stats" || url.pathname === "/stats/prometheus";
      res.statusCode = known ? status() : 404;
      res.end(known ? body() : "");
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, queries };
  }

  function poller(urls: string[], known: string[]) {
    const touched: string[][] = [];
    const logged: string[] = [];
    let current: string[] = [];
    const dataplane = new DataplaneActivity({
      urls,
      intervalMs: 60_000,
      isApp: (key) => known.includes(key),
      touch: (key) => current.push(key),
      log: (message) => logged.push(message),
    });
    const scrape = async () => {
      current = [];
      await dataplane.scrape();
      touched.push(current.sort());
    };
    return { scrape, touched, logged, dataplane };
  }

  it("touches each active known app once per reading, across Envoys, and ignores unknown routes", async () => {
    let a = stat("org-a", "web", 0, 5) + stat("org-a", "stranger", 0, 1);
    let b = stat("org-a", "web", 0, 9) + stat("org-a", "other", 0, 3);
    const envoyA = await envoyAdmin(() => a);
    const envoyB = await envoyAdmin(() => b);
    const { scrape, touched } = poller([envoyA.url, envoyB.url], ["org-a/web", "org-a/other"]);
    await scrape(); // baseline
    a = stat("org-a", "web", 0, 6) + stat("org-a", "stranger", 0, 50);
    b = stat("org-a", "web", 0, 10, 1) + stat("org-a", "other", 0, 3);
    await scrape();
    await scrape(); // nothing new but web's open stream on envoy B
    expect(touched).toEqual([[], ["org-a/web"], ["org-a/web"]]);
    expect(envoyA.queries).toEqual(Array(3).fill(`/stats?${STATS_FILTER}`));
  });

  it("reads a /stats/prometheus URL as given, in Prometheus' format", async () => {
    let text = fixture("envoy-stats-prometheus-filtered.txt");
    const envoy = await envoyAdmin(() => text);
    const { scrape, touched } = poller([`${envoy.url}/stats/prometheus`], ["org-acme/web"]);
    await scrape();
    text = text.replace('rule/1"} 2', 'rule/1"} 3').replace(/(rq_active\{[^}]*\}) 1/g, "$1 0");
    await scrape();
    await scrape();
    expect(touched).toEqual([["org-acme/web"], ["org-acme/web"], []]);
    expect(envoy.queries).toEqual(Array(3).fill(`/stats/prometheus?${STATS_FILTER}`));
  });

  it("keeps the last good reading as the baseline when an Envoy cannot be read", async () => {
    let text = stat("org-a", "web", 0, 5);
    let status = 200;
    const envoy = await envoyAdmin(
      () => text,
      () => status,
    );
    const { scrape, touched, logged } = poller([envoy.url], ["org-a/web"]);
    await scrape();
    status = 503;
    text = stat("org-a", "web", 0, 7);
    await scrape();
    status = 200;
    await scrape();
    expect(touched).toEqual([[], [], ["org-a/web"]]);
    expect(logged).toEqual(["Could not read the data plane's statistics"]);
  });

  it("reads once more when stopped, so the last interval's activity is not lost", async () => {
    let text = stat("org-a", "web", 0, 5);
    const envoy = await envoyAdmin(() => text);
    const touched: string[] = [];
    const dataplane = new DataplaneActivity({
      urls: [envoy.url],
      intervalMs: 60_000,
      isApp: () => true,
      touch: (key) => touched.push(key),
      log: () => {},
    });
    await dataplane.scrape();
    text = stat("org-a", "web", 0, 6);
    await dataplane.stop();
    expect(touched).toEqual(["org-a/web"]);
  });
});
