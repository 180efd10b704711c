// The API where the data plane's external authorization finds it (issue 17 item 4): Envoy
// Gateway resolves the SecurityPolicy's backend, the API's Service, through its EndpointSlice,
// as it would reach the API's pods in a cluster. Here the API listens on loopback and Envoy runs
// in a network namespace of its own (dataplane.ts), so the Service is selector-less, its slice
// names a local address of the machine (198.18.0.0/16 is local here) and a forwarder on that
// address hands each connection to the API's port. Used by dataplane-extauth.test.ts and the
// dataplane-warm benchmark.
import type { Server } from "node:net";
import { KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import { forward } from "./dataplane.ts";

export type ApiForDataplane = {
  /** ATRIUM_EXT_AUTH_SERVICE for the operator: `<namespace>/<name>:<port>`. */
  extAuthService: string;
  close(): void;
};

export async function exposeApiToDataplane(options: {
  kubeconfig: string;
  /** The API's loopback port. */
  apiPort: number;
  /** A local address no pod has, e.g. 198.18.255.250. */
  address: string;
  namespace?: string;
  name?: string;
  servicePort?: number;
}): Promise<ApiForDataplane> {
  const { apiPort, address } = options;
  const namespace = options.namespace ?? "atrium-system";
  const name = options.name ?? "atrium-api";
  const servicePort = options.servicePort ?? 8080;
  const kc = new KubeConfig();
  kc.loadFromFile(options.kubeconfig);
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const forwarder: Server = await forward(address, apiPort, "127.0.0.1");
  try {
    await objects.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } }).catch(() => undefined);
    await objects.create({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace },
      spec: { ports: [{ name: "http", port: servicePort, targetPort: apiPort, protocol: "TCP" }] },
    } as never);
    await objects.create({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name, namespace, labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      endpoints: [{ addresses: [address], conditions: { ready: true } }],
      ports: [{ name: "http", port: apiPort, protocol: "TCP" }],
    } as never);
  } catch (error) {
    forwarder.close();
    throw error;
  }
  return { extAuthService: `${namespace}/${name}:${servicePort}`, close: () => forwarder.close() };
}
