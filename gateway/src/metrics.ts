import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

// Per request: a cached label child for the request count (no label object built per request)
// and a plain number for requests in flight, read when /metrics is scraped.
export function gatewayMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "atrium_gateway_" });
  const r = { registers: [registry] };
  const requests = new Counter({
    name: "atrium_gateway_requests_total",
    help: "Requests by org, app and status code (org and app empty when the request named no existing app).",
    labelNames: ["org", "app", "code"],
    ...r,
  });
  const byLabels = new Map<string, Counter.Internal>();
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
      let child = byLabels.get(k);
      if (!child) {
        child = requests.labels(app?.org ?? "", app?.app ?? "", String(code));
        byLabels.set(k, child);
      }
      child.inc();
    },
    inFlight: {
      open: () => void open++,
      close: () => void open--,
    },
    proxyDuration: new Histogram({
      name: "atrium_gateway_proxy_duration_seconds",
      help: "Time from request to upstream response headers (warm apps).",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      ...r,
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
    activityWrites: new Counter({
      name: "atrium_gateway_activity_writes_total",
      help: "lastActivity writes to AppInstance status.",
      ...r,
    }),
  };
}
export type GatewayMetrics = ReturnType<typeof gatewayMetrics>;
