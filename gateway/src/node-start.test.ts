// The gateway and the operator started as a container starts them (`node main.ts`, no flags)
// and as the harness does (flags on the command line): each must run with its V8 flags, read
// back from the heap V8 sized (the semi-space size is not readable directly: it is worked out
// from heap_size_limit against probes), and the gateway must refuse a Node or a parser binding
// it was not written against. No cluster: each process is stopped after its first log lines.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { OPERATOR_NODE_FLAGS } from "../../operator/src/node-flags.ts";
import { GATEWAY_NODE_FLAGS } from "./node-flags.ts";

const GATEWAY = fileURLToPath(new URL("./main.ts", import.meta.url));
const OPERATOR = fileURLToPath(new URL("../../operator/src/main.ts", import.meta.url));

// A cluster nobody answers at: the programs start, log, and keep retrying until stopped.
const KUBECONFIG = join(mkdtempSync(join(tmpdir(), "atrium-node-start-")), "kubeconfig");
writeFileSync(
  KUBECONFIG,
  JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:1", "insecure-skip-tls-verify": true } }],
    users: [{ name: "u", user: { token: "t" } }],
    contexts: [{ name: "c", context: { cluster: "c", user: "u" } }],
    "current-context": "c",
  }),
);

type Line = { level: string; msg: string; [field: string]: unknown };

/** Starts main until it logs its runtime (then stops it) or exits; returns the lines, the pid, the exit code. */
async function start(main: string, options: { nodeArgs?: string[]; env?: Record<string, string> } = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (name === "NODE_OPTIONS" || /^ATRIUM_/.test(name)) delete env[name]; // as a fresh container
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), main], {
    env: {
      ...env,
      KUBECONFIG,
      ATRIUM_GATEWAY_ADDR: "127.0.0.1:0",
      ATRIUM_GATEWAY_ADMIN_ADDR: "127.0.0.1:0",
      ATRIUM_OPERATOR_ADDR: "127.0.0.1:0",
      ...options.env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const lines: Line[] = [];
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let text = "";
  await new Promise<void>((resolve) => {
    child.stderr.on("data", (chunk: Buffer) => {
      text += chunk.toString("utf8");
      for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n")) {
        const line = text.slice(0, i);
        text = text.slice(i + 1);
        if (!line.startsWith("{")) continue;
        lines.push(JSON.parse(line) as Line);
        if (lines.at(-1)?.msg === "Node runtime") resolve(); // a failed start exits by itself
      }
    });
    void exited.then(() => resolve());
  });
  const pid = child.pid;
  child.kill("SIGKILL");
  const code = await exited;
  return { lines, pid, code, runtime: lines.find((l) => l.msg === "Node runtime") };
}

/** heap_size_limit (MB) of a bare node with these flags. */
const probe = (flags: string[]) =>
  Number(
    execFileSync(process.execPath, [...flags, "-p", "Math.round(v8.getHeapStatistics().heap_size_limit / 2 ** 20)"], {
      env: { PATH: process.env.PATH },
      encoding: "utf8",
    }),
  );

/**
 * The semi-space size (MB) V8 took, from a process's heap_size_limit: the limit grows by a fixed
 * multiple of the semi-space size (the multiple measured here with two probes), the rest is the
 * old generation, sized by the other flags.
 */
const semiSpaceMb = (heapSizeLimitMb: number, otherFlags: string[] = []) => {
  const one = probe([...otherFlags, "--max-semi-space-size=1"]);
  const perMb = probe([...otherFlags, "--max-semi-space-size=2"]) - one;
  return (heapSizeLimitMb - one) / perMb + 1;
};

describe("the gateway's V8 flags", () => {
  it("are applied when it is started plainly, as a container's command starts it", async () => {
    const { runtime, pid } = await start(GATEWAY);
    expect(runtime).toMatchObject({
      nodeFlags: GATEWAY_NODE_FLAGS.join(" "),
      restartedWith: GATEWAY_NODE_FLAGS.join(" "),
    });
    expect(runtime?.pid).toBe(pid); // started again in the same process (a container's PID 1 stays)
    expect(semiSpaceMb(runtime?.heapSizeLimitMb as number)).toBe(64);
  }, 30_000);

  it("are taken from ATRIUM_GATEWAY_NODE_FLAGS instead, however it is started", async () => {
    const env = { ATRIUM_GATEWAY_NODE_FLAGS: "--max-semi-space-size=16" };
    const plain = await start(GATEWAY, { env });
    expect(semiSpaceMb(plain.runtime?.heapSizeLimitMb as number)).toBe(16);
    expect(plain.runtime?.restartedWith).toBe("--max-semi-space-size=16");
    // The harness puts them on the command line (as it reads the same variable): no second start.
    const harness = await start(GATEWAY, { env, nodeArgs: ["--max-semi-space-size=16"] });
    expect(harness.runtime).toMatchObject({ nodeFlags: "--max-semi-space-size=16", restartedWith: "" });
    expect(semiSpaceMb(harness.runtime?.heapSizeLimitMb as number)).toBe(16);
  }, 30_000);
});

describe("the operator's V8 flags", () => {
  it("are applied when it is started plainly: its heap is capped as they say", async () => {
    const { runtime } = await start(OPERATOR);
    expect(runtime?.restartedWith).toBe(OPERATOR_NODE_FLAGS.join(" "));
    expect(runtime?.heapSizeLimitMb).toBe(probe(OPERATOR_NODE_FLAGS));
    expect(semiSpaceMb(runtime?.heapSizeLimitMb as number, ["--max-old-space-size=192"])).toBe(8);
  }, 30_000);
});

describe("the gateway's start on Node internals", () => {
  // Node cannot be another version here, so a preload makes the process say it is one.
  const fakeVersion = ["--import", 'data:text/javascript,Object.defineProperty(process,"version",{value:"v24.21.0"})'];

  it("stops on another Node version, saying which and what to do", async () => {
    const { lines, code, runtime } = await start(GATEWAY, { nodeArgs: fakeVersion });
    expect(code).toBe(1);
    expect(runtime).toBeUndefined();
    expect(lines.at(-1)).toMatchObject({ level: "error", msg: "Gateway cannot start on this Node" });
    expect(lines.at(-1)?.error).toMatch(
      /runs on Node 24\.22\.3 only .* this is Node 24\.21\.0.*ATRIUM_ALLOW_UNTESTED_NODE=1/,
    );
  }, 30_000);

  it("starts on another version with ATRIUM_ALLOW_UNTESTED_NODE=1, and says so", async () => {
    const { lines, runtime } = await start(GATEWAY, {
      nodeArgs: fakeVersion,
      env: { ATRIUM_ALLOW_UNTESTED_NODE: "1" },
    });
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: "warn",
        msg: "UNTESTED NODE VERSION: the gateway runs on Node 24.21.0, not 24.22.3",
      }),
    );
    expect(runtime?.node).toBe("v24.21.0");
  }, 30_000);

  it("stops when the parser binding is not the one it was written against", async () => {
    const moveBody = [
      "--import",
      'data:text/javascript,import {createRequire} from "node:module";' +
        'const {HTTPParser}=createRequire("/")("node:_http_common");HTTPParser.kOnBody=HTTPParser.kOnHeaders;',
    ];
    const { lines, code, runtime } = await start(GATEWAY, { nodeArgs: moveBody });
    expect(code).toBe(1);
    expect(runtime).toBeUndefined();
    expect(lines.at(-1)?.error).toMatch(
      /HTTP parser is not the one the gateway was written against.*a request body was not read/,
    );
  }, 30_000);
});
