// wake: 30 wakes of a stopped app, each timed from the request to the first byte of the
// backend's answer through the gateway. The fake pod's server starts as soon as KWOK reports
// the pod Running (polled every 50 ms), so the figure is the wake path itself.
import { serveAppPods } from "../../test/cluster/fake-pods.ts";
import { until } from "../../test/cluster/until.ts";
import { writeResult } from "../results.ts";
import { gatewayStack } from "../setup.ts";
import { percentile } from "../stats.ts";

const WAKES = Number(process.env.BENCH_WAKES ?? 30);
const log = (m: string) => console.log(`[wake] ${m}`);

export async function run() {
  const stack = await gatewayStack(log, { ATRIUM_GATEWAY_FLUSH_INTERVAL_MS: "500" });
  const fake = serveAppPods(stack.kc, { namespace: "org-bench", app: "sleepy", port: 8080 });
  try {
    await stack.install("sleepy", { policy: "Auto", timeout: "2s" });
    const url = `${stack.gateway.url}/apps/bench/sleepy/`;
    const samples: number[] = [];
    for (let i = 0; i < WAKES; i++) {
      await until("the app to stop", async () => (await stack.read("sleepy")).status?.phase === "Stopped", 60_000);
      const started = performance.now();
      const res = await fetch(url);
      samples.push(performance.now() - started); // headers arrived: the first byte
      const body = await res.text();
      if (res.status !== 200 || !body.startsWith("hello from sleepy"))
        throw new Error(`wake ${i}: ${res.status} ${body}`);
      log(`wake ${i + 1}: ${samples.at(-1)?.toFixed(0)} ms`);
    }
    writeResult({
      scenario: "wake",
      method:
        `${WAKES} wakes of a stopped app (idle timeout 2 s) through the gateway on the local control plane (operator, ` +
        "KWOK, a server started at the pod address as soon as the pod is Running); request to response headers, " +
        "measured by the client; p50 and p99 (nearest rank) of the samples.",
      metrics: {
        wake_p50_ms: Math.round(percentile(samples, 50)),
        wake_p99_ms: Math.round(percentile(samples, 99)),
      },
      goals: { wake_p50_ms: "<= 300", wake_p99_ms: "<= 1000" },
    });
  } finally {
    await fake.stop();
    await stack.close();
  }
}
