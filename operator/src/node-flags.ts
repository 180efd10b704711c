import { nodeFlagsFrom } from "@atrium/kube";

/**
 * V8 flags the operator process runs with. Left alone, V8 grows the heap lazily towards a
 * limit sized from the machine's memory: a burst of 1,000 apps left a 369 MB peak RSS for a
 * ~45 MB live set. A small young generation and a capped old space keep the peak near the
 * live set (measured by the reconcile-1000 benchmark). Raise the cap for clusters with many
 * thousands of apps; in a container, size it to about 75 % of the memory limit
 * (ATRIUM_OPERATOR_NODE_FLAGS). main.ts applies them however it is started.
 */
export const OPERATOR_NODE_FLAGS = ["--max-semi-space-size=8", "--max-old-space-size=192"];

/** The flags it runs with: ATRIUM_OPERATOR_NODE_FLAGS (space-separated, "" for none) replaces them. */
export const operatorNodeFlags = (env: NodeJS.ProcessEnv = process.env) =>
  nodeFlagsFrom(env.ATRIUM_OPERATOR_NODE_FLAGS, OPERATOR_NODE_FLAGS);
