import { nodeFlagsFrom } from "@atrium/kube";

/**
 * V8 flags the gateway process runs with. A larger young generation makes scavenges rarer:
 * with a small one, a scavenge every few hundred proxied requests showed up in the p99 latency
 * at one connection (gateway-warm benchmark). 64 MB semi-spaces are also the default of the
 * pinned Node 24.22.3 (whatever the heap size, measured from heap_size_limit), so there the flag
 * keeps the size rather than changes it: it states what the gateway was measured with, for any
 * Node whose default differs. main.ts applies them however it is started.
 */
export const GATEWAY_NODE_FLAGS = ["--max-semi-space-size=64"];

/** The flags it runs with: ATRIUM_GATEWAY_NODE_FLAGS (space-separated, "" for none) replaces them. */
export const gatewayNodeFlags = (env: NodeJS.ProcessEnv = process.env) =>
  nodeFlagsFrom(env.ATRIUM_GATEWAY_NODE_FLAGS, GATEWAY_NODE_FLAGS);
