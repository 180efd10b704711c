import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { DataplaneActivity, dataplaneStatsFor, parseDataplaneStatsConfig } from "./dataplane-activity.ts";
import { type Pod, parseDataplanePods, podSelector, podStatsTarget, type StatsTarget } from "./dataplane-pods.ts";

const pods = { ATRIUM_DATA_PLANE_NAMESPACE: "envoy-gateway-system", ATRIUM_DATA_PLANE_POD_LABELS: "gw=public, x=y" };

const pod = (name: string, uid: string, ip: string | undefined, ready = true, deleting = false): Pod => ({
  metadata: {
    name,
    namespace: "envoy-gateway-system",
    uid,
    ...(deleting ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}),
  },
  status: {
    ...(ip ? { podIP: ip } : {}),
    conditions: [
      { type: "Initialized", status: "True" },
      { type: "Ready", status: ready ? "True" : "False" },
    ],
  },
});

describe("parseDataplanePods", () => {
  it("takes the operator's data plane settings and the stats port (Envoy Gateway's 19001 by default)", () => {
    expect(parseDataplanePods(pods)).toEqual({
      namespace: "envoy-gateway-system",
      podLabels: { gw: "public", x: "y" },
      port: 19001,
    });
    expect(parseDataplanePods({ ...pods, ATRIUM_DATAPLANE_STATS_PORT: "19000" })?.port).toBe(19000);
    expect(parseDataplanePods({})).toBeUndefined();
  });

  it("refuses half the pod settings or a bad port at start, naming the variable", () => {
    expect(() => parseDataplanePods({ ATRIUM_DATA_PLANE_NAMESPACE: "edge" })).toThrow(/ATRIUM_DATA_PLANE_POD_LABELS/);
    for (const port of ["0", "70000", "19001.5", "x"])
      expect(() => parseDataplanePods({ ...pods, ATRIUM_DATAPLANE_STATS_PORT: port })).toThrow(
        /ATRIUM_DATAPLANE_STATS_PORT/,
      );
  });

  it("is a source of statistics of its own, beside or instead of fixed URLs, in Gateway API mode only", () => {
    expect(parseDataplaneStatsConfig(pods)).toMatchObject({ urls: [], pods: { port: 19001 }, intervalMs: 10_000 });
    expect(parseDataplaneStatsConfig({ ...pods, ATRIUM_DATAPLANE_STATS_URLS: "http://e:19000" })).toMatchObject({
      urls: ["http://e:19000"],
      pods: { namespace: "envoy-gateway-system" },
    });
    expect(dataplaneStatsFor({ ...pods, ATRIUM_ROUTING: "gateway-api" })?.pods?.podLabels).toEqual({
      gw: "public",
      x: "y",
    });
    expect(dataplaneStatsFor(pods)).toBeUndefined();
    expect(() => dataplaneStatsFor({ ...pods, ATRIUM_DATAPLANE_STATS_PORT: "x" })).toThrow(
      /ATRIUM_DATAPLANE_STATS_PORT/,
    );
  });
});

describe("podStatsTarget", () => {
  it("reads a ready pod at its address, under its identity", () => {
    expect(podStatsTarget(pod("envoy-a", "u1", "10.0.3.7"), 19001)).toEqual({
      key: "pod/envoy-gateway-system/envoy-a/u1",
      url: "http://10.0.3.7:19001/stats/prometheus",
    });
    expect(podStatsTarget(pod("envoy-b", "u2", "fd00::7"), 19001)?.url).toBe("http://[fd00::7]:19001/stats/prometheus");
  });

  it("skips a pod that is not ready, is terminating, or has no address yet", () => {
    expect(podStatsTarget(pod("a", "u", "10.0.3.7", false), 19001)).toBeUndefined();
    expect(podStatsTarget(pod("a", "u", "10.0.3.7", true, true), 19001)).toBeUndefined();
    expect(podStatsTarget(pod("a", "u", undefined), 19001)).toBeUndefined();
    expect(podStatsTarget({ metadata: { name: "a", uid: "u" }, status: { podIP: "10.0.3.7" } }, 19001)).toBeUndefined();
  });

  it("selects the pods by their labels", () => {
    expect(podSelector({ "gateway.envoyproxy.io/owning-gateway-name": "public", x: "y" })).toBe(
      "gateway.envoyproxy.io/owning-gateway-name=public,x=y",
    );
  });
});

describe("DataplaneActivity over pods that come and go", () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });

  /** Envoy's Prometheus line for the app rule of org-a/web (one rule: rule 0). */
  const web = (total: number, active = 0) =>
    `envoy_cluster_upstream_rq_active{envoy_cluster_name="httproute/org-a/web/rule/0"} ${active}\n` +
    `envoy_cluster_upstream_rq_total{envoy_cluster_name="httproute/org-a/web/rule/0"} ${total}\n`;

  /** One address serving /stats/prometheus with whatever `body()` says now (the pod at that address). */
  async function statsServer(body: () => string) {
    const server = createServer((req, res) => {
      const found = new URL(req.url ?? "/", "http://x").pathname === "/stats/prometheus";
      res.statusCode = found ? 200 : 404;
      res.end(found ? body() : "");
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/stats/prometheus`;
  }

  function poller(discovered: () => StatsTarget[]) {
    const touched: string[][] = [];
    let current: string[] = [];
    const dataplane = new DataplaneActivity({
      urls: [],
      discovered,
      intervalMs: 60_000,
      isApp: () => true,
      touch: (key) => current.push(key),
      log: () => {},
    });
    const scrape = async () => {
      current = [];
      await dataplane.scrape();
      touched.push(current.sort());
    };
    return { scrape, touched, dataplane };
  }

  it("counts nothing when a pod goes, and reads a new pod first as a baseline only, even at the gone pod's address", async () => {
    // One address, two pods in turn: the old Envoy counted 500 requests, the new one (a rollout
    // that reused the address) starts from 0 and has served 40 when first read.
    let text = web(500);
    const url = await statsServer(() => text);
    let targets: StatsTarget[] = [{ key: "pod/eg/envoy-a/uid-a", url }];
    const { scrape, touched } = poller(() => targets);
    await scrape(); // envoy-a's baseline
    text = web(501);
    await scrape(); // one request through envoy-a: activity
    targets = []; // envoy-a gone
    await scrape();
    targets = [{ key: "pod/eg/envoy-b/uid-b", url }];
    text = web(40); // lower than envoy-a's 501: taken by address, a restart with 40 new requests
    await scrape(); // envoy-b's baseline
    await scrape(); // nothing new
    text = web(41);
    await scrape(); // one request through envoy-b
    expect(touched).toEqual([[], ["org-a/web"], [], [], [], ["org-a/web"]]);
  });

  it("keeps a source that stays, beside one that comes, each on its own baseline", async () => {
    let a = web(10);
    let b = web(900);
    const urlA = await statsServer(() => a);
    const urlB = await statsServer(() => b);
    const podA = { key: "pod/eg/envoy-a/uid-a", url: urlA };
    let targets: StatsTarget[] = [podA];
    const { scrape, touched, dataplane } = poller(() => targets);
    await scrape();
    targets = [podA, { key: "pod/eg/envoy-b/uid-b", url: urlB }]; // scaled up
    await scrape(); // a unchanged, b's 900 only a baseline
    b = web(901);
    await scrape();
    a = web(11);
    targets = [podA]; // scaled down: b's last requests are not seen, nor counted as a reset
    await scrape();
    expect(touched).toEqual([[], [], ["org-a/web"], ["org-a/web"]]);
    // b's baseline went with it: rollouts after rollouts leave only the current pods' behind.
    expect(dataplane.baselines).toBe(1);
  });

  it("counts an open stream on a new pod's first reading: it is activity under way, not a past total", async () => {
    const url = await statsServer(() => web(7, 1));
    const { scrape, touched } = poller(() => [{ key: "pod/eg/envoy-c/uid-c", url }]);
    await scrape();
    expect(touched).toEqual([["org-a/web"]]);
  });
});
