// A real Kubernetes node beside the KWOK ones: containerd, runc and the CNI plugins from
// Debian's packages, a kubelet built from the same pinned modules as the control plane, and
// images built offline (images/build.sh) imported into the node's own containerd. Everything
// (config, socket, state, logs) lives in the cluster's folder; real-node.sh runs the node and
// takes it all down again when the harness goes, however it goes.
//
// KWOK stays where every pod goes by default: the real node carries the label `type=real` and
// the taint `atrium.dev/real-node:NoSchedule`. A test puts a namespace's pods on it with
// placeOnRealNode() (the PodNodeSelector and PodTolerationRestriction admission plugins, which
// the control plane enables only with a real node, add the selector and toleration to every
// pod of the namespace; the operator's Deployments need no change).
//
// Services, on request (`services`): kube-proxy in nftables mode gives the node's pods (and the
// machine) ClusterIP Services, and the harness points the `kubernetes` Service at the apiserver
// through the node's IP (the control plane then listens on all addresses), so pods reach the
// apiserver with their ServiceAccount token as in any cluster. kube-proxy's tables are the
// machine's, so one node at a time runs it (real-node.sh holds a lock; ADR 0020). Without
// `services` pods reach neither Services nor the apiserver; the gateway and the tests reach
// pods at their own addresses, which is all Atrium's own traffic needs.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { logTail } from "./log-tail.ts";
import { freePorts } from "./ports.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const IMAGES = fileURLToPath(new URL("../../images/", import.meta.url));

/** Real pods' addresses: the other half of RFC 2544's 198.18.0.0/15 (KWOK's pods have 198.18.0.0/16). */
export const REAL_POD_RANGE = "198.19.0.0/16";
/** The harness routed all of 198.18.0.0/15 to loopback before; that route would shadow real pods. */
const LEGACY_LOOPBACK_RANGE = "198.18.0.0/15";
const SLOT_LOCK_BASE_PORT = 41100; // + slot: held while a node uses 198.19.<slot>.0/24
export const REAL_NODE_LABEL = { key: "type", value: "real" };
export const REAL_NODE_TAINT = "atrium.dev/real-node";
/** The sandbox image containerd is configured with; built locally (images/pause). */
const SANDBOX_IMAGE = "registry.k8s.io/pause:3.10";

/** Images the harness can build and import: archive name in images/build.sh → name in the CRI. */
export const IMAGES_BY_NAME = {
  pause: { base: "registry.k8s.io/pause", ref: SANDBOX_IMAGE },
  "demo-notes": { base: "docker.io/atrium/demo-notes", ref: "docker.io/atrium/demo-notes:0.1.0" },
  crash: { base: "docker.io/atrium/test-crash", ref: "docker.io/atrium/test-crash:1" },
  atrium: { base: "docker.io/atrium/atrium", ref: "docker.io/atrium/atrium:0.1.0" },
} as const;
export type ImageName = keyof typeof IMAGES_BY_NAME;

/** Why this machine cannot run a real node, or undefined when it can. */
export function realNodeUnsupported(): string | undefined {
  if (process.env.ATRIUM_REAL_NODE === "0") return "ATRIUM_REAL_NODE=0";
  if (process.platform !== "linux") return `containers need Linux, not ${process.platform}`;
  if (process.getuid?.() !== 0)
    return "containers need root (the kubelet, containerd and CNI manage cgroups, mounts and links)";
  if (!existsSync("/sys/fs/cgroup/memory") && !existsSync("/sys/fs/cgroup/cgroup.controllers"))
    return "no cgroup filesystem at /sys/fs/cgroup";
  const missing = ["containerd", "ctr", "runc", "ip", "umoci", "mmdebstrap", "nft", "flock"].filter((c) => !onPath(c));
  if (!existsSync("/usr/lib/cni/bridge")) missing.push("/usr/lib/cni/bridge");
  if (missing.length)
    return `missing ${missing.join(", ")} (apt-get install containerd runc containernetworking-plugins umoci mmdebstrap busybox-static nftables)`;
  return undefined;
}

const onPath = (command: string) => {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "pipe" });
    return true;
  } catch {
    return false;
  }
};

/** Builds (first time only) an image's OCI archive and returns its path. */
export function ensureImage(name: ImageName): string {
  const out = execFileSync("bash", [join(IMAGES, "build.sh"), name], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  return out.trim().split("\n").at(-1) as string;
}

/** Claims a /24 of 198.19.0.0/16 by holding a port on loopback; the claim ends with the socket. */
async function claimSlot(): Promise<{ slot: number; lock: Server }> {
  const first = Math.floor(Math.random() * 250);
  for (let i = 0; i < 250; i++) {
    const slot = (first + i) % 250;
    const lock = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      lock.once("error", () => resolve(false));
      lock.listen(SLOT_LOCK_BASE_PORT + slot, "127.0.0.1", () => resolve(true));
    });
    if (ok) return { slot, lock };
  }
  throw new Error(`no free pod range in ${REAL_POD_RANGE}`);
}

export type RealNode = {
  name: string;
  /** The node's InternalIP: the pod bridge's address, which the apiserver dials for logs and exec. */
  ip: string;
  podCidr: string;
  bridge: string;
  /** Where containerd's and the kubelet's state and config live. */
  dir: string;
  pid: number;
  /** Imports one of the harness's images into the node (already done for those started with). */
  importImage(name: ImageName): void;
  /** Gives an image present on the node another name (`docker.io/...` as the CRI sees it). */
  tagImage(source: string, target: string): void;
  /**
   * A volume for the claim `namespace/claim` before anyone asks for it: a PersistentVolume
   * bound ahead to the claim, on a folder any user may write to under the node's state.
   * (The controller-manager's hostPath provisioner makes root-owned 0750 folders, which an
   * app running as a non-root user cannot write.) Returns the folder.
   */
  provideVolume(namespace: string, claim: string, size?: string): string;
  /** Stops the node and removes what it left (containers, mounts, links); waits until done. */
  stop(): Promise<void>;
};

export type RealNodeOptions = {
  /** The cluster's folder: the node's state goes to <dir>/real-node, its logs to <dir>/logs. */
  dir: string;
  binDir: string;
  kubeconfig: string;
  caCert: string;
  images?: ImageName[];
  /**
   * Run kube-proxy and point the `kubernetes` Service at the apiserver (which must listen on
   * all addresses, so on the node's IP): pods reach Services and the apiserver.
   */
  services?: { apiserverPort: number };
  log?: (message: string) => void;
};

/** The node runs pods with the kubelet settings that work on cgroup v1 without systemd. */
export async function startRealNode(options: RealNodeOptions): Promise<RealNode> {
  const log = options.log ?? (() => {});
  const why = realNodeUnsupported();
  if (why) throw new Error(`cannot run a real node here: ${why}`);
  const binDir = ensureNodeBinaries(log);
  // Real pods live in 198.19.0.0/16: a loopback route over it (older harness runs) must go.
  try {
    execFileSync("ip", ["route", "del", "local", LEGACY_LOOPBACK_RANGE, "dev", "lo", "table", "local"], {
      stdio: "ignore",
    });
  } catch {
    // Not there: the usual case.
  }
  const { slot, lock } = await claimSlot();
  const name = `real-node-${slot}`;
  const podCidr = `198.19.${slot}.0/24`;
  const ip = `198.19.${slot}.1`;
  const bridge = `atrium${slot}`;
  const state = join(options.dir, "real-node");
  mkdirSync(join(state, "cni"), { recursive: true });
  const [kubeletPort, healthzPort, proxyHealthzPort, proxyMetricsPort] = (await freePorts(4)) as [
    number,
    number,
    number,
    number,
  ];
  writeFileSync(join(state, "containerd.toml"), containerdConfig(state));
  writeFileSync(join(state, "cni", "10-atrium.conflist"), cniConfig(`atrium-${slot}`, bridge, podCidr, ip, state));
  writeFileSync(
    join(state, "kubelet.yaml"),
    kubeletConfig({ state, caCert: options.caCert, address: ip, port: kubeletPort, healthzPort }),
  );
  writeFileSync(
    join(state, "kubelet.flags"),
    [
      `--config=${join(state, "kubelet.yaml")}`,
      `--kubeconfig=${options.kubeconfig}`,
      `--hostname-override=${name}`,
      `--node-ip=${ip}`,
      `--node-labels=${REAL_NODE_LABEL.key}=${REAL_NODE_LABEL.value}`,
      `--root-dir=${join(state, "kubelet")}`,
      `--cert-dir=${join(state, "pki")}`,
      "--v=1",
    ].join("\n"),
  );
  if (options.services) {
    writeFileSync(
      join(state, "kube-proxy.yaml"),
      kubeProxyConfig({
        kubeconfig: options.kubeconfig,
        name,
        ip,
        podCidr,
        healthz: proxyHealthzPort,
        metrics: proxyMetricsPort,
      }),
    );
  }

  const child: ChildProcess = spawn(
    "bash",
    [join(HERE, "real-node.sh"), state, bridge, podCidr, ip, binDir],
    // stdin is a pipe we never write to: when this process ends, real-node.sh sees EOF and cleans up.
    { stdio: ["pipe", "ignore", "ignore"] },
  );
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once("exit", (code) => {
      exitCode = code;
      resolve();
    }),
  );
  const stop = async () => {
    if (exitCode === undefined) child.kill("SIGTERM");
    await exited;
    lock.close();
  };
  const logs = join(options.dir, "logs");
  const fail = (what: string, file: string) =>
    new Error(`${what}:\n${logTail(join(logs, file))}\n(real-node.log:)\n${logTail(join(logs, "real-node.log"))}`);
  const ctr = (...args: string[]) =>
    execFileSync("ctr", ["--address", join(state, "containerd.sock"), "-n", "k8s.io", ...args], { stdio: "pipe" });
  const importImage = (image: ImageName) => {
    const { base, ref } = IMAGES_BY_NAME[image];
    ctr("images", "import", "--base-name", base, ensureImage(image));
    ctr("images", "ls", "-q", `name==${ref}`).toString().trim() ||
      (() => {
        throw new Error(`importing ${image} did not give ${ref}`);
      })();
  };

  try {
    const startedAt = Date.now();
    await waitUntil(
      () => existsSync(join(state, "containerd.sock")),
      15_000,
      () => exitCode !== undefined,
    );
    if (exitCode !== undefined || !existsSync(join(state, "containerd.sock")))
      throw fail("containerd did not start", "containerd.log");
    for (const image of new Set<ImageName>(["pause", ...(options.images ?? ["demo-notes"])])) importImage(image);
    writeFileSync(join(state, "start-kubelet"), "");
    const kubectl = (...args: (string | { input: string })[]) =>
      execFileSync(
        join(options.binDir, "kubectl"),
        [`--kubeconfig=${options.kubeconfig}`, ...args.filter((a) => typeof a === "string")],
        {
          encoding: "utf8",
          input: args.find((a) => typeof a !== "string")?.input,
          stdio: ["pipe", "pipe", "pipe"],
        },
      );
    const ready = () => {
      try {
        return (
          kubectl("get", "node", name, "-o", 'jsonpath={.status.conditions[?(@.type=="Ready")].status}') === "True"
        );
      } catch {
        return false;
      }
    };
    await waitUntil(ready, 60_000, () => exitCode !== undefined);
    if (!ready()) throw fail(`${name} did not turn Ready`, "kubelet.log");
    // Registered by the kubelet itself; the taint keeps every pod that does not ask for it away.
    kubectl("taint", "node", name, `${REAL_NODE_TAINT}=true:NoSchedule`, "--overwrite");
    if (options.services) {
      kubectl("apply", "-f", "-", { input: JSON.stringify(kubernetesEndpoints(ip, options.services.apiserverPort)) });
      const proxyReady = () => httpOk(`http://127.0.0.1:${proxyHealthzPort}/healthz`);
      // Another node on the machine may hold kube-proxy's lock for a while (real-node.log says so).
      await waitUntilAsync(proxyReady, 300_000, () => exitCode !== undefined);
      if (!(await proxyReady())) throw fail("kube-proxy did not turn healthy", "kube-proxy.log");
    }
    log(`Real node ${name} Ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s (pods ${podCidr})`);
  } catch (error) {
    await stop();
    throw error;
  }
  const provideVolume = (namespace: string, claim: string, size = "1Gi") => {
    const path = join(state, "volumes", `${namespace}-${claim}`);
    mkdirSync(path, { recursive: true });
    chmodSync(path, 0o777);
    const pv = {
      apiVersion: "v1",
      kind: "PersistentVolume",
      metadata: { name: `${namespace}-${claim}`, labels: { "atrium.dev/real-node": name } },
      spec: {
        capacity: { storage: size },
        accessModes: ["ReadWriteOnce"],
        persistentVolumeReclaimPolicy: "Retain",
        storageClassName: "standard",
        claimRef: { namespace, name: claim },
        hostPath: { path, type: "Directory" },
        nodeAffinity: {
          required: {
            nodeSelectorTerms: [
              { matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [name] }] },
            ],
          },
        },
      },
    };
    execFileSync(join(options.binDir, "kubectl"), [`--kubeconfig=${options.kubeconfig}`, "apply", "-f", "-"], {
      input: JSON.stringify(pv),
      stdio: ["pipe", "pipe", "pipe"],
    });
    return path;
  };
  const tagImage = (source: string, target: string) => void ctr("images", "tag", "--force", source, target);
  return {
    name,
    ip,
    podCidr,
    bridge,
    dir: state,
    pid: child.pid as number,
    importImage,
    tagImage,
    provideVolume,
    stop,
  };
}

/**
 * Sends every pod of a namespace to the real node: the namespace's node selector and default
 * toleration, which the admission plugins add to each pod created there from now on.
 */
export function placeOnRealNodeAnnotations(): Record<string, string> {
  return {
    "scheduler.alpha.kubernetes.io/node-selector": `${REAL_NODE_LABEL.key}=${REAL_NODE_LABEL.value}`,
    "scheduler.alpha.kubernetes.io/defaultTolerations": JSON.stringify([
      { key: REAL_NODE_TAINT, operator: "Exists", effect: "NoSchedule" },
    ]),
  };
}

/**
 * What the apiserver needs to reach a real kubelet (logs, exec) and to place pods on it. (It
 * dials nodes at their InternalIP, here the node IP on the pod bridge, for KWOK's sake too.)
 */
export function apiserverRealNodeFlags(pki: { adminCert: string; adminKey: string }): string[] {
  return [
    `--kubelet-client-certificate=${pki.adminCert}`,
    `--kubelet-client-key=${pki.adminKey}`,
    "--enable-admission-plugins=PodNodeSelector,PodTolerationRestriction",
  ];
}

function ensureNodeBinaries(log: (m: string) => void): string {
  if (process.env.ATRIUM_BIN_DIR) return process.env.ATRIUM_BIN_DIR;
  log("Ensuring kubelet and kube-proxy (a first build takes a minute)");
  const out = execFileSync("bash", [join(HERE, "build-binaries.sh"), "node"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  return out.trim().split("\n").at(-1) as string;
}

function containerdConfig(state: string): string {
  const s = (p: string) => JSON.stringify(join(state, p));
  return `version = 2
root = ${s("containerd/root")}
state = ${s("containerd/state")}
[grpc]
  address = ${s("containerd.sock")}
[plugins."io.containerd.internal.v1.opt"]
  path = ${s("containerd/opt")}
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${SANDBOX_IMAGE}"
  # Without it every sandbox fails: "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  # Network namespaces under our state, not /var/run/netns, so cleanup finds them.
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = ${s("cni")}
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      # runc's state under ours (not /run/containerd/runc), so cleanup can list and kill it.
      Root = ${s("runc")}
      SystemdCgroup = false
`;
}

/** A bridge with host-local addresses; no ipMasq and no portmap, so no iptables rules. */
function cniConfig(network: string, bridge: string, cidr: string, gateway: string, state: string): string {
  return JSON.stringify({
    cniVersion: "1.0.0",
    name: network,
    plugins: [
      {
        type: "bridge",
        bridge,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: "host-local",
          ranges: [[{ subnet: cidr, gateway }]],
          routes: [{ dst: "0.0.0.0/0" }],
          dataDir: join(state, "cni-ipam"),
        },
      },
    ],
  });
}

function kubeletConfig(o: { state: string; caCert: string; address: string; port: number; healthzPort: number }) {
  return JSON.stringify({
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    containerRuntimeEndpoint: `unix://${join(o.state, "containerd.sock")}`,
    // This machine: cgroup v1, no systemd managing cgroups, and nothing to reserve or enforce.
    failCgroupV1: false,
    cgroupDriver: "cgroupfs",
    cgroupsPerQOS: false,
    enforceNodeAllocatable: [],
    failSwapOn: false,
    address: o.address,
    port: o.port,
    healthzBindAddress: "127.0.0.1",
    healthzPort: o.healthzPort,
    readOnlyPort: 0,
    // The apiserver's client certificate (logs, exec) is checked against the cluster's CA, and
    // what it may do is asked of the apiserver.
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: o.caCert } },
    authorization: { mode: "Webhook" },
    // Everything the kubelet writes stays in the cluster's folder.
    podLogsDir: join(o.state, "pod-logs"),
    volumePluginDir: join(o.state, "volume-plugins"),
    // A test machine's disk and memory are shared: never evict or garbage-collect images.
    localStorageCapacityIsolation: false,
    evictionHard: { "memory.available": "0%", "nodefs.available": "0%", "imagefs.available": "0%" },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    // Pods appear and change status quickly (status updates to the apiserver are batched).
    nodeStatusReportFrequency: "10s",
    serializeImagePulls: false,
    // No KUBE-FIREWALL / canary chains in the machine's iptables (kube-proxy's business, and
    // global state that would outlive the node).
    makeIPTablesUtilChains: false,
    resolvConf: "/etc/resolv.conf",
  });
}

/**
 * kube-proxy in nftables mode (its own `kube-proxy` tables, which real-node.sh deletes; the
 * iptables mode would add chains to the machine's shared iptables tables). Every setting that
 * would change the machine's kernel tunables is off (conntrack limits and timeouts), NodePorts
 * answer on the node's IP only, and all Service traffic is masqueraded, so a pod reaching a pod
 * on the same bridge through a Service gets its answer back through the host even where bridged
 * traffic skips netfilter (br_netfilter off).
 */
function kubeProxyConfig(o: {
  kubeconfig: string;
  name: string;
  ip: string;
  podCidr: string;
  healthz: number;
  metrics: number;
}): string {
  return JSON.stringify({
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
    clientConnection: { kubeconfig: o.kubeconfig },
    hostnameOverride: o.name,
    mode: "nftables",
    clusterCIDR: o.podCidr,
    detectLocalMode: "ClusterCIDR",
    healthzBindAddress: `127.0.0.1:${o.healthz}`,
    metricsBindAddress: `127.0.0.1:${o.metrics}`,
    nodePortAddresses: [`${o.ip}/32`],
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
    nftables: { masqueradeAll: true, syncPeriod: "30s", minSyncPeriod: "0s" },
  });
}

/**
 * The `kubernetes` Service's endpoint: the apiserver at the node's IP (the control plane runs
 * with `--endpoint-reconciler-type=none`, since its advertised loopback address cannot be an
 * endpoint; nothing else writes this slice).
 */
function kubernetesEndpoints(ip: string, port: number) {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: "kubernetes",
      namespace: "default",
      labels: {
        "kubernetes.io/service-name": "kubernetes",
        "endpointslice.kubernetes.io/managed-by": "atrium-test-harness",
      },
    },
    addressType: "IPv4",
    endpoints: [{ addresses: [ip], conditions: { ready: true } }],
    ports: [{ name: "https", port, protocol: "TCP" }],
  };
}

const httpOk = (url: string) =>
  fetch(url, { signal: AbortSignal.timeout(2_000) }).then(
    (r) => r.ok,
    () => false,
  );

async function waitUntilAsync(check: () => Promise<boolean>, timeoutMs: number, dead: () => boolean) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !dead() && !(await check())) await new Promise((r) => setTimeout(r, 250));
}

async function waitUntil(check: () => boolean, timeoutMs: number, dead: () => boolean) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !dead() && !check()) await new Promise((r) => setTimeout(r, 100));
}
