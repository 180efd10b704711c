// What tests of stopping and waking apps read and wait for, on the real apiserver: an app's
// phase, its Deployment's replicas, its running pods' addresses, and in Gateway API mode the
// EndpointSlice of its route's Service (at the pods, "serve", or at the activator, "proxy",
// since the stop sequence's `proxy-since`). One place for them, so every test waits for the
// same thing the same way.
import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
} from "@kubernetes/client-node";
import { until } from "./until.ts";

const A = "atrium.dev/v1alpha1";

/** The EndpointSlice the operator writes for an app's route (operator/src/routing/gateway-api.ts). */
export type RouteSlice = {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  ports?: { name?: string; port?: number; protocol?: string }[];
  endpoints?: { addresses: string[] }[];
};

/** Where the slice points: "serve" (the app's pods) or "proxy" (the activator). */
export const endpointsMode = (s: RouteSlice) => s.metadata.labels?.["atrium.dev/endpoints"];
/** The slice's addresses, sorted. */
export const endpointAddresses = (s: RouteSlice) => (s.endpoints ?? []).flatMap((e) => e.addresses).sort();
/** When the stop sequence pointed the slice at the activator (ms), or NaN. */
export const proxySince = (s: RouteSlice) => Date.parse(s.metadata.annotations?.["atrium.dev/proxy-since"] ?? "");

export type AppWaits = ReturnType<typeof appWaits>;

/** Reads of, and waits on, the apps of one org namespace. */
export function appWaits(kc: KubeConfig, namespace: string) {
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const read = async (apiVersion: string, kind: string, name: string) =>
    (await objects.read({ apiVersion, kind, metadata: { name, namespace } })) as any;

  const app = (name: string) => read(A, "AppInstance", name);
  const replicas = async (name: string) => (await apps.readNamespacedDeployment({ name, namespace })).spec?.replicas;
  /** Addresses of the app's pods that run and are not being deleted, sorted. */
  const podIps = async (name: string) =>
    (await core.listNamespacedPod({ namespace, labelSelector: `app.kubernetes.io/instance=${name}` })).items
      .filter((p) => p.status?.phase === "Running" && !p.metadata?.deletionTimestamp && p.status.podIP)
      .map((p) => p.status?.podIP as string)
      .sort();
  const slice = (name: string): Promise<RouteSlice> => read("discovery.k8s.io/v1", "EndpointSlice", `${name}-route`);
  /** Waits until the app has a running pod; its pods' addresses. */
  const untilPods = (name: string, timeoutMs = 60_000) =>
    until(
      `${name}'s pod`,
      async () => {
        const ips = await podIps(name);
        return ips.length ? ips : undefined;
      },
      timeoutMs,
    );

  return {
    app,
    replicas,
    podIps,
    slice,
    /** Waits until the app's status.phase is `phase` (Running, Stopped, …). */
    untilPhase: (name: string, phase: string, timeoutMs = 60_000) =>
      until(`${name} ${phase}`, async () => ((await app(name)).status?.phase === phase ? true : undefined), timeoutMs),
    untilPods,
    /**
     * Waits for a stop sequence that began after `after` (ms): the slice at the activator with a
     * later proxy-since. Polled often, as the sequence's grace is short in tests. Its proxy-since.
     */
    untilStopSequence: (name: string, after = 0, timeoutMs = 30_000) =>
      until(
        `a stop sequence of ${name}`,
        async () => {
          const s = await slice(name);
          return endpointsMode(s) === "proxy" && proxySince(s) > after ? proxySince(s) : undefined;
        },
        timeoutMs,
        20,
      ),
    /**
     * Waits until `get` (a request for the app: through the data plane, say) is answered by the
     * app's pod, in fake-pods.ts's words: the route is programmed and its endpoints at the pod.
     * The pods' addresses.
     */
    untilServedByPod: async (name: string, get: (path: string) => Promise<{ status: number; body: string }>) => {
      const pods = await untilPods(name);
      await until(
        `${name} answered by its pod`,
        async () => (await get("/ready")).body === `hello from ${name} at ${pods[0]}/ready`,
        120_000,
      );
      return pods;
    },
    /** Waits until the slice points at exactly `pods` again (a cancelled stop, or a finished wake). */
    untilServing: (name: string, pods: string[], timeoutMs = 30_000) =>
      until(
        `${name}'s endpoints at ${pods.join(", ")}`,
        async () => {
          const s = await slice(name);
          return endpointsMode(s) === "serve" && endpointAddresses(s).join() === pods.join() ? s : undefined;
        },
        timeoutMs,
        20,
      ),
  };
}

/** Creates an Organization and waits for its namespace, `org-<name>`, where its apps go. */
export async function createOrg(kc: KubeConfig, name: string, displayName = name) {
  const objects = KubernetesObjectApi.makeApiClient(kc);
  await objects.create({
    apiVersion: A,
    kind: "Organization",
    metadata: { name },
    spec: { displayName },
  } as KubernetesObject);
  await until("the org namespace", () => kc.makeApiClient(CoreV1Api).readNamespace({ name: `org-${name}` }));
}
