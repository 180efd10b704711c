// The real-node tier: Atrium's promises on real containers. A private control plane with a
// real node (containerd + kubelet, test/cluster/real-node.ts), the real operator and gateway
// as processes, and the demo app (images/demo-app) built offline and run by runc. Skipped,
// with the reason printed, where the machine cannot run containers (not root, no cgroups,
// packages missing).
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { AppsV1Api, CoreV1Api, KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, kubectlIn, processesUsing, startControlPlane } from "../cluster/controlplane.ts";
import { type GatewayProcess, startGateway } from "../cluster/gateway-process.ts";
import { installCatalog, installCrds } from "../cluster/install.ts";
import { type OperatorProcess, startOperator } from "../cluster/operator-process.ts";
import { ensureImage, placeOnRealNodeAnnotations, type RealNode, realNodeUnsupported } from "../cluster/real-node.ts";
import { type Obj, until } from "./kube.ts";

const unsupported = realNodeUnsupported();
if (unsupported) console.log(`[real-node] skipped: ${unsupported}`);

const A = "atrium.dev/v1alpha1";
const ORG = "real";
const NS = `org-${ORG}`;
const DEMO = "docker.io/atrium/demo-notes";
let cp: ControlPlane;
let node: RealNode;
let kc: KubeConfig;
let objects: KubernetesObjectApi;
let apps: AppsV1Api;
let core: CoreV1Api;
let operator: OperatorProcess;
let gateway: GatewayProcess;

const read = async (name: string) =>
  (await objects.read({ apiVersion: A, kind: "AppInstance", metadata: { name, namespace: NS } })) as any;
const get = (name: string, path = "/", init: RequestInit = {}) =>
  fetch(`${gateway.url}/apps/${ORG}/${name}${path}`, init);
const readyCondition = async (name: string) =>
  ((await read(name)).status?.conditions ?? []).find((c: { type: string }) => c.type === "Ready");
const pods = async (name: string) =>
  (await core.listNamespacedPod({ namespace: NS, labelSelector: `app.kubernetes.io/instance=${name}` })).items.filter(
    (p) => !p.metadata?.deletionTimestamp,
  );
/** Until the app shows this phase and Ready reason (what a user sees in the console and kubectl). */
const shows = (name: string, phase: string, reason: string, timeoutMs = 90_000) =>
  until(
    `${name} ${phase}/${reason}`,
    async () => {
      const app = await read(name);
      const ready = (app.status?.conditions ?? []).find((c: { type: string }) => c.type === "Ready");
      return app.status?.phase === phase && ready?.reason === reason ? app : undefined;
    },
    timeoutMs,
    250,
  );

async function install(name: string, spec: Record<string, unknown>) {
  await objects.create({
    apiVersion: A,
    kind: "AppInstance",
    metadata: { name, namespace: NS },
    // Public: this gateway has no forward-auth and refuses other apps (fail closed).
    spec: { access: { policy: "Public" }, ...spec },
  } as Obj);
}

/** The demo template without a volume, offering a good, a crashing and an absent version. */
const testTemplate = (name: string) => ({
  apiVersion: A,
  kind: "AppTemplate",
  metadata: { name },
  spec: {
    displayName: "Notes (test)",
    category: "Productivity",
    image: "atrium/demo-notes",
    versions: ["0.1.0", "0.0.9-crash", "0.0.8-absent"],
    defaultVersion: "0.1.0",
    ports: [{ name: "http", containerPort: 8080 }],
    healthCheck: { path: "/healthz", initialDelaySeconds: 1, periodSeconds: 1 },
    resources: { cpu: "10m", memory: "64Mi" },
    runAsUser: 10001,
  },
});

describe.skipIf(!!unsupported)("apps on a real node", () => {
  beforeAll(async () => {
    cp = await startControlPlane({ realNode: { images: ["demo-notes", "crash"] } });
    node = cp.realNode as RealNode;
    // A release of the app that exits at once: the crash image under a version of the demo.
    node.tagImage("docker.io/atrium/test-crash:1", `${DEMO}:0.0.9-crash`);
    installCrds(cp);
    installCatalog(cp);
    kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    objects = KubernetesObjectApi.makeApiClient(kc);
    apps = kc.makeApiClient(AppsV1Api);
    core = kc.makeApiClient(CoreV1Api);
    await objects.create(testTemplate("notes-test") as Obj);
    operator = await startOperator({ kubeconfig: cp.kubeconfig, id: "real", leaseNamespace: "atrium-system" });
    gateway = await startGateway({
      kubeconfig: cp.kubeconfig,
      env: { ATRIUM_GATEWAY_FLUSH_INTERVAL_MS: "500", ATRIUM_GATEWAY_WAKE_TIMEOUT_MS: "30000" },
    });
    await objects.create({
      apiVersion: A,
      kind: "Organization",
      metadata: { name: ORG },
      spec: { displayName: "Real" },
    } as Obj);
    await until("the org namespace", () => core.readNamespace({ name: NS }));
    // Every pod of this org goes to the real node (KWOK stays the default elsewhere).
    kubectlIn(
      cp.binDir,
      cp.kubeconfig,
      "annotate",
      "--overwrite",
      `namespace/${NS}`,
      ...Object.entries(placeOnRealNodeAnnotations()).map(([k, v]) => `${k}=${v}`),
    ).run();
  });

  afterAll(async () => {
    await gateway?.kill();
    await operator?.kill();
    await cp?.stop();
  });

  it("runs the demo app in a real container, stops it when idle with its volume, and wakes it with the data", async () => {
    const volume = node.provideVolume(NS, "notes-data");
    await install("notes", { template: "demo-notes", idle: { policy: "Auto", timeout: "5s" } });
    await shows("notes", "Running", "Running");
    const [pod] = await pods("notes");
    expect(pod?.spec?.nodeName).toBe(node.name);
    expect(pod?.status?.podIP).toMatch(/^198\.19\./);
    // The page comes from the container, through the gateway.
    const page = await get("notes");
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<h1>Demo Notes</h1>");
    // pods/log through the apiserver reaches the real kubelet.
    const log = kubectlIn(cp.binDir, cp.kubeconfig, "logs", "-n", NS, pod?.metadata?.name as string).run();
    expect(log).toContain('"msg":"listening"');

    const note = `written before the stop ${Date.now()}`;
    const posted = await get("notes", "/", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ note }).toString(),
      redirect: "manual",
    });
    expect(posted.status).toBe(303);
    expect(readFileSync(join(volume, "notes.jsonl"), "utf8")).toContain(note);

    await shows("notes", "Stopped", "Stopped", 60_000);
    await until("the container gone", async () => ((await pods("notes")).length === 0 ? true : undefined), 30_000);
    const claim = await core.readNamespacedPersistentVolumeClaim({ name: "notes-data", namespace: NS });
    expect(claim.status?.phase).toBe("Bound");

    const woken = await get("notes", "/notes");
    expect(woken.status).toBe(200);
    expect(((await woken.json()) as { text: string }[]).map((n) => n.text)).toContain(note);
    const [again] = await pods("notes");
    expect(again?.metadata?.uid).not.toBe(pod?.metadata?.uid); // a new container, the same data
  });

  it("shows an image that cannot be pulled as ImagePullFailed, and recovers with a version that exists", async () => {
    await install("absent", { template: "notes-test", version: "0.0.8-absent", idle: { policy: "AlwaysOn" } });
    const failed = await shows("absent", "Failed", "ImagePullFailed");
    expect(failed.status.health).toBe("Unhealthy");
    await objects.patch(
      { apiVersion: A, kind: "AppInstance", metadata: { name: "absent", namespace: NS }, spec: { version: "0.1.0" } },
      undefined,
      undefined,
      undefined,
      undefined,
      "application/merge-patch+json" as never,
    );
    await shows("absent", "Running", "Running");
    expect((await get("absent", "/healthz")).status).toBe(200);
  });

  it("shows an image that exits as CrashLoop, and recovers with a version that runs", async () => {
    await install("crashy", { template: "notes-test", version: "0.0.9-crash", idle: { policy: "AlwaysOn" } });
    const failed = await shows("crashy", "Failed", "CrashLoop");
    expect((await readyCondition("crashy")).message).toContain("CrashLoopBackOff");
    await objects.patch(
      { apiVersion: A, kind: "AppInstance", metadata: { name: "crashy", namespace: NS }, spec: { version: "0.1.0" } },
      undefined,
      undefined,
      undefined,
      undefined,
      "application/merge-patch+json" as never,
    );
    expect(failed.status.phase).toBe("Failed");
    await shows("crashy", "Running", "Running");
  });

  it("shows a failing readiness probe as ReplicasNotReady, and recovers when the probe passes again", async () => {
    const volume = node.provideVolume(NS, "probed-data");
    await install("probed", { template: "demo-notes", idle: { policy: "AlwaysOn" } });
    await shows("probed", "Running", "Running");
    // The app's readiness says whether it can write its volume: take that away.
    chmodSync(volume, 0o555);
    try {
      const unready = await shows("probed", "Running", "ReplicasNotReady", 30_000);
      expect(unready.status.health).toBe("Unhealthy");
      const [pod] = await pods("probed");
      expect(pod?.status?.containerStatuses?.[0]?.ready).toBe(false);
      expect(pod?.status?.containerStatuses?.[0]?.restartCount).toBe(0); // the probe, not a crash
    } finally {
      chmodSync(volume, 0o777);
    }
    await shows("probed", "Running", "Running", 30_000);
  });

  it("wakes a stopped app once for 30 concurrent requests, and answers all of them", async () => {
    node.provideVolume(NS, "burst-data");
    await install("burst", { template: "demo-notes", idle: { policy: "Auto", timeout: "3s" } });
    // Not waited for Running: on a loaded machine the container can take longer to start than
    // the 3 s idle timeout, and the app is stopped before it ever shows Running.
    await shows("burst", "Stopped", "Stopped", 120_000);
    await until("the container gone", async () => ((await pods("burst")).length === 0 ? true : undefined), 30_000);
    const wakesBefore = await gateway.metric("atrium_gateway_wakes_total");
    const operatorWakesBefore = await operator.metric("atrium_operator_app_wakes_total");
    const results = await Promise.all(Array.from({ length: 30 }, () => get("burst", "/notes")));
    expect(results.map((r) => r.status)).toEqual(Array(30).fill(200));
    for (const r of results) expect(await r.json()).toEqual([]);
    expect((await gateway.metric("atrium_gateway_wakes_total")) - wakesBefore).toBe(1);
    expect((await operator.metric("atrium_operator_app_wakes_total")) - operatorWakesBefore).toBe(1);
    const sets = await apps.listNamespacedReplicaSet({
      namespace: NS,
      labelSelector: "app.kubernetes.io/instance=burst",
    });
    expect(sets.items).toHaveLength(1); // a scale-up, not a new rollout
  });
});

// The node's cleanup, when the process holding the cluster dies without a chance to clean up.
const run = promisify(execFile);
const FIXTURE = fileURLToPath(new URL("../cluster/fixtures/real-node-and-die.ts", import.meta.url));
const { ATRIUM_KUBECONFIG: _reuse, ...env } = process.env;

describe.skipIf(!!unsupported)("a real node leaves nothing behind", () => {
  it.each(["throw", "sigkill"])("after the harness process dies (%s)", async (how) => {
    const kernelBefore = kernelTunables();
    const result = await run(process.execPath, [FIXTURE, how], { env }).then(
      () => {
        throw new Error("expected the child process to fail");
      },
      (error: { code?: number; signal?: string; stdout: string }) => error,
    );
    if (how === "sigkill") expect(result.signal).toBe("SIGKILL");
    const seen = JSON.parse(result.stdout) as {
      dir: string;
      bridge: string;
      podCidr: string;
      veths: string[];
      containers: string[];
    };
    expect(seen.containers.length).toBeGreaterThan(0);
    expect(seen.veths.length).toBeGreaterThan(0);
    const leftovers = () => ({
      processes: processesUsing(seen.dir).map((p) => p.cmd),
      containers: containerProcesses(seen.containers),
      mounts: readFileSync("/proc/self/mountinfo", "utf8")
        .split("\n")
        .filter((l) => l.includes(seen.dir)),
      links: [seen.bridge, ...seen.veths].filter((l) => existsSync(`/sys/class/net/${l}`)),
      routes: ipRoutes().filter((r) => r.includes(seen.podCidr.replace(/\.0\/24$/, "."))),
      cgroups: seen.containers.filter((id) => existsSync(`/sys/fs/cgroup/memory/k8s.io/${id}`)),
      kernel: kernelTunables(),
    });
    const clean = {
      processes: [],
      containers: [],
      mounts: [],
      links: [],
      routes: [],
      cgroups: [],
      kernel: kernelBefore,
    };
    await until("the node cleaned up", async () => JSON.stringify(leftovers()) === JSON.stringify(clean), 30_000).catch(
      () => undefined,
    );
    expect(leftovers()).toEqual(clean);
    // What a dead harness cannot tidy itself: the cluster folder (etcd's data, logs).
    rmSync(seen.dir, { recursive: true, force: true });
  });
});

// Atrium's own image holds what each of its programs loads: each starts as the image's user
// and gets as far as its own configuration (here: none given), never to a missing module.
describe.skipIf(!!unsupported)("Atrium's image", () => {
  it.each([
    ["operator", {}, /"component":"atrium-operator"[\s\S]*open '\/nonexistent'/],
    ["gateway", {}, /"component":"atrium-gateway"[\s\S]*open '\/nonexistent'/],
    ["api", { ATRIUM_ENV: "production" }, /"component":"atrium-api".*ATRIUM_KEY_PEPPERS is required/],
  ] as const)("starts %s", (program, extraEnv, expected) => {
    const dir = mkdtempSync(join(tmpdir(), "atrium-image-"));
    try {
      const layout = join(dir, "oci");
      mkdirSync(layout);
      execFileSync("tar", ["-xf", ensureImage("atrium"), "-C", layout]);
      execFileSync("umoci", ["unpack", "--image", `${layout}:0.1.0`, join(dir, "bundle")], { stdio: "ignore" });
      const config = JSON.parse(readFileSync(join(dir, "bundle", "config.json"), "utf8"));
      expect(config.process.user).toMatchObject({ uid: 65532, gid: 65532 });
      const { user, args } = config.process as { user: { uid: number; gid: number }; args: string[] };
      const result = spawnSync(
        "chroot",
        [`--userspec=${user.uid}:${user.gid}`, join(dir, "bundle", "rootfs"), ...args, program],
        {
          encoding: "utf8",
          timeout: 30_000,
          env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", KUBECONFIG: "/nonexistent", ...extraEnv },
        },
      );
      const output = `${result.stdout}${result.stderr}`;
      expect(output).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (module|package)/);
      expect(output).toMatch(expected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The kernel settings a kubelet changes when it starts (and the node puts back). */
function kernelTunables(): Record<string, string> {
  const names = ["vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops"];
  return Object.fromEntries(names.map((n) => [n, readFileSync(`/proc/sys/${n}`, "utf8").trim()]));
}

/** Processes still running in one of these containers' cgroups. */
function containerProcesses(ids: string[]): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cgroup = readFileSync(`/proc/${pid}/cgroup`, "utf8");
      if (ids.some((id) => cgroup.includes(id))) found.push(pid);
    } catch {
      // gone while we looked
    }
  }
  return found;
}

function ipRoutes(): string[] {
  return execFileSync("ip", ["-o", "route", "show", "table", "all"], { encoding: "utf8" }).split("\n");
}
