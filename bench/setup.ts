// What the gateway scenarios share: a control plane, the operator, the gateway, an org and a
// tiny template, all torn down by close().
import { KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import { type ControlPlane, startControlPlane } from "../test/cluster/controlplane.ts";
import { echoTemplate } from "../test/cluster/fake-pods.ts";
import { startGateway } from "../test/cluster/gateway-process.ts";
import { installCrds } from "../test/cluster/install.ts";
import { startOperator } from "../test/cluster/operator-process.ts";
import { until } from "../test/cluster/until.ts";

const A = "atrium.dev/v1alpha1";

/**
 * Other routing modes (the dataplane-* scenarios): `beforeOperator` runs once the control plane
 * and the CRDs are up (e.g. starting a data plane whose CRDs the operator needs) and returns the
 * operator's and the gateway's extra settings; its `close` runs after theirs.
 */
export type StackMode = (cp: ControlPlane) => Promise<{
  operatorEnv?: Record<string, string>;
  gatewayEnv?: Record<string, string>;
  gatewayPort?: number;
  close?: () => Promise<void>;
}>;

export async function gatewayStack(
  log: (m: string) => void,
  gatewayEnv: Record<string, string> = {},
  beforeOperator?: StackMode,
) {
  const cp = await startControlPlane({ log });
  installCrds(cp);
  const mode = beforeOperator ? await beforeOperator(cp) : {};
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  const objects = KubernetesObjectApi.makeApiClient(kc);
  await objects.create(echoTemplate() as never);
  const operator = await startOperator({
    kubeconfig: cp.kubeconfig,
    id: "bench",
    leaseNamespace: "atrium-system",
    env: mode.operatorEnv,
  });
  const gateway = await startGateway({
    kubeconfig: cp.kubeconfig,
    port: mode.gatewayPort,
    env: { ...gatewayEnv, ...mode.gatewayEnv },
  });
  await objects.create({
    apiVersion: A,
    kind: "Organization",
    metadata: { name: "bench" },
    spec: { displayName: "Bench" },
  } as never);
  await until("the org namespace", () =>
    objects.read({ apiVersion: "v1", kind: "Namespace", metadata: { name: "org-bench" } }),
  );
  const read = async (name: string) =>
    (await objects.read({ apiVersion: A, kind: "AppInstance", metadata: { name, namespace: "org-bench" } })) as any;
  const install = (name: string, idle: Record<string, string>) =>
    objects.create({
      apiVersion: A,
      kind: "AppInstance",
      metadata: { name, namespace: "org-bench" },
      // Public: the benchmarks' gateway has no forward-auth, and refuses other apps (fail closed).
      spec: { template: "echo", access: { policy: "Public" }, idle },
    } as never);
  return {
    kc,
    kubeconfig: cp.kubeconfig,
    gateway,
    read,
    install,
    async close() {
      await gateway.kill();
      await operator.kill();
      await mode.close?.();
      await cp.stop();
    },
  };
}
