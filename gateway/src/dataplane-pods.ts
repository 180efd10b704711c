// The data plane's proxies as they come and go (issue 17, Gateway API mode): the gateway reads
// each ready pod's statistics for running apps' activity. The watch, the selector and what makes
// a pod a target live in @atrium/kube (kube/src/dataplane-pods.ts), shared with the operator,
// which follows the same pods for a stop's probe and re-check (ADR 0024).
export {
  type DataplanePodsConfig,
  DEFAULT_STATS_PORT,
  followDataplanePods,
  type Pod,
  parseDataplanePods,
  podSelector,
  podStatsTarget,
  type StatsTarget,
} from "@atrium/kube";
