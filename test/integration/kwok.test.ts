// The fake nodes are real enough: a Deployment goes through the controller-manager, the
// scheduler places its Pods on a KWOK node, and KWOK reports them Running with an IP from
// the pod range, which the harness makes local so a test can serve at a pod's address.
import { createServer } from "node:http";
import { AppsV1Api, CoreV1Api, DiscoveryV1Api } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { cluster, unique, until } from "./kube.ts";

const { kc, objects } = cluster();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);

describe("KWOK", () => {
  it("has a Ready fake node", async () => {
    const nodes = await core.listNode({ labelSelector: "type=kwok" });
    expect(nodes.items.length).toBeGreaterThanOrEqual(1);
    const ready = nodes.items[0]?.status?.conditions?.find((c) => c.type === "Ready");
    expect(ready?.status).toBe("True");
  });

  it("runs a Deployment's pods", async () => {
    const namespace = unique("kwok");
    await objects.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
    const labels = { app: "web" };
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: "web" },
        spec: {
          replicas: 3,
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ name: "web", image: "nginx:1.27" }] } },
        },
      },
    });
    const pods = await until("3 Running pods", async () => {
      const list = await core.listNamespacedPod({ namespace, labelSelector: "app=web" });
      const running = list.items.filter((p) => p.status?.phase === "Running");
      return running.length === 3 ? running : undefined;
    });
    for (const pod of pods) {
      expect(pod.spec?.nodeName).toMatch(/^kwok-node-/);
      expect(pod.status?.podIP).toMatch(/^198\.1[89]\./);
    }
    const deployment = await until("the Deployment to be available", async () => {
      const d = await apps.readNamespacedDeployment({ name: "web", namespace });
      return d.status?.availableReplicas === 3 ? d : undefined;
    });
    expect(deployment.status?.readyReplicas).toBe(3);

    // A Service's EndpointSlice lists the pods, and their addresses can be served locally.
    await core.createNamespacedService({
      namespace,
      body: { metadata: { name: "web" }, spec: { selector: labels, ports: [{ port: 8080, targetPort: 8080 }] } },
    });
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const slice = await until("an EndpointSlice with 3 ready endpoints", async () => {
      const list = await discovery.listNamespacedEndpointSlice({
        namespace,
        labelSelector: "kubernetes.io/service-name=web",
      });
      const endpoints = list.items.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions?.ready);
      return endpoints.length === 3 ? endpoints : undefined;
    });
    const ip = slice[0]?.addresses[0] as string;
    const server = createServer((_req, res) => res.end(`served at ${ip}`));
    await new Promise<void>((resolve) => server.listen(8080, ip, resolve));
    try {
      expect(await (await fetch(`http://${ip}:8080/`)).text()).toBe(`served at ${ip}`);
    } finally {
      server.close();
    }
  });
});
