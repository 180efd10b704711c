// helm-install: from `helm install` of charts/atrium (Atrium's own image, imported into the
// real node; operator, gateway and API one replica each, all placed on the real node) to every
// Atrium pod Ready, timed by polling the pods. Side by side in the same run, alternating:
//   - the same chart with replicas 0 (the baseline: what Helm and the apiserver cost
//     for the release's objects, with no container to start), and
//   - `helm template | kubectl apply` of the same values, timed the same way to every pod Ready
//     (what Helm itself adds over applying the same manifests).
// Each install goes into a fresh namespace with a fresh SQLite volume and is uninstalled (and
// its namespace deleted) before the next, so every round starts the API on an empty database.
// The CRDs are installed once beforehand (crds.enabled=false), the same for every round.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  apiClaim,
  CHART,
  chartHelm,
  everyComponentReady,
  realNodeValues,
  releasePods,
} from "../../test/cluster/chart.ts";
import { kubectlIn, startControlPlane } from "../../test/cluster/controlplane.ts";
import { installCrds } from "../../test/cluster/install.ts";
import { type RealNode, realNodeUnsupported } from "../../test/cluster/real-node.ts";
import { writeResult } from "../results.ts";
import { median } from "../stats.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const RELEASE = "atrium";
const log = (m: string) => console.log(`[helm-install] ${m}`);
const METHOD =
  `${ROUNDS} rounds of each, alternating in one run on one control plane with a real node (containerd 1.6 + runc, kubelet and kube-proxy v1.34): ` +
  "`helm install` of charts/atrium (Atrium's image built offline and imported, operator + gateway + API one replica each on the real node, SQLite on a provided volume, CRDs installed beforehand) " +
  "timed from the start of `helm install` to every Atrium pod Ready (kubectl polled every 200 ms); baselines: the same chart with replicas 0 " +
  "(to `helm install` returning: the release's objects without containers) and `helm template | kubectl apply` of the same values to every pod Ready; " +
  "each install in a fresh namespace and volume, uninstalled before the next; medians. " +
  "The chart's readiness probes run every 5 s, which bounds how soon a started pod shows Ready.";
const GOALS = { install_ready_s: "<= 60" };

export async function run() {
  const unsupported = realNodeUnsupported();
  if (unsupported) {
    writeResult({ scenario: "helm-install", method: `Not run: ${unsupported}. ${METHOD}`, metrics: {}, goals: GOALS });
    return;
  }
  const helm = chartHelm();
  const cp = await startControlPlane({ log, realNode: { images: ["atrium"], services: true } });
  const node = cp.realNode as RealNode;
  try {
    installCrds(cp);
    const helmRun = (...args: string[]) =>
      execFileSync(helm, [...args, `--kubeconfig=${cp.kubeconfig}`], { encoding: "utf8", stdio: "pipe" });
    const kubectl = (...args: string[]) => kubectlIn(cp.binDir, cp.kubeconfig, ...args).run();
    const valuesFile = (replicas: number) => {
      const file = join(cp.dir, `values-${replicas}.json`);
      writeFileSync(file, JSON.stringify({ ...realNodeValues(replicas), crds: { enabled: false } }));
      return file;
    };
    const full = valuesFile(1);
    const empty = valuesFile(0);
    let round = 0;
    const prepare = () => {
      const namespace = `atrium-bench-${round++}`;
      kubectl("create", "namespace", namespace);
      node.provideVolume(namespace, apiClaim(RELEASE));
      return namespace;
    };
    const untilReady = async (namespace: string, replicas: number, started: number) => {
      const deadline = started + 300_000;
      while (!everyComponentReady(releasePods(cp, namespace, RELEASE), replicas)) {
        if (performance.now() > deadline) throw new Error(`${namespace}: not every Atrium pod Ready after 300 s`);
        await new Promise((r) => setTimeout(r, 200));
      }
      return (performance.now() - started) / 1000;
    };
    const cleanUp = (namespace: string) => {
      kubectl("delete", "namespace", namespace, "--wait=true", "--timeout=180s");
      kubectl("delete", "persistentvolume", `${namespace}-${apiClaim(RELEASE)}`, "--ignore-not-found");
    };
    const helmInstall = async (values: string, replicas: number) => {
      const namespace = prepare();
      const started = performance.now();
      helmRun("install", RELEASE, CHART, `--namespace=${namespace}`, `--values=${values}`);
      const seconds = await untilReady(namespace, replicas, started);
      helmRun("uninstall", RELEASE, `--namespace=${namespace}`, "--wait");
      cleanUp(namespace);
      return seconds;
    };
    const kubectlApply = async () => {
      const namespace = prepare();
      const started = performance.now();
      const manifests = helmRun(
        "template",
        RELEASE,
        CHART,
        `--namespace=${namespace}`,
        `--values=${full}`,
        "--skip-tests",
      );
      kubectlIn(cp.binDir, cp.kubeconfig, "apply", `--namespace=${namespace}`, "-f", "-").stdin(manifests);
      const seconds = await untilReady(namespace, 1, started);
      kubectlIn(cp.binDir, cp.kubeconfig, "delete", `--namespace=${namespace}`, "--wait=true", "-f", "-").stdin(
        manifests,
      );
      cleanUp(namespace);
      return seconds;
    };

    const install: number[] = [];
    const emptyInstall: number[] = [];
    const apply: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      install.push(await helmInstall(full, 1));
      emptyInstall.push(await helmInstall(empty, 0));
      apply.push(await kubectlApply());
      log(
        `round ${i + 1}: helm install ${install.at(-1)?.toFixed(1)} s, replicas 0 ${emptyInstall.at(-1)?.toFixed(1)} s, kubectl apply ${apply.at(-1)?.toFixed(1)} s`,
      );
    }
    const round1 = (x: number) => Math.round(x * 10) / 10;
    const installReady = median(install);
    writeResult({
      scenario: "helm-install",
      method: METHOD,
      metrics: {
        install_ready_s: round1(installReady),
        empty_install_s: round1(median(emptyInstall)),
        ratio_vs_empty_install: round1(installReady / median(emptyInstall)),
        kubectl_apply_ready_s: round1(median(apply)),
        ratio_vs_kubectl_apply: Math.round((installReady / median(apply)) * 100) / 100,
      },
      goals: GOALS,
    });
  } finally {
    await cp.stop();
  }
}
