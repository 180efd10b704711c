import { logTail } from "./log-tail.ts";

/**
 * Polls `check` until it returns a value other than undefined or false (an error counts as
 * "not yet"), or fails naming what it waited for and the last error seen.
 */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${lastError}` : ""}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Waits for a process the harness started to be ready: polls `ready` (an error counts as "not
 * yet"), and fails at once if the process exits first, or after the timeout; either way the
 * error carries the last lines of its log, since CI keeps a test's output and not log files.
 */
export async function untilStarted(options: {
  /** The process's name, as errors say it. */
  name: string;
  /** What its readiness is, as errors say it ("kube-apiserver /readyz"). */
  what: string;
  ready: () => Promise<boolean>;
  /** Its exit code once it has exited; undefined while it runs. */
  exitCode: () => number | null | undefined;
  logFile: string;
  timeoutMs?: number;
}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const code = options.exitCode();
    const why =
      code !== undefined
        ? `${options.name} exited (${code}) before ${options.what}`
        : Date.now() > deadline
          ? `Timed out after ${timeoutMs} ms waiting for ${options.what}`
          : undefined;
    if (why) throw new Error(`${why}; its log (${options.logFile}) ends:\n${logTail(options.logFile)}`);
    if (await options.ready().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}
