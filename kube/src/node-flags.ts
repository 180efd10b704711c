// V8 flags a program must run with (the gateway's and the operator's node-flags.ts), applied
// however it was started: by the test harness and `make dev` on its command line, or plainly as
// `node main.ts` (a container's command), where the program starts itself again with them.
import { getHeapStatistics } from "node:v8";

/** Set in the environment of a program started again with its flags: it is not done twice. */
export const NODE_FLAGS_APPLIED = "ATRIUM_NODE_FLAGS_APPLIED";

/** The flags wanted: a program's own, or those an override names instead (space-separated, "" for none). */
export const nodeFlagsFrom = (override: string | undefined, defaults: readonly string[]): string[] =>
  override === undefined ? [...defaults] : override.split(/\s+/).filter(Boolean);

/** The wanted flags the process was not started with, on its command line or in NODE_OPTIONS. */
export function missingNodeFlags(
  wanted: readonly string[],
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): string[] {
  const given = new Set([...execArgv, ...(nodeOptions ?? "").split(/\s+/)]);
  return wanted.filter((flag) => !given.has(flag));
}

/** Thrown when a program cannot be given its V8 flags. */
export class NodeFlagsError extends Error {
  override name = "NodeFlagsError";
}

type Proc = Pick<NodeJS.Process, "execArgv" | "argv" | "execPath" | "env" | "execve">;

/**
 * Gives this process the wanted V8 flags. V8 sizes its heap once, at start, so flags cannot be
 * set afterwards (v8.setFlagsFromString leaves the heap as it was): a process missing any is
 * replaced (execve: same pid, so signals and a container's PID 1 are unchanged) by the same
 * program started with them. Call it first thing, before any other work. Flags the process was
 * given go after the added ones, so another value given on purpose (node --max-semi-space-size=16
 * main.ts) still wins, as V8 takes a flag's last value.
 */
export function applyNodeFlags(wanted: readonly string[], proc: Proc = process): void {
  const missing = missingNodeFlags(wanted, proc.execArgv, proc.env.NODE_OPTIONS);
  if (missing.length === 0) return;
  if (proc.env[NODE_FLAGS_APPLIED])
    throw new NodeFlagsError(`Node was started again with ${missing.join(" ")}, and still runs without them`);
  proc.execve?.(proc.execPath, [proc.execPath, ...missing, ...proc.execArgv, ...proc.argv.slice(1)], {
    ...proc.env,
    [NODE_FLAGS_APPLIED]: missing.join(" "),
  });
  throw new NodeFlagsError(`Node cannot start itself again with ${missing.join(" ")} here (no process.execve)`);
}

/** What the process runs on, for its first log line: the flags given and the heap V8 sized from them. */
export const nodeRuntime = (proc: Pick<NodeJS.Process, "version" | "execArgv" | "env" | "pid"> = process) => ({
  node: proc.version,
  pid: proc.pid,
  nodeFlags: proc.execArgv.filter((a) => a.startsWith("--")).join(" "),
  nodeOptions: proc.env.NODE_OPTIONS ?? "",
  restartedWith: proc.env[NODE_FLAGS_APPLIED] ?? "",
  heapSizeLimitMb: Math.round(getHeapStatistics().heap_size_limit / 2 ** 20),
});
