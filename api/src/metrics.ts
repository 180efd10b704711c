// prom-client metrics of the API, on their own registry (tests start many APIs in one process).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export type ApiMetrics = ReturnType<typeof apiMetrics>;

export function apiMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "atrium_api_" });
  return {
    registry,
    requests: new Counter({
      name: "atrium_api_requests_total",
      help: "HTTP requests by route and status",
      labelNames: ["method", "route", "status"],
      registers: [registry],
    }),
    duration: new Histogram({
      name: "atrium_api_request_duration_seconds",
      help: "Time to answer, by route",
      labelNames: ["method", "route"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    keyVerifications: new Counter({
      name: "atrium_api_key_verifications_total",
      help: "API key checks by result",
      labelNames: ["result"],
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: "atrium_api_rate_limited_total",
      help: "Requests answered 429, by limit",
      labelNames: ["limit"],
      registers: [registry],
    }),
    policyRebuilds: new Gauge({
      name: "atrium_api_policy_rebuilds",
      help: "Casbin policy rebuilds since start (one per changed organization)",
      registers: [registry],
    }),
  };
}
