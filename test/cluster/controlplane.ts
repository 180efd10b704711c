// A real Kubernetes control plane on loopback for tests, `make cluster-up` and `make dev`:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK (fake nodes that
// run Pods without containers). Every process is started through leash.sh, so it dies with
// the harness however the harness ends; stop() tears down in reverse order and frees ports.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generatePki, type Pki } from "./certs.ts";
import { freePorts } from "./ports.ts";
import { apiserverRealNodeFlags, type ImageName, type RealNode, startRealNode } from "./real-node.ts";
import { untilStarted } from "./until.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));

/**
 * Pod IPs for KWOK's fake pods. EndpointSlices refuse loopback addresses, so pods get addresses
 * from 198.18.0.0/16 (half of RFC 2544's benchmarking range), which the harness routes to the
 * loopback device (the kernel's "AnyIP"): a test can then serve real HTTP at a fake pod's
 * address. Each control plane claims its own /20 of it, so clusters running side by side
 * (the shared one, private ones, benchmarks) never hand out the same address. The other half,
 * 198.19.0.0/16, is for the pods of real nodes (real-node.ts).
 */
const POD_RANGE = "198.18.0.0/16";
const POD_SLOTS = 16; // /20s in the /16
const SLOT_LOCK_PORT = 40999;

/** Claims a free /20 by binding a lock socket inside it; the claim ends with the socket. */
async function claimPodCidr(): Promise<{ cidr: string; release: () => void }> {
  const slotBase = (slot: number) => {
    const third = slot * 16;
    return { second: 18 + Math.floor(third / 256), third: third % 256 };
  };
  const first = Math.floor(Math.random() * POD_SLOTS);
  for (let i = 0; i < POD_SLOTS; i++) {
    const slot = (first + i) % POD_SLOTS;
    const { second, third } = slotBase(slot);
    const server = createServer();
    const claimed = await new Promise<boolean | "unroutable">((resolve) => {
      server.once("error", (e: NodeJS.ErrnoException) => resolve(e.code === "EADDRNOTAVAIL" ? "unroutable" : false));
      server.listen(SLOT_LOCK_PORT, `198.${second}.${third + 15}.254`, () => resolve(true));
    });
    const cidr = `198.${second}.${third}.1/20`;
    if (claimed === true) return { cidr, release: () => server.close() };
    // Without the route (not root) no address is local: nothing to serve, so nothing to lock.
    if (claimed === "unroutable") return { cidr, release: () => {} };
  }
  throw new Error(`all ${POD_SLOTS} pod address ranges in ${POD_RANGE} are in use`);
}
export const NODE_IP = "127.41.0.1";
const SERVICE_CIDR = "10.96.0.0/16"; // room for a Service per app in the 1,000-app benchmark
const SERVICE_IP = "10.96.0.1";

export type ControlPlaneOptions = {
  /** Where certificates, data, logs and the kubeconfig go; a fresh temporary folder by default. */
  dir?: string;
  /** Fake nodes to register with KWOK. */
  nodes?: number;
  log?: (message: string) => void;
  /**
   * Also run a real node (real-node.ts: containerd + kubelet) with these images imported;
   * check realNodeUnsupported() first. Pods go there only from namespaces placed on it.
   */
  realNode?: {
    images?: ImageName[];
    /**
     * Also run kube-proxy, so the node's pods reach Services and, through the `kubernetes`
     * Service, the apiserver (which then listens on all addresses, not loopback only). One
     * node on the machine at a time runs it; another waits (real-node.ts).
     */
    services?: boolean;
  };
};

export type Component = "etcd" | "kube-apiserver" | "kube-controller-manager" | "kube-scheduler" | "kwok";

export type ControlPlane = {
  dir: string;
  kubeconfig: string;
  server: string;
  binDir: string;
  ports: number[];
  pids: Record<Component, number>;
  /**
   * What every fake pod's containers "print": KWOK serves this file (CRI log format, one
   * `<RFC 3339 time> stdout F <line>` per line) as their pods/log, and follows it.
   */
  podLogFile: string;
  /** The real node, when asked for with `realNode`. */
  realNode?: RealNode;
  /** Stops every component (reverse start order), waiting until each has exited. */
  stop(): Promise<void>;
  /** Stops one component and starts it again with the same flags (the apiserver: until /readyz). */
  restart(component: Component, downMs?: number): Promise<void>;
};

type Running = { name: Component; child: ChildProcess; exited: Promise<void>; exitCode?: number | null };

/** Builds (first time only) and returns the folder with the pinned control-plane binaries. */
export function ensureBinaries(log: (m: string) => void = () => {}): string {
  if (process.env.ATRIUM_BIN_DIR) return process.env.ATRIUM_BIN_DIR;
  log("Ensuring control-plane binaries (a first build takes a while)");
  const out = execFileSync("bash", [join(HERE, "build-binaries.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  return out.trim().split("\n").at(-1) as string;
}

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = options.log ?? (() => {});
  const binDir = ensureBinaries(log);
  routePodsLocally(log);
  const pods = await claimPodCidr();
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "atrium-cluster-"));
  // A folder we made is ours to delete; ATRIUM_KEEP_CLUSTER=1 keeps it (logs) for debugging.
  const removeDir = !options.dir && process.env.ATRIUM_KEEP_CLUSTER !== "1";
  for (const sub of ["pki", "logs", "etcd"]) mkdirSync(join(dir, sub), { recursive: true });

  const [etcdClient, etcdPeer, apiserver, controllerManager, scheduler, kwokPort] = (await freePorts(6)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const pki = generatePki(join(dir, "pki"), SERVICE_IP);
  const server = `https://127.0.0.1:${apiserver}`;
  const kubeconfig = join(dir, "kubeconfig");
  writeFileSync(kubeconfig, kubeconfigYaml(server, pki));

  const running: Running[] = [];
  let realNode: RealNode | undefined;
  const argsOf = new Map<Component, string[]>();
  const start = (name: Component, args: string[]) => {
    argsOf.set(name, args);
    const out = openSync(join(dir, "logs", `${name}.log`), "a");
    // stdin is a pipe we never write to: when this process ends, leash.sh sees EOF.
    const child = spawn("bash", [join(HERE, "leash.sh"), join(binDir, name), ...args], {
      stdio: ["pipe", out, out],
    });
    closeSync(out);
    const entry: Running = {
      name,
      child,
      exited: new Promise((resolve) =>
        child.once("exit", (code) => {
          entry.exitCode = code;
          resolve();
        }),
      ),
    };
    running.push(entry);
    return entry;
  };
  const stop = async () => {
    // First, while the apiserver still answers: the node's cleanup waits for its kubelet.
    await realNode?.stop();
    for (const entry of [...running].reverse()) {
      if (entry.exitCode === undefined) entry.child.kill("SIGTERM");
      await entry.exited;
    }
    if (removeDir) rmSync(dir, { recursive: true, force: true });
    pods.release();
  };
  /** Fails fast with the component's log tail if it died while we wait for it. */
  const waitFor = (what: string, entry: Running, ready: () => Promise<boolean>, timeoutMs = 60_000) =>
    untilStarted({
      name: entry.name,
      what,
      ready,
      exitCode: () => entry.exitCode,
      logFile: join(dir, "logs", `${entry.name}.log`),
      timeoutMs,
    });

  try {
    const startedAt = Date.now();
    const etcd = start("etcd", [
      "--name=atrium",
      `--data-dir=${join(dir, "etcd")}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=atrium=http://127.0.0.1:${etcdPeer}`,
      // Test data: durability across power loss buys nothing and fsync dominates on shared disks.
      "--unsafe-no-fsync",
      "--log-level=warn",
    ]);
    await waitFor("etcd health", etcd, async () => {
      const res = await fetch(`http://127.0.0.1:${etcdClient}/health`);
      return res.ok && ((await res.json()) as { health: string }).health === "true";
    });

    const api = start("kube-apiserver", [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      // Pods on a real node reach the apiserver at the node's IP, which exists only once the node does.
      `--bind-address=${options.realNode?.services ? "0.0.0.0" : "127.0.0.1"}`,
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiserver}`,
      `--cert-dir=${join(dir, "pki")}`,
      `--tls-cert-file=${pki.serverCert}`,
      `--tls-private-key-file=${pki.serverKey}`,
      `--client-ca-file=${pki.caCert}`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${pki.serviceAccountPub}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      "--authorization-mode=RBAC",
      // A loopback advertise address cannot be an Endpoints IP; nothing here needs that Service.
      "--endpoint-reconciler-type=none",
      "--enable-priority-and-fairness=false",
      // pods/log goes to KWOK's kubelet-like server at the node's InternalIP (the fake node's
      // Hostname address does not resolve).
      "--kubelet-preferred-address-types=InternalIP",
      ...(options.realNode ? apiserverRealNodeFlags(pki) : []),
      "--v=1",
    ]);
    await waitFor("kube-apiserver /readyz", api, () => apiReady(server, pki), 120_000);

    const common = (port: number, name: string) => [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      "--bind-address=127.0.0.1",
      `--secure-port=${port}`,
      `--cert-dir=${join(dir, "pki", name)}`,
      "--leader-elect=false",
      // The defaults (20 QPS) throttle a 1,000-app benchmark to minutes of queueing.
      "--kube-api-qps=500",
      "--kube-api-burst=1000",
      "--v=1",
    ];
    start("kube-controller-manager", [
      ...common(controllerManager, "kcm"),
      `--service-account-private-key-file=${pki.serviceAccountKey}`,
      `--root-ca-file=${pki.caCert}`,
      "--use-service-account-credentials=false",
      // No real storage here: the built-in hostPath provisioner binds claims to fake volumes,
      // so pods with volumes schedule onto KWOK nodes like any other.
      "--enable-hostpath-provisioner=true",
      // KWOK's node heartbeats can lag under load on two cores; the default 50 s grace would
      // mark the fake node NotReady and every pod with it, and KWOK never marks them ready again.
      "--node-monitor-grace-period=1h",
      "--concurrent-deployment-syncs=20",
      "--concurrent-replicaset-syncs=20",
    ]);
    start("kube-scheduler", common(scheduler, "scheduler"));
    const podLogFile = join(dir, "logs", "pods.log");
    writeFileSync(podLogFile, "");
    writeFileSync(join(dir, "kwok.yaml"), kwokLogsConfig(podLogFile));
    const kwok = start("kwok", [
      `--kubeconfig=${kubeconfig}`,
      "--manage-all-nodes=false",
      "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
      `--cidr=${pods.cidr}`,
      `--node-ip=${NODE_IP}`,
      // The node's address and port (status.daemonEndpoints), where the apiserver asks for pods/log.
      `--server-address=${NODE_IP}:${kwokPort}`,
      `--node-port=${kwokPort}`,
      `--config=${join(dir, "kwok.yaml")}`,
    ]);

    const kubectl = (...args: string[]) => kubectlIn(binDir, kubeconfig, ...args);
    const nodes = options.nodes ?? 1;
    for (let i = 0; i < nodes; i++) kubectl("apply", "-f", "-").stdin(fakeNode(`kwok-node-${i}`));
    kubectl("apply", "-f", "-").stdin(JSON.stringify(STORAGE_CLASS));
    await waitFor("a Ready fake node", kwok, async () => {
      const out = kubectl(
        "get",
        "nodes",
        "-o",
        'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}',
      ).run();
      return out.split(" ").filter((s) => s === "True").length === nodes;
    });
    // Pods need the namespace's default ServiceAccount, which the controller-manager creates.
    await waitFor("the default ServiceAccount", kwok, async () => {
      kubectl("get", "serviceaccount", "default", "-n", "default").run();
      return true;
    });
    log(`Control plane ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s at ${server}`);
    if (options.realNode)
      realNode = await startRealNode({
        dir,
        binDir,
        kubeconfig,
        caCert: pki.caCert,
        images: options.realNode.images,
        ...(options.realNode.services ? { services: { apiserverPort: apiserver } } : {}),
        log,
      });
  } catch (error) {
    await stop();
    throw error;
  }
  log(`Pods get addresses from ${pods.cidr}`);

  writeFileSync(join(dir, "pids.json"), JSON.stringify(Object.fromEntries(running.map((r) => [r.name, r.child.pid]))));
  return {
    dir,
    kubeconfig,
    server,
    binDir,
    ports: [etcdClient, etcdPeer, apiserver, controllerManager, scheduler, kwokPort],
    podLogFile: join(dir, "logs", "pods.log"),
    pids: Object.fromEntries(running.map((r) => [r.name, r.child.pid])) as Record<Component, number>,
    ...(realNode ? { realNode } : {}),
    stop,
    async restart(component, downMs = 0) {
      const index = running.findIndex((r) => r.name === component && r.exitCode === undefined);
      const entry = running[index];
      if (!entry) throw new Error(`${component} is not running`);
      entry.child.kill("SIGTERM");
      await entry.exited;
      running.splice(index, 1);
      await sleep(downMs);
      const again = start(component, argsOf.get(component) as string[]);
      if (component === "kube-apiserver")
        await waitFor("kube-apiserver /readyz", again, () => apiReady(server, pki), 120_000);
    },
  };
}

/** Makes every pod address local (needs root, as CI has); without it pod IPs cannot be served. */
function routePodsLocally(log: (m: string) => void) {
  try {
    execFileSync("ip", ["route", "replace", "local", POD_RANGE, "dev", "lo", "table", "local"], { stdio: "pipe" });
  } catch (error) {
    log(`Could not route ${POD_RANGE} to loopback (${String(error).split("\n")[0]}); pod IPs will not be servable`);
  }
}

/** kubectl against one cluster: `.run()` returns stdout, `.stdin(text)` feeds it input. */
export function kubectlIn(binDir: string, kubeconfig: string, ...args: string[]) {
  const exec = (input?: string) =>
    execFileSync(join(binDir, "kubectl"), [`--kubeconfig=${kubeconfig}`, ...args], {
      encoding: "utf8",
      input,
      stdio: ["pipe", "pipe", "pipe"],
    });
  return { run: () => exec(), stdin: (text: string) => exec(text) };
}

/** Every process whose command line names the folder: what a leak would leave behind. */
export function processesUsing(dir: string): { pid: number; cmd: string }[] {
  const found: { pid: number; cmd: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmd.includes(dir)) found.push({ pid: Number(entry), cmd });
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

function apiReady(server: string, pki: Pki): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      `${server}/readyz`,
      { ca: readFileSync(pki.caCert), cert: readFileSync(pki.adminCert), key: readFileSync(pki.adminKey) },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on("error", () => resolve(false));
    req.end();
  });
}

function kubeconfigYaml(server: string, pki: Pki): string {
  const b64 = (file: string) => readFileSync(file).toString("base64");
  return `apiVersion: v1
kind: Config
clusters:
- name: atrium-local
  cluster:
    server: ${server}
    certificate-authority-data: ${b64(pki.caCert)}
users:
- name: atrium-admin
  user:
    client-certificate-data: ${b64(pki.adminCert)}
    client-key-data: ${b64(pki.adminKey)}
contexts:
- name: atrium-local
  context: { cluster: atrium-local, user: atrium-admin }
current-context: atrium-local
`;
}

const STORAGE_CLASS = {
  apiVersion: "storage.k8s.io/v1",
  kind: "StorageClass",
  metadata: { name: "standard", annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
  provisioner: "kubernetes.io/host-path",
  reclaimPolicy: "Delete",
  volumeBindingMode: "Immediate",
};

/** KWOK's ClusterLogs: every container of every pod logs what the file holds. */
const kwokLogsConfig = (file: string) =>
  JSON.stringify({
    apiVersion: "kwok.x-k8s.io/v1alpha1",
    kind: "ClusterLogs",
    metadata: { name: "all-pods" },
    spec: { logs: [{ logsFile: file, follow: true }] },
  });

/** A node KWOK manages (matched by the annotation); roomy enough for the 1,000-app benchmark. */
function fakeNode(name: string): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
      labels: { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", type: "kwok" },
    },
    status: {
      allocatable: { cpu: "1000", memory: "4Ti", pods: "3000" },
      capacity: { cpu: "1000", memory: "4Ti", pods: "3000" },
    },
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
