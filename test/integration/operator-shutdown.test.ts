// The operator's shutdown on the real apiserver: readiness fails first, then it stops, so
// whatever watches /readyz (a rollout, a load balancer) sees it leave before it is gone.
import { describe, expect, it } from "vitest";
import { startOperator } from "../cluster/operator-process.ts";
import { cluster, unique } from "./kube.ts";

const { info } = cluster();

describe("operator shutdown", () => {
  it("answers 503 on /readyz from SIGTERM until it exits, then exits cleanly", async () => {
    const op = await startOperator({
      kubeconfig: info.kubeconfig,
      id: "shutdown",
      leaseNamespace: unique("lease"),
      env: { ATRIUM_SHUTDOWN_DELAY_MS: "1000" },
    });
    await op.waitUntil("leadership", async () => (await op.status()).leader);
    expect((await fetch(`${op.admin}/readyz`)).status).toBe(200);

    let exitCode: number | null | undefined;
    const exited = op.kill("SIGTERM").then((code) => {
      exitCode = code;
    });
    const answers: number[] = [];
    while (exitCode === undefined) {
      const res = await fetch(`${op.admin}/readyz`).catch(() => undefined);
      if (!res) break; // the server has closed
      answers.push(res.status);
      await res.text();
      await new Promise((r) => setTimeout(r, 20));
    }
    await exited;
    // The first probe may beat the signal handler; from the first 503 on, never ready again.
    const notReadyFrom = answers.indexOf(503);
    expect(notReadyFrom, `readiness answers after SIGTERM: ${answers.join(" ")}`).toBeGreaterThanOrEqual(0);
    expect(answers.slice(notReadyFrom).every((s) => s === 503)).toBe(true);
    expect(exitCode).toBe(0);
  });
});
