export * from "./backoff.ts";
export * from "./client.ts";
export * from "./env.ts";
export * from "./informer.ts";
export * from "./leader.ts";
export * from "./log.ts";
export * from "./node-flags.ts";
export * from "./resources.ts";
