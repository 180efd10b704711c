// Starts one real control plane for the integration tests and installs the CRDs. Set
// ATRIUM_KUBECONFIG (and ATRIUM_BIN_DIR) to reuse a cluster from `make cluster-up` instead.
import type { TestProject } from "vitest/node";
import { ensureBinaries, startControlPlane } from "./cluster/controlplane.ts";
import { installCrds } from "./cluster/install.ts";

export type ClusterInfo = { kubeconfig: string; binDir: string };

declare module "vitest" {
  export interface ProvidedContext {
    cluster: ClusterInfo;
  }
}

export default async function setup(project: TestProject) {
  const log = (m: string) => console.log(`[cluster] ${m}`);
  if (process.env.ATRIUM_KUBECONFIG) {
    const cluster = { kubeconfig: process.env.ATRIUM_KUBECONFIG, binDir: ensureBinaries(log) };
    installCrds(cluster);
    project.provide("cluster", cluster);
    return;
  }
  const cp = await startControlPlane({ log });
  try {
    installCrds(cp);
  } catch (error) {
    await cp.stop();
    throw error;
  }
  project.provide("cluster", { kubeconfig: cp.kubeconfig, binDir: cp.binDir });
  return () => cp.stop();
}
