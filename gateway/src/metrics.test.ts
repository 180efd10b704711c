// The request counter is kept in plain numbers and handed to prom-client at each scrape: what
// /metrics shows must be what it showed with an inc() per request.

import { Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { gatewayMetrics, PlainHistogram } from "./metrics.ts";

const requestLines = async (metrics: ReturnType<typeof gatewayMetrics>) =>
  (await metrics.registry.metrics()).split("\n").filter((l) => l.startsWith("atrium_gateway_requests_total{"));

describe("gatewayMetrics", () => {
  it("counts requests per org, app and code, each once across scrapes", async () => {
    const metrics = gatewayMetrics();
    metrics.countRequest({ org: "acme", app: "wiki" }, 200);
    metrics.countRequest({ org: "acme", app: "wiki" }, 200);
    metrics.countRequest({ org: "acme", app: "wiki" }, 502);
    metrics.countRequest(undefined, 404);
    expect(await requestLines(metrics)).toEqual([
      'atrium_gateway_requests_total{org="acme",app="wiki",code="200"} 2',
      'atrium_gateway_requests_total{org="acme",app="wiki",code="502"} 1',
      'atrium_gateway_requests_total{org="",app="",code="404"} 1',
    ]);
    // A second scrape adds only what came since.
    metrics.countRequest({ org: "acme", app: "wiki" }, 200);
    expect(await requestLines(metrics)).toEqual([
      'atrium_gateway_requests_total{org="acme",app="wiki",code="200"} 3',
      'atrium_gateway_requests_total{org="acme",app="wiki",code="502"} 1',
      'atrium_gateway_requests_total{org="",app="",code="404"} 1',
    ]);
    expect(await requestLines(metrics)).toHaveLength(3);
  });

  it("exposes the proxy duration histogram as prom-client's Histogram does, buckets, sum and count", async () => {
    const buckets = [0.001, 0.01, 0.1];
    const plainRegistry = new Registry();
    const plain = new PlainHistogram(plainRegistry, { name: "d_seconds", help: "Durations.", buckets });
    const promRegistry = new Registry();
    const prom = new Histogram({ name: "d_seconds", help: "Durations.", buckets, registers: [promRegistry] });
    // On a bound, between bounds, and above them all.
    for (const seconds of [0.0005, 0.001, 0.004, 0.01, 0.05, 0.25, 3]) {
      plain.observe(seconds);
      prom.observe(seconds);
    }
    expect(await plainRegistry.metrics()).toBe(await promRegistry.metrics());
    expect(await plainRegistry.metrics()).toContain('d_seconds_bucket{le="0.01"} 4');
  });
});
