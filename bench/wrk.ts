// wrk (Debian's package, see ensure-tools.sh) as the load generator: requests per second and
// the 99th percentile latency. Asynchronous, so a server in this process keeps serving.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const exec = promisify(execFile);

export type WrkResult = { rps: number; p99: number; requests: number; non2xx: boolean };

export async function wrk(
  url: string,
  options: {
    connections: number;
    seconds: number;
    threads?: number;
    headers?: Record<string, string>;
    /** A wrk Lua script (a file), e.g. one that varies the request path. */
    script?: string;
  },
): Promise<WrkResult> {
  const args = [`-t${options.threads ?? 1}`, `-c${options.connections}`, `-d${options.seconds}s`, "--latency"];
  for (const [k, v] of Object.entries(options.headers ?? {})) args.push("-H", `${k}: ${v}`);
  if (options.script) args.push("-s", options.script);
  const { stdout } = await exec("wrk", [...args, url], { encoding: "utf8" });
  const rps = Number(stdout.match(/Requests\/sec:\s+([\d.]+)/)?.[1]);
  const m = stdout.match(/\s99%\s+([\d.]+)(us|ms|s)/);
  const p99 = m ? Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000 }[m[2] as "ms"] ?? 1) : Number.NaN;
  const requests = Number(stdout.match(/(\d+) requests in/)?.[1]);
  return { rps, p99, requests, non2xx: stdout.includes("Non-2xx") || stdout.includes("Socket errors") };
}
