/**
 * V8 flags the gateway process runs with. A larger young generation makes scavenges rarer:
 * with the default, a scavenge every few hundred proxied requests showed up in the p99
 * latency at one connection (gateway-warm benchmark).
 */
export const GATEWAY_NODE_FLAGS = ["--max-semi-space-size=64"];
