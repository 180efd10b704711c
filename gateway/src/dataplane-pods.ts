// The data plane's proxies as they come and go (issue 17, Gateway API mode). Envoy Gateway runs
// its Envoys as pods that are scaled and rolled; each serves its own statistics on its pod
// address (port 19001, /stats/prometheus). Instead of a list of addresses that goes stale at the
// next rollout, the gateway watches the data plane's pods (the same namespace and labels the
// operator admits to apps in every organization's NetworkPolicy) and reads each ready one.
//
// A pod is one statistics source under its own identity (namespace, name and uid), never under
// its address: a new pod that gets a gone pod's address starts counting from zero, and compared
// with the gone pod's counters that would look like a restart whose every request is new.

import { isIPv6 } from "node:net";
import {
  type DataPlanePods,
  envDataPlanePods,
  Informer,
  type KubeClient,
  type KubeObject,
  type Logger,
  R,
} from "@atrium/kube";

/** One place statistics are read from, under the identity its baseline is kept by. */
export type StatsTarget = { key: string; url: string };

export type DataplanePodsConfig = DataPlanePods & {
  /** The port each proxy serves /stats/prometheus on (Envoy Gateway: 19001; an Envoy admin's too). */
  port: number;
};

export type Pod = KubeObject & {
  status?: { podIP?: string; conditions?: { type: string; status: string }[] };
};

export const DEFAULT_STATS_PORT = 19001;

/**
 * ATRIUM_DATA_PLANE_NAMESPACE and ATRIUM_DATA_PLANE_POD_LABELS (as the operator reads them),
 * with ATRIUM_DATAPLANE_STATS_PORT (default 19001). Neither pod setting: undefined. A bad value
 * stops the gateway at start, naming the variable.
 */
export function parseDataplanePods(env: NodeJS.ProcessEnv): DataplanePodsConfig | undefined {
  const pods = envDataPlanePods(env);
  if (!pods) return undefined;
  const rawPort = env.ATRIUM_DATAPLANE_STATS_PORT;
  const port = rawPort ? Number(rawPort) : DEFAULT_STATS_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`ATRIUM_DATAPLANE_STATS_PORT must be a port number, got "${rawPort}"`);
  return { ...pods, port };
}

/** The pods' labels as a label selector (`k=v,k=v`). */
export const podSelector = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");

/**
 * Where a pod's statistics are read while it serves traffic: ready, not terminating, with an
 * address. Otherwise undefined: a pod on its way out or not yet in its Service's endpoints
 * takes no new requests, and dropping it from the readings drops its baseline with it.
 */
export function podStatsTarget(pod: Pod, port: number): StatsTarget | undefined {
  const ip = pod.status?.podIP;
  const ready = pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
  if (!ip || !ready || pod.metadata.deletionTimestamp) return undefined;
  const host = isIPv6(ip) ? `[${ip}]` : ip;
  return {
    key: `pod/${pod.metadata.namespace}/${pod.metadata.name}/${pod.metadata.uid ?? ""}`,
    url: `http://${host}:${port}/stats/prometheus`,
  };
}

/**
 * A watch on the data plane's pods in their namespace (a Role there is all it needs) and the
 * statistics targets of those ready now. The gateway serves without it: a watch that fails (no
 * Role) is logged and retried by the informer, and its pods' activity waits for it.
 */
export function followDataplanePods(client: KubeClient, config: DataplanePodsConfig, log: Logger) {
  const pods = new Informer<Pod>(client, R.pod, {
    namespace: config.namespace,
    labelSelector: podSelector(config.podLabels),
    log,
  });
  return {
    targets: (): StatsTarget[] =>
      pods.list().flatMap((pod) => {
        const target = podStatsTarget(pod, config.port);
        return target ? [target] : [];
      }),
    start: () => void pods.start(),
    stop: () => pods.stop(),
    synced: pods.synced,
  };
}
