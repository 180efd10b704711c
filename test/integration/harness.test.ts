// The harness never leaves a process or a bound port behind: not after a failing test, not
// after an uncaught error, not even when the process holding the cluster is SIGKILLed.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { processesUsing } from "../cluster/controlplane.ts";
import { portIsFree } from "../cluster/ports.ts";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const FIXTURES = join(ROOT, "test/cluster/fixtures");
// The children start clusters of their own, never reuse one from `make cluster-up`.
const { ATRIUM_KUBECONFIG: _reuse, ...env } = process.env;

/** Waits (bounded) until nothing runs from the cluster folder and every port is free again. */
async function expectCleanedUp(dir: string, ports: number[]) {
  const deadline = Date.now() + 20_000;
  while (processesUsing(dir).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(processesUsing(dir)).toEqual([]);
  for (const port of ports) expect(await portIsFree(port), `port ${port}`).toBe(true);
}

const failed = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error("expected the child process to fail");
    },
    (error: { code?: number; signal?: string; stdout: string }) => error,
  );

describe("no orphans", () => {
  it("after a failing vitest run", async () => {
    const report = join(mkdtempSync(join(tmpdir(), "atrium-fixture-")), "cluster.json");
    const vitest = join(ROOT, "node_modules/vitest/vitest.mjs");
    const result = await failed(
      run(process.execPath, [vitest, "run", "--config", join(FIXTURES, "failing/vitest.config.ts")], {
        cwd: ROOT,
        env: { ...env, ATRIUM_FIXTURE_REPORT: report },
      }),
    );
    expect(result.code).toBe(1);
    const { dir, server } = JSON.parse(readFileSync(report, "utf8"));
    await expectCleanedUp(dir, [Number(new URL(server).port)]);
    expect(existsSync(dir), "the temporary cluster folder is removed").toBe(false);
  });

  it.each(["throw", "sigkill"])("after the harness process dies (%s)", async (how) => {
    const result = await failed(run(process.execPath, [join(FIXTURES, "start-and-die.ts"), how], { cwd: ROOT, env }));
    if (how === "sigkill") expect(result.signal).toBe("SIGKILL");
    else expect(result.code).toBe(1);
    const { dir, ports, pids } = JSON.parse(result.stdout);
    expect(Object.keys(pids)).toEqual(["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]);
    await expectCleanedUp(dir, ports);
    rmSync(dir, { recursive: true, force: true }); // what a dead harness cannot tidy itself
  });
});
