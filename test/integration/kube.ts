// What integration tests use to talk to the shared cluster: the real client library, the
// real kubectl, and helpers that turn apiserver refusals into data to assert on.
import { ApiException, KubeConfig, type KubernetesObject, KubernetesObjectApi } from "@kubernetes/client-node";
import { inject } from "vitest";
import { kubectlIn } from "../cluster/controlplane.ts";

export function cluster() {
  const info = inject("cluster");
  const kc = new KubeConfig();
  kc.loadFromFile(info.kubeconfig);
  const objects = KubernetesObjectApi.makeApiClient(kc);
  return {
    info,
    kc,
    objects,
    kubectl: (...args: string[]) => kubectlIn(info.binDir, info.kubeconfig, ...args).run(),
    kubectlStdin: (input: string, ...args: string[]) => kubectlIn(info.binDir, info.kubeconfig, ...args).stdin(input),
  };
}

export type Refusal = {
  code: number;
  reason: string;
  message: string;
  causes: { field?: string; message?: string }[];
};

/** Runs a write that must fail and returns the apiserver's Status, or throws if it succeeded. */
export async function refusal(write: () => Promise<unknown>): Promise<Refusal> {
  try {
    await write();
  } catch (error) {
    if (!(error instanceof ApiException)) throw error;
    const body = typeof error.body === "string" ? JSON.parse(error.body) : error.body;
    return {
      code: error.code,
      reason: body.reason,
      message: body.message,
      causes: body.details?.causes ?? [],
    };
  }
  throw new Error("the apiserver accepted an object it should refuse");
}

/** A unique name per test run, so tests never collide with each other or an earlier run. */
let counter = 0;
export const unique = (prefix: string) =>
  `${prefix}-${process.pid.toString(36)}-${(counter++).toString(36)}-${Date.now().toString(36).slice(-4)}`;

export type Obj = KubernetesObject & { spec?: unknown };

export { until } from "../cluster/until.ts";
