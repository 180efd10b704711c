import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

// Per request: plain numbers, handed to prom-client when /metrics is scraped (its collect
// hooks): requests counted per label set in a Map, requests in flight in one number. A
// prom-client inc() per request re-hashed the labels each time.
export function gatewayMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "atrium_gateway_" });
  const r = { registers: [registry] };
  /** Requests counted since the last scrape, per label set. */
  const byLabels = new Map<string, { labels: { org: string; app: string; code: string }; pending: number }>();
  new Counter({
    name: "atrium_gateway_requests_total",
    help: "Requests by org, app and status code (org and app empty when the request named no existing app).",
    labelNames: ["org", "app", "code"],
    collect() {
      for (const count of byLabels.values())
        if (count.pending) {
          this.inc(count.labels, count.pending);
          count.pending = 0;
        }
    },
    ...r,
  });
  let open = 0;
  new Gauge({
    name: "atrium_gateway_in_flight",
    help: "Requests and upgraded connections open.",
    collect() {
      this.set(open);
    },
    ...r,
  });
  return {
    registry,
    /** Counts one answered request; app is undefined for requests that named no existing app. */
    countRequest(app: { org: string; app: string } | undefined, code: number) {
      const k = `${app?.org}/${app?.app}/${code}`;
      const count = byLabels.get(k);
      if (count) count.pending++;
      else byLabels.set(k, { labels: { org: app?.org ?? "", app: app?.app ?? "", code: String(code) }, pending: 1 });
    },
    inFlight: {
      open: () => void open++,
      close: () => void open--,
    },
    proxyDuration: new PlainHistogram(registry, {
      name: "atrium_gateway_proxy_duration_seconds",
      help: "Time from request to upstream response headers (warm apps).",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    }),
    wakes: new Counter({
      name: "atrium_gateway_wakes_total",
      help: "Wakes started (one per app however many requests).",
      ...r,
    }),
    wakeDuration: new Histogram({
      name: "atrium_gateway_wake_duration_seconds",
      help: "From the first request for a stopped app to a connectable endpoint.",
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120],
      ...r,
    }),
    held: new Gauge({ name: "atrium_gateway_held_requests", help: "Requests waiting for a waking app.", ...r }),
    wakeTimeouts: new Counter({
      name: "atrium_gateway_wake_timeouts_total",
      help: "Held requests answered 503 because the app did not start in time.",
      ...r,
    }),
    connectionsDropped: new Counter({
      name: "atrium_gateway_connections_dropped_total",
      help: "Client connections closed as they were accepted: ATRIUM_GATEWAY_MAX_CONNECTIONS were open.",
      ...r,
    }),
    paymentRequired: new Counter({
      name: "atrium_gateway_payment_required_total",
      help: "Requests answered 402 because billing does not allow the app to run (never woken), by entitlement reason.",
      labelNames: ["reason"],
      ...r,
    }),
    activityWrites: new Counter({
      name: "atrium_gateway_activity_writes_total",
      help: "lastActivity writes to AppInstance status.",
      ...r,
    }),
  };
}

/**
 * A histogram without labels, kept in plain numbers: an observation is a search through the
 * bounds and three additions. prom-client's Histogram hashes its (empty) label set and builds
 * objects on every observe() and startTimer(), a share of each proxied request's CPU in
 * gateway-warm; this one is exposed the same way (as a metric the registry asks at a scrape).
 */
export class PlainHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly bounds: readonly number[];
  /** Observations per bucket (the last: above every bound), not cumulative. */
  private counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(registry: Registry, options: { name: string; help: string; buckets: readonly number[] }) {
    this.name = options.name;
    this.help = options.help;
    this.bounds = [...options.buckets].sort((a, b) => a - b);
    this.counts = new Float64Array(this.bounds.length + 1);
    registry.registerMetric(this as unknown as Parameters<Registry["registerMetric"]>[0]);
  }

  observe(seconds: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && seconds > (bounds[i] as number)) i++;
    (this.counts[i] as number)++;
    this.sum += seconds;
    this.count++;
  }

  /** What the registry writes at a scrape: cumulative buckets, sum and count, as prom-client's. */
  get() {
    let cumulative = 0;
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += this.counts[i] as number;
      values.push({ labels: { le: this.bounds[i] as number }, value: cumulative, metricName: `${this.name}_bucket` });
    }
    values.push({ labels: { le: "+Inf" }, value: this.count, metricName: `${this.name}_bucket` });
    values.push({ labels: {}, value: this.sum, metricName: `${this.name}_sum` });
    values.push({ labels: {}, value: this.count, metricName: `${this.name}_count` });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.counts = new Float64Array(this.bounds.length + 1);
    this.sum = 0;
    this.count = 0;
  }
}

export type GatewayMetrics = ReturnType<typeof gatewayMetrics>;
