// Activity without being in the path (issue 17): the real gateway process in Gateway API mode
// reads a real Envoy's admin statistics and writes running apps' lastActivity on the shared
// control plane, though no app request passes through it. Envoy (the harness's binary, the
// one Envoy Gateway runs) is started here with a static configuration whose clusters are named
// as Envoy Gateway names an HTTPRoute's rules (routeClusterName), so this needs no Envoy
// Gateway controller: what Envoy Gateway writes is test/integration/dataplane.test.ts's.
import { type ChildProcess, spawn } from "node:child_process";
import { createServer, request, type Server } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ensureDataplaneBinaries, routeClusterName } from "../cluster/dataplane.ts";
import { type GatewayProcess, startGateway } from "../cluster/gateway-process.ts";
import { freePorts } from "../cluster/ports.ts";
import { until } from "../cluster/until.ts";
import { cluster, type Obj } from "./kube.ts";

const { objects, info } = cluster();
const NS = "org-dpactivity";
const STREAM_MS = 4000;

let backend: Server;
let envoy: ChildProcess;
let gateway: GatewayProcess;
let listenerPort: number;

/** A virtual host per app: `<app>.test`, with the route's rules in order (health-checks first). */
function envoyConfig(adminPort: number, backendPort: number) {
  const apps: Record<string, { health?: string }> = { web: { health: "/healthz" }, other: {}, stream: {} };
  const clusters = Object.entries(apps).flatMap(([app, { health }]) =>
    (health ? [0, 1] : [0]).map((rule) => routeClusterName(NS, app, rule)),
  );
  const route = (cluster: string) => ({ cluster, timeout: "0s" });
  return {
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
    static_resources: {
      listeners: [
        {
          name: "apps",
          address: { socket_address: { address: "127.0.0.1", port_value: listenerPort } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type":
                      "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    stat_prefix: "apps",
                    route_config: {
                      virtual_hosts: Object.entries(apps).map(([app, { health }]) => ({
                        name: app,
                        domains: [`${app}.test`, `${app}.test:*`],
                        routes: [
                          ...(health ? [{ match: { path: health }, route: route(routeClusterName(NS, app, 0)) }] : []),
                          { match: { prefix: "/" }, route: route(routeClusterName(NS, app, health ? 1 : 0)) },
                        ],
                      })),
                    },
                    http_filters: [
                      {
                        name: "envoy.filters.http.router",
                        typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: clusters.map((name) => ({
        name,
        type: "STATIC",
        load_assignment: {
          cluster_name: name,
          endpoints: [
            {
              lb_endpoints: [
                { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: backendPort } } } },
              ],
            },
          ],
        },
      })),
    },
  };
}

/** A request through Envoy for `<app>.test`; resolves when the answer is complete. */
const viaEnvoy = (app: string, path = "/") =>
  new Promise<number>((resolve, reject) => {
    request({ host: "127.0.0.1", port: listenerPort, path, headers: { host: `${app}.test` } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    })
      .on("error", reject)
      .end();
  });

const lastActivity = async (app: string): Promise<number | undefined> => {
  const found = (await objects.read({
    apiVersion: "atrium.dev/v1alpha1",
    kind: "AppInstance",
    metadata: { name: app, namespace: NS },
  })) as { status?: { lastActivity?: string } };
  const at = found.status?.lastActivity;
  return at ? Date.parse(at) : undefined;
};

beforeAll(async () => {
  const bin = ensureDataplaneBinaries();
  const [adminPort, backendPort, port] = (await freePorts(3)) as [number, number, number];
  listenerPort = port;
  // The app's pods: /slow answers for STREAM_MS (an open stream), anything else at once.
  backend = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    if (req.url !== "/slow") return void res.end("ok");
    const tick = setInterval(() => res.write("."), 200);
    setTimeout(() => {
      clearInterval(tick);
      res.end();
    }, STREAM_MS);
  });
  await new Promise<void>((r) => backend.listen(backendPort, "127.0.0.1", r));
  envoy = spawn(
    join(bin, "envoy"),
    ["--config-yaml", JSON.stringify(envoyConfig(adminPort, backendPort))].concat([
      "--disable-hot-restart",
      "--concurrency",
      "1",
      "--log-level",
      "warn",
    ]),
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  await until("Envoy's listener", () => viaEnvoy("other", "/ready").then((s) => s === 200), 30_000);

  await objects.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } } as Obj);
  for (const name of ["web", "other", "stream"])
    await objects.create({
      apiVersion: "atrium.dev/v1alpha1",
      kind: "AppInstance",
      metadata: { name, namespace: NS },
      spec: { template: "echo", access: { policy: "Public" }, idle: { policy: "Auto", timeout: "1h" } },
    } as Obj);

  gateway = await startGateway({
    kubeconfig: info.kubeconfig,
    env: {
      ATRIUM_ROUTING: "gateway-api",
      ATRIUM_DATAPLANE_STATS_URLS: `http://127.0.0.1:${adminPort}`,
      ATRIUM_DATAPLANE_STATS_INTERVAL_MS: "200",
      ATRIUM_GATEWAY_FLUSH_INTERVAL_MS: "300",
    },
  });
}, 120_000);

afterAll(async () => {
  await gateway?.kill();
  envoy?.kill();
  backend?.closeAllConnections();
  await new Promise((r) => backend?.close(r));
  await objects.delete({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } } as Obj).catch(() => {});
});

it("records an app's requests through the data plane as its activity, not those on its health-checks rule", async () => {
  // Health checks for web all along, and requests for other until its activity is written: the
  // readings that saw other's requests (the first one is only a baseline) saw web's too.
  await until(
    "other's lastActivity",
    async () => {
      expect(await viaEnvoy("web", "/healthz")).toBe(200);
      expect(await viaEnvoy("other")).toBe(200);
      return lastActivity("other");
    },
    20_000,
  );
  expect(await lastActivity("web")).toBeUndefined();

  const sent = Date.now();
  expect(await viaEnvoy("web", "/page")).toBe(200);
  const at = await until("web's lastActivity", () => lastActivity("web"), 20_000);
  expect(at).toBeGreaterThanOrEqual(sent - 1000); // the apiserver keeps seconds
});

it("keeps an app active while a request stays open, with no new request", async () => {
  const opened = Date.now();
  const stream = viaEnvoy("stream", "/slow");
  // Long after the one reading that saw the request arrive: only the open stream can say so.
  await until(
    "stream's lastActivity while only its open request goes on",
    async () => ((await lastActivity("stream")) ?? 0) >= opened + 2000,
    STREAM_MS,
  );
  expect(await stream).toBe(200);
});
