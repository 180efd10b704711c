import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export function gatewayMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "atrium_gateway_" });
  const r = { registers: [registry] };
  return {
    registry,
    requests: new Counter({
      name: "atrium_gateway_requests_total",
      help: "Requests by org, app and status code.",
      labelNames: ["org", "app", "code"],
      ...r,
    }),
    inFlight: new Gauge({ name: "atrium_gateway_in_flight", help: "Requests and upgraded connections open.", ...r }),
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
    activityWrites: new Counter({
      name: "atrium_gateway_activity_writes_total",
      help: "lastActivity writes to AppInstance status.",
      ...r,
    }),
  };
}
export type GatewayMetrics = ReturnType<typeof gatewayMetrics>;
