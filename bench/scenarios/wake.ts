// wake: 30 wakes of a stopped app, each timed from the request to the first byte of the
// backend's answer through the gateway. The fake pod's server starts as soon as KWOK reports
// the pod Running (polled every 50 ms), so the figure is the wake path itself.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { WAKE_GRACE_MS } from "../../operator/src/appinstance/idle.ts";
import { serveAppPods } from "../../test/cluster/fake-pods.ts";
import { until } from "../../test/cluster/until.ts";
import { writeResult } from "../results.ts";
import { gatewayStack } from "../setup.ts";
import { percentile } from "../stats.ts";

export const WAKES = Number(process.env.BENCH_WAKES ?? 30);
const log = (m: string) => console.log(`[wake] ${m}`);

/** The gateway writes activity within half a second; the app idles out 2 s after it. */
export const WAKE_GATEWAY_ENV = { ATRIUM_GATEWAY_FLUSH_INTERVAL_MS: "500" };
export const WAKE_IDLE = { policy: "Auto", timeout: "2s" };

type Stack = Awaited<ReturnType<typeof gatewayStack>>;
/** An answer as fetch gives it: status and headers first, the body when read. */
export type Answer = { status: number; text(): Promise<string> };

/**
 * The operator keeps a woken app up at least WAKE_GRACE_MS (5 min, so that the starting page's
 * reloads find it) after `status.wokenAt`, whatever its idle timeout: 30 wakes would take hours.
 * The bench moves that time back by the grace, so the app idles out its 2 s after the last
 * request as before the grace existed; the wake itself is not touched.
 */
async function endWakeGrace(stack: Stack, app: string, wokenAt: string) {
  await stack.kc.makeApiClient(CustomObjectsApi).patchNamespacedCustomObjectStatus(
    {
      group: "atrium.dev",
      version: "v1alpha1",
      namespace: "org-bench",
      plural: "appinstances",
      name: app,
      body: {
        status: { wokenAt: new Date(Date.parse(wokenAt) - WAKE_GRACE_MS).toISOString().replace(/\.\d+Z$/, "Z") },
      },
    },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
}

/** Waits until the app's idle timeout has stopped it (a timeout names the phase it stayed in). */
export const untilStopped = (stack: Stack, app: string) =>
  until(
    `${app} to stop`,
    async () => {
      const status = (await stack.read(app)).status;
      if (status?.phase === "Stopped") return true;
      if (status?.wokenAt && Date.parse(status.wokenAt) > Date.now() - WAKE_GRACE_MS)
        await endWakeGrace(stack, app, status.wokenAt);
      throw new Error(`still ${status?.phase}`);
    },
    60_000,
  );

/**
 * One wake: milliseconds from sending the request to its answer's headers (the first byte),
 * checked to be the app's own answer rather than a starting page or an error.
 */
export async function timedWake(app: string, send: () => Promise<Answer>): Promise<number> {
  const started = performance.now();
  const res = await send();
  const ms = performance.now() - started;
  const body = await res.text();
  if (res.status !== 200 || !body.startsWith(`hello from ${app}`))
    throw new Error(`wake of ${app}: ${res.status} ${body.slice(0, 200)}`);
  return ms;
}

export async function run() {
  const stack = await gatewayStack(log, WAKE_GATEWAY_ENV);
  const fake = serveAppPods(stack.kc, { namespace: "org-bench", app: "sleepy", port: 8080 });
  try {
    await stack.install("sleepy", WAKE_IDLE);
    const url = `${stack.gateway.url}/apps/bench/sleepy/`;
    const samples: number[] = [];
    for (let i = 0; i < WAKES; i++) {
      await untilStopped(stack, "sleepy");
      samples.push(await timedWake("sleepy", () => fetch(url)));
      log(`wake ${i + 1}: ${samples.at(-1)?.toFixed(0)} ms`);
    }
    writeResult({
      scenario: "wake",
      method:
        `${WAKES} wakes of a stopped app (idle timeout 2 s) through the gateway on the local control plane (operator, ` +
        "KWOK, a server started at the pod address as soon as the pod is Running); request to response headers, " +
        "measured by the client; p50 and p99 (nearest rank) of the samples; after each wake the bench moves " +
        "status.wokenAt back by the operator's 5 min wake grace so the app idles out 2 s after it.",
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
