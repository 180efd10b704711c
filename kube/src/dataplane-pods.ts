// The data plane's proxies as they come and go (issue 17, Gateway API mode). Envoy Gateway runs
// its Envoys as pods that are scaled and rolled; each serves its own statistics on its pod
// address (port 19001, /stats/prometheus) and the Gateway's listeners on its own ports. Instead
// of a list of addresses that goes stale at the next rollout, the gateway (for running apps'
// activity) and the operator (for a stop's probe and re-check, ADR 0024) watch the data plane's
// pods (the namespace and labels the operator admits to apps in every organization's
// NetworkPolicy) and use each ready one.
//
// A pod is known by its identity (namespace, name and uid), never by its address: a new pod
// that gets a gone pod's address starts counting from zero, and compared with the gone pod's
// counters that would look like a restart whose every request is new; nor has a new pod
// answered a probe its predecessor answered.

import { isIPv6 } from "node:net";
import type { KubeClient, KubeObject } from "./client.ts";
import { type DataPlanePods, envDataPlanePods, envPort } from "./env.ts";
import { Informer } from "./informer.ts";
import type { Logger } from "./log.ts";
import { R } from "./resources.ts";

/** One place statistics are read from, under the identity its baseline is kept by. */
export type StatsTarget = { key: string; url: string };

/** A data-plane pod that serves traffic now: its identity and its address as a URL host. */
export type ReadyDataPlanePod = { key: string; host: string };

export type DataplanePodsConfig = DataPlanePods & {
  /** The port each proxy serves /stats/prometheus on (Envoy Gateway: 19001; an Envoy admin's too). */
  port: number;
};

export type Pod = KubeObject & {
  status?: { podIP?: string; conditions?: { type: string; status: string }[] };
};

export const DEFAULT_STATS_PORT = 19001;

/**
 * ATRIUM_DATA_PLANE_NAMESPACE and ATRIUM_DATA_PLANE_POD_LABELS (envDataPlanePods), with
 * ATRIUM_DATAPLANE_STATS_PORT (default 19001). Neither pod setting: undefined. A bad value
 * stops the program at start, naming the variable.
 */
export function parseDataplanePods(env: NodeJS.ProcessEnv): DataplanePodsConfig | undefined {
  const pods = envDataPlanePods(env);
  if (!pods) return undefined;
  return { ...pods, port: envPort(env, "ATRIUM_DATAPLANE_STATS_PORT", DEFAULT_STATS_PORT) as number };
}

/** The pods' labels as a label selector (`k=v,k=v`). */
export const podSelector = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");

/**
 * A pod that serves traffic: ready, not terminating, with an address. Otherwise undefined: a
 * pod on its way out or not yet in its Service's endpoints takes no new requests.
 */
export function readyDataPlanePod(pod: Pod): ReadyDataPlanePod | undefined {
  const ip = pod.status?.podIP;
  const ready = pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
  if (!ip || !ready || pod.metadata.deletionTimestamp) return undefined;
  return {
    key: `pod/${pod.metadata.namespace}/${pod.metadata.name}/${pod.metadata.uid ?? ""}`,
    host: isIPv6(ip) ? `[${ip}]` : ip,
  };
}

/** Where a ready pod's statistics are read (Envoy Gateway's proxies: /stats/prometheus on 19001). */
export const podStatsUrl = (pod: ReadyDataPlanePod, port: number) => `http://${pod.host}:${port}/stats/prometheus`;

/** A ready pod's listener, plain HTTP at its container port. */
export const podListenerUrl = (pod: ReadyDataPlanePod, port: number) => `http://${pod.host}:${port}`;

/**
 * Where a pod's statistics are read while it serves traffic. Otherwise undefined: dropping a
 * pod from the readings drops its baseline with it.
 */
export function podStatsTarget(pod: Pod, port: number): StatsTarget | undefined {
  const ready = readyDataPlanePod(pod);
  return ready && { key: ready.key, url: podStatsUrl(ready, port) };
}

/**
 * A watch on the data plane's pods in their namespace (a Role there is all it needs) and those
 * ready now. Nothing waits for it: a watch that fails (no Role) is logged and retried by the
 * informer, and until it lists, no pod is ready (the gateway reads no pod's activity, the
 * operator confirms no stop).
 */
export function watchDataPlanePods(client: KubeClient, pods: DataPlanePods, log: Logger) {
  const informer = new Informer<Pod>(client, R.pod, {
    namespace: pods.namespace,
    labelSelector: podSelector(pods.podLabels),
    log,
  });
  return {
    ready: (): ReadyDataPlanePod[] =>
      informer.list().flatMap((pod) => {
        const ready = readyDataPlanePod(pod);
        return ready ? [ready] : [];
      }),
    start: () => void informer.start(),
    stop: () => informer.stop(),
    synced: informer.synced,
  };
}

/** The statistics targets of the data plane's ready pods, as the gateway reads them. */
export function followDataplanePods(client: KubeClient, config: DataplanePodsConfig, log: Logger) {
  const pods = watchDataPlanePods(client, config, log);
  return {
    ...pods,
    targets: (): StatsTarget[] => pods.ready().map((p) => ({ key: p.key, url: podStatsUrl(p, config.port) })),
  };
}
