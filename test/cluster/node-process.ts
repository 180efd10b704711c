// Runs one of Atrium's Node programs as its own process, as it runs in a pod, leashed to the
// test run (it dies with it), with helpers to read its metrics and wait on it.
import { spawn } from "node:child_process";
import { existsSync, openSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { until, untilStarted } from "./until.ts";

const LEASH = fileURLToPath(new URL("./leash.sh", import.meta.url));

export type NodeProcess = Awaited<ReturnType<typeof startNodeProcess>>;

export async function startNodeProcess(options: {
  name: string;
  main: string;
  nodeFlags?: string[];
  env: Record<string, string>;
  /** Base URL of its admin server (/readyz, /metrics). */
  admin: string;
}) {
  const logFile = join(tmpdir(), `atrium-${options.name}-${process.pid}-${Date.now().toString(36)}.log`);
  const out = openSync(logFile, "a");
  const pidFile = `${logFile}.pid`;
  const child = spawn("bash", [LEASH, process.execPath, ...(options.nodeFlags ?? []), options.main], {
    stdio: ["pipe", out, out],
    env: { ...process.env, LEASH_PIDFILE: pidFile, ...options.env },
  });
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      exitCode = code;
      resolve(code);
    }),
  );
  let pid = 0;
  while (!pid) {
    const text = existsSync(pidFile) ? readFileSync(pidFile, "utf8").trim() : "";
    if (text) pid = Number(text);
    else await new Promise((r) => setTimeout(r, 20));
  }

  /** Sums a metric's samples whose labels pass `where`. */
  const metric = async (name: string, where: (labels: string) => boolean = () => true) => {
    const text = await (await fetch(`${options.admin}/metrics`)).text();
    let sum = 0;
    for (const line of text.split("\n")) {
      const m = line.match(/^(\w+)(\{[^}]*\})? (\S+)$/);
      if (m && m[1] === name && where(m[2] ?? "")) sum += Number(m[3]);
    }
    return sum;
  };
  const waitUntil = (what: string, check: () => Promise<boolean>, timeoutMs = 60_000) =>
    until(`${what} (log: ${logFile})`, check, timeoutMs);
  const proc = {
    logFile,
    pid,
    exited,
    metric,
    waitUntil,
    /** Signals the program itself (the leash then exits with it). */
    kill(signal: NodeJS.Signals = "SIGTERM") {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
      return exited;
    },
  };
  try {
    await untilStarted({
      name: options.name,
      what: "its /readyz",
      ready: () => fetch(`${options.admin}/readyz`).then((r) => r.ok),
      exitCode: () => exitCode,
      logFile,
    });
  } catch (error) {
    await proc.kill();
    throw error;
  }
  return proc;
}
