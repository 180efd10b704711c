import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export function operatorMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "atrium_operator_" });
  const labelled = <L extends string>(labelNames: L[]) => ({ labelNames, registers: [registry] });
  return {
    registry,
    reconciles: new Counter({
      name: "atrium_operator_reconcile_total",
      help: "Reconciles by kind and result (success, error, terminal, fenced).",
      ...labelled(["kind", "result"]),
    }),
    reconcileDuration: new Histogram({
      name: "atrium_operator_reconcile_duration_seconds",
      help: "Time spent in one reconcile.",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      ...labelled(["kind"]),
    }),
    queueDepth: new Gauge({
      name: "atrium_operator_queue_depth",
      help: "Keys waiting in the work queue.",
      ...labelled(["kind"]),
    }),
    informerRestarts: new Counter({
      name: "atrium_operator_informer_restarts_total",
      help: "Watch restarts by resource and reason (error, gone).",
      ...labelled(["resource", "reason"]),
    }),
    informerHandlerErrors: new Counter({
      name: "atrium_operator_informer_handler_errors_total",
      help: "Event handlers that threw, by resource (the informer carries on).",
      ...labelled(["resource"]),
    }),
    apiWrites: new Counter({
      name: "atrium_operator_api_writes_total",
      help: "Requests that change state in the API server, by verb and resource.",
      ...labelled(["verb", "resource"]),
    }),
    appStops: new Counter({
      name: "atrium_operator_app_stops_total",
      help: "Apps scaled to zero, by reason (Idle, PolicyStopped, PaymentRequired).",
      ...labelled(["reason"]),
    }),
    appStarts: new Counter({
      name: "atrium_operator_app_wakes_total",
      help: "Stopped apps started again by traffic.",
      registers: [registry],
    }),
    leader: new Gauge({ name: "atrium_operator_leader", help: "1 while this replica leads.", registers: [registry] }),
  };
}
export type OperatorMetrics = ReturnType<typeof operatorMetrics>;
