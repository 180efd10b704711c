// A private world for a test of Gateway API mode on the real data plane (issue 17): its own
// control plane with Atrium's CRDs, the data plane (dataplane.ts), the echo template, the
// operator and the activator (activator-mode.ts) and one org. What the tests of that mode start
// the same way, in one place; each test still says what it tunes (grace, the processes' env).
import { KubeConfig, type KubernetesObject, KubernetesObjectApi } from "@kubernetes/client-node";
import { type ActivatorMode, startActivatorMode } from "./activator-mode.ts";
import { type AppWaits, appWaits, createOrg } from "./app-waits.ts";
import { type ControlPlane, startControlPlane } from "./controlplane.ts";
import { type Dataplane, startDataplane } from "./dataplane.ts";
import { echoTemplate, type FakeApp } from "./fake-pods.ts";
import { installCrds } from "./install.ts";

export type DataplaneWorld = ActivatorMode & {
  cp: ControlPlane;
  kc: KubeConfig;
  objects: KubernetesObjectApi;
  dataplane: Dataplane;
  /** Reads of, and waits on, the org's apps. */
  waits: AppWaits;
  /** The fake pods of the apps the test installs: stop() stops them first. */
  fakes: FakeApp[];
  /** Stops everything: the fake pods, the activator, the operator, the data plane, the control plane. */
  stop(): Promise<void>;
};

export async function startDataplaneWorld(
  options: Omit<Parameters<typeof startActivatorMode>[0], "kubeconfig" | "dataplane" | "gatewayEnv"> & {
    org: string;
    /** The Organization's displayName (default: its name). */
    orgDisplayName?: string;
    /** The activator's env; a function where it names the data plane (its admin's URL, say). */
    gatewayEnv?: Record<string, string> | ((dataplane: Dataplane) => Record<string, string>);
  },
): Promise<DataplaneWorld> {
  const cp = await startControlPlane();
  const fakes: FakeApp[] = [];
  let dataplane: Dataplane | undefined;
  let mode: ActivatorMode | undefined;
  const stop = async () => {
    for (const f of fakes) await f.stop();
    await mode?.gateway.kill();
    await mode?.operator.kill();
    await dataplane?.stop();
    await cp.stop();
  };
  try {
    installCrds(cp);
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    const objects = KubernetesObjectApi.makeApiClient(kc);
    const waits = appWaits(kc, `org-${options.org}`);
    // Installs the Gateway API's CRDs too, which the operator needs at start in this mode.
    dataplane = await startDataplane({ kubeconfig: cp.kubeconfig, binDir: cp.binDir, dir: cp.dir });
    await objects.create(echoTemplate() as KubernetesObject);
    const { gatewayEnv } = options;
    mode = await startActivatorMode({
      ...options,
      kubeconfig: cp.kubeconfig,
      dataplane,
      gatewayEnv: typeof gatewayEnv === "function" ? gatewayEnv(dataplane) : gatewayEnv,
    });
    await createOrg(kc, options.org, options.orgDisplayName);
    return { ...mode, cp, kc, objects, dataplane, waits, fakes, stop };
  } catch (error) {
    // Nothing left running when the start fails (the test's afterAll has no world to stop).
    await stop().catch(() => undefined);
    throw error;
  }
}
