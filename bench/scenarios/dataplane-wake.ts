// dataplane-wake (issue 17): wakes through the cluster's data plane and the activator, side by
// side with the embedded gateway's (the wake scenario), in one run. Two stacks, each its own
// control plane, operator, gateway and app "sleepy" with the wake scenario's 2 s idle timeout:
// the embedded default, woken with a request to the gateway's /apps/bench/sleepy/; and Gateway
// API mode (operator/src/routing) with a real Envoy Gateway + Envoy (test/cluster/dataplane.ts)
// and Atrium's gateway as the activator only, woken with a request to Envoy's listener with the
// app's Host, which the stopped app's EndpointSlice sends to the activator. Wakes alternate
// (embedded, data plane, …); each is timed from the request to the app's answer's headers.
import { request } from "node:http";
import { startDataplane } from "../../test/cluster/dataplane.ts";
import { serveAppPods } from "../../test/cluster/fake-pods.ts";
import { freePorts } from "../../test/cluster/ports.ts";
import { until } from "../../test/cluster/until.ts";
import { writeResult } from "../results.ts";
import { gatewayStack } from "../setup.ts";
import { percentile } from "../stats.ts";
import { type Answer, timedWake, untilStopped, WAKE_GATEWAY_ENV, WAKE_IDLE, WAKES } from "./wake.ts";

const APP = "sleepy";
const NS = "org-bench";
const DOMAIN = "atrium.test";
/**
 * Where the activator answers for Envoy: a local address of the harness's 198.18.0.0/16 that no
 * fake pod gets (dataplane-mode.test.ts uses .252, gateway-api-mode.test.ts .253).
 */
const ACTIVATOR_IP = "198.18.255.251";
/**
 * The stop sequence's grace (endpoints at the activator before zero replicas): it only spaces
 * the wakes out, so shorter than the operator's default 30 s; long enough for Envoy to learn
 * the endpoints (waited for before each wake anyway).
 */
const STOP_GRACE = "1s";
const log = (m: string) => console.log(`[dataplane-wake] ${m}`);

/** A request to Envoy's listener with the app's Host (fetch cannot set Host). */
function viaEnvoy(host: string, port: number, hostname: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: "/", headers: { host: hostname }, agent: false }, (res) => {
      const body = new Promise<string>((done, fail) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => {
          text += d;
        });
        res.on("end", () => done(text));
        res.on("error", fail);
      });
      resolve({ status: res.statusCode ?? 0, text: () => body });
    });
    req.on("error", reject);
    req.end();
  });
}

export async function run() {
  const embedded = await gatewayStack(log, WAKE_GATEWAY_ENV);
  let dataplane: Awaited<ReturnType<typeof startDataplane>> | undefined;
  const gatewayApi = await gatewayStack(log, WAKE_GATEWAY_ENV, async (cp) => {
    // Installs the Gateway API's CRDs too, which the operator needs at start in this mode.
    dataplane = await startDataplane({ kubeconfig: cp.kubeconfig, binDir: cp.binDir, dir: cp.dir, log });
    const [activatorPort] = (await freePorts(1)) as [number];
    return {
      operatorEnv: {
        ATRIUM_BASE_DOMAIN: DOMAIN,
        ATRIUM_ROUTING: "gateway-api",
        ATRIUM_GATEWAY_API_PARENT: `${dataplane.gateway.namespace}/${dataplane.gateway.name}/http`,
        ATRIUM_ACTIVATOR_ADDRESSES: ACTIVATOR_IP,
        ATRIUM_ACTIVATOR_PORT: String(activatorPort),
        ATRIUM_STOP_GRACE: STOP_GRACE,
        // The stop's checks (ADR 0024): the probe through Envoy, the re-check in its statistics.
        ATRIUM_DATA_PLANE_URLS: dataplane.url,
        ATRIUM_DATAPLANE_STATS_URLS: dataplane.adminUrl,
      },
      gatewayPort: activatorPort,
      // Every local address: 127.0.0.1 for the harness's readiness check, ACTIVATOR_IP for Envoy.
      gatewayEnv: {
        ATRIUM_GATEWAY_ADDR: `0.0.0.0:${activatorPort}`,
        ATRIUM_ROUTING: "gateway-api",
        ATRIUM_BASE_DOMAIN: DOMAIN,
      },
      close: async () => dataplane?.stop(),
    };
  });
  const envoy = dataplane as NonNullable<typeof dataplane>;
  const fakes = [embedded, gatewayApi].map((s) => serveAppPods(s.kc, { namespace: NS, app: APP, port: 8080 }));
  try {
    await embedded.install(APP, WAKE_IDLE);
    await gatewayApi.install(APP, WAKE_IDLE);
    const hostname = `${APP}.bench.${DOMAIN}`;
    // The route is programmed once Envoy answers for the app at all (from the pod or, stopped, by a wake).
    await until(
      "Envoy to route the app",
      async () =>
        (await viaEnvoy(envoy.host, envoy.port, hostname).catch(() => undefined))?.status === 200 || undefined,
      120_000,
      200,
    );
    // Rule 0 of the app's HTTPRoute is the health checks'; rule 1 carries its traffic.
    const atActivator = `/${NS}/${APP}/rule/1::${ACTIVATOR_IP}:`;
    const samples = { embedded: [] as number[], dataplane: [] as number[] };
    for (let i = 0; i < WAKES; i++) {
      await untilStopped(embedded, APP);
      samples.embedded.push(await timedWake(APP, () => fetch(`${embedded.gateway.url}/apps/bench/${APP}/`)));
      await untilStopped(gatewayApi, APP);
      // Stopped comes after the grace in which Envoy learned the endpoints; checked, not assumed.
      await until(
        "Envoy to send the app's traffic to the activator",
        async () => (await (await fetch(`${envoy.adminUrl}/clusters`)).text()).includes(atActivator) || undefined,
        30_000,
        50,
      );
      samples.dataplane.push(await timedWake(APP, () => viaEnvoy(envoy.host, envoy.port, hostname)));
      log(
        `wake ${i + 1}: embedded ${samples.embedded.at(-1)?.toFixed(0)} ms, data plane ${samples.dataplane.at(-1)?.toFixed(0)} ms`,
      );
    }
    const p = (s: number[], q: number) => Math.round(percentile(s, q));
    writeResult({
      scenario: "dataplane-wake",
      method:
        `${WAKES} wakes each, alternating, of a stopped app (idle timeout 2 s, KWOK, a server started at the pod ` +
        "address as soon as the pod is Running) on two local control planes in one run: through Envoy 1.40 run by " +
        "Envoy Gateway v1.9.1 (Host mode, own network namespace) with the operator in Gateway API mode, the app's " +
        "selector-less Service's EndpointSlice at Atrium's gateway as the activator, a request with the app's Host " +
        "to Envoy's listener; and through the embedded gateway (the wake scenario: /apps/bench/sleepy/). Request to " +
        "the app's response headers, measured by the client; p50 and p99 nearest rank; the ratio of the p50s. " +
        `Stop grace ${STOP_GRACE} in Gateway API mode; after each wake the bench moves status.wokenAt back by the ` +
        "operator's 5 min wake grace so the app idles out 2 s after it (the wake itself untouched). " +
        "All on the same 2 cores, shared with other work.",
      metrics: {
        wake_p50_ms: p(samples.dataplane, 50),
        wake_p99_ms: p(samples.dataplane, 99),
        embedded_wake_p50_ms: p(samples.embedded, 50),
        embedded_wake_p99_ms: p(samples.embedded, 99),
        ratio_vs_embedded_p50:
          Math.round((percentile(samples.dataplane, 50) / percentile(samples.embedded, 50)) * 100) / 100,
      },
      goals: { wake_p50_ms: "<= 300", wake_p99_ms: "<= 1000" },
    });
  } finally {
    for (const f of fakes) await f.stop();
    await gatewayApi.close();
    await embedded.close();
  }
}
