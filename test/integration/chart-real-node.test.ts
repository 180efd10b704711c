// The chart end to end on the real node (issue 15, item 4, in part): `helm install` of
// charts/atrium with Atrium's own image (built offline by images/build.sh, imported into the
// node's containerd), every component scheduled to the real node and running in a container,
// reaching the apiserver through the `kubernetes` Service (kube-proxy, real-node-network.test.ts);
// then one flow through the installed Atrium: an organization gets Ready, the demo app from the
// catalog chart installs, answers through the gateway's Service, stops when idle, wakes on the
// next request with what was written before the stop, and is uninstalled.
// Skipped, with the reason printed, where the machine cannot run containers.

import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  apiClaim,
  CATALOG_CHART,
  CHART,
  chartHelm,
  everyComponentReady,
  realNodeValues,
  releasePods,
} from "../cluster/chart.ts";
import { type ControlPlane, kubectlIn, startControlPlane } from "../cluster/controlplane.ts";
import {
  IMAGES_BY_NAME,
  placeOnRealNodeAnnotations,
  type RealNode,
  realNodeUnsupported,
} from "../cluster/real-node.ts";
import { until } from "./kube.ts";

const unsupported = realNodeUnsupported();
if (unsupported) console.log(`[chart-real-node] skipped: ${unsupported}`);

const RELEASE = "atrium";
const NAMESPACE = "atrium-system";
const ORG = "e2e";
const ORG_NS = `org-${ORG}`;

describe.skipIf(!!unsupported)("the chart on the real node", () => {
  let cp: ControlPlane;
  let node: RealNode;
  let helm: string;
  const kubectl = (...args: string[]) => kubectlIn(cp.binDir, cp.kubeconfig, ...args).run();
  const apply = (object: object) =>
    kubectlIn(cp.binDir, cp.kubeconfig, "apply", "-f", "-").stdin(JSON.stringify(object));
  const helmIn = (...args: string[]) =>
    execFileSync(helm, [...args, `--kubeconfig=${cp.kubeconfig}`], { encoding: "utf8", stdio: "pipe" });
  const jsonOf = (...args: string[]) => JSON.parse(kubectl(...args, "-o", "json"));
  let gatewayUrl: string;
  let written = "";

  beforeAll(async () => {
    helm = chartHelm();
    cp = await startControlPlane({ realNode: { images: ["demo-notes", "atrium"], services: true } });
    node = cp.realNode as RealNode;
    kubectl("create", "namespace", NAMESPACE);
    // The API's SQLite volume, writable by the chart's non-root user (the hostPath provisioner
    // makes root-owned folders).
    node.provideVolume(NAMESPACE, apiClaim(RELEASE));
    const values = join(cp.dir, "real-node-values.json");
    writeFileSync(values, JSON.stringify(realNodeValues()));
    helmIn("install", RELEASE, CHART, `--namespace=${NAMESPACE}`, `--values=${values}`, "--wait", "--timeout=3m");
    helmIn("install", "atrium-catalog", CATALOG_CHART, `--namespace=${NAMESPACE}`, "--wait");
    const gateway = jsonOf("get", "service", `${RELEASE}-gateway`, "-n", NAMESPACE);
    gatewayUrl = `http://${gateway.spec.clusterIP}:${gateway.spec.ports[0].port}`;
  }, 600_000);

  afterAll(async () => {
    await cp?.stop();
  });

  it("runs the operator, the gateway and the API from Atrium's image in containers on the real node, all Ready", () => {
    const pods = releasePods(cp, NAMESPACE, RELEASE);
    expect(everyComponentReady(pods, 1)).toBe(true);
    for (const pod of pods) {
      expect(pod.spec.nodeName).toBe(node.name);
      expect(pod.spec.containers.map((c) => c.image)).toEqual([IMAGES_BY_NAME.atrium.ref]);
    }
    // Each program's own log, read from the real kubelet: it started and holds its configuration.
    for (const component of ["operator", "gateway", "api"]) {
      const log = kubectl("logs", "-n", NAMESPACE, `deployment/${RELEASE}-${component}`);
      expect(log).toContain(`"component":"atrium-${component}"`);
    }
  });

  it("gets an organization Ready, installs the demo app, and serves it through the gateway's Service", async () => {
    apply({
      apiVersion: "atrium.dev/v1alpha1",
      kind: "Organization",
      metadata: { name: ORG },
      spec: { displayName: "E2E" },
    });
    await until("the organization's namespace", async () => jsonOf("get", "namespace", ORG_NS), 60_000);
    // The organization's pods go to the real node too (KWOK stays the default elsewhere).
    kubectl(
      "annotate",
      "--overwrite",
      `namespace/${ORG_NS}`,
      ...Object.entries(placeOnRealNodeAnnotations()).map(([k, v]) => `${k}=${v}`),
    );
    const org = await until(
      "the organization Ready",
      async () => {
        const o = jsonOf("get", "organization", ORG);
        return o.status?.conditions?.some(
          (c: { type: string; status: string }) => c.type === "Ready" && c.status === "True",
        )
          ? o
          : undefined;
      },
      60_000,
      500,
    );
    expect(org.status.namespace).toBe(ORG_NS);

    node.provideVolume(ORG_NS, "notes-data");
    apply({
      apiVersion: "atrium.dev/v1alpha1",
      kind: "AppInstance",
      metadata: { name: "notes", namespace: ORG_NS },
      spec: { template: "demo-notes", access: { policy: "Public" }, idle: { policy: "AlwaysOn" } },
    });
    await until(
      "the app Running",
      async () => (jsonOf("get", "appinstance", "notes", "-n", ORG_NS).status?.phase === "Running" ? true : undefined),
      180_000,
      500,
    );
    const [pod] = jsonOf("get", "pods", "-n", ORG_NS, "-l", "app.kubernetes.io/instance=notes").items;
    expect(pod.spec.nodeName).toBe(node.name);

    // From outside the cluster's pods, to the gateway's ClusterIP (kube-proxy), to the app's pod.
    const app = `${gatewayUrl}/apps/${ORG}/notes`;
    const page = await until(
      "the app's page through the gateway",
      async () => {
        const res = await fetch(`${app}/`).catch(() => undefined);
        return res?.status === 200 ? res : undefined;
      },
      60_000,
      500,
    );
    expect(await page.text()).toContain("<h1>Demo Notes</h1>");
    const note = `written through the chart's gateway ${Date.now()}`;
    const posted = await fetch(`${app}/`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ note }).toString(),
      redirect: "manual",
    });
    expect(posted.status).toBe(303);
    const notes = (await (await fetch(`${app}/notes`)).json()) as { text: string }[];
    expect(notes.map((n) => n.text)).toContain(note);
    written = note;
  }, 300_000);

  it("stops the app when idle, wakes it through the gateway with what was written, and uninstalls it", async () => {
    const phase = () => jsonOf("get", "appinstance", "notes", "-n", ORG_NS).status?.phase;
    kubectl(
      "patch",
      "appinstance",
      "notes",
      "-n",
      ORG_NS,
      "--type=merge",
      "-p",
      '{"spec":{"idle":{"policy":"Auto","timeout":"5s"}}}',
    );
    await until("the app Stopped", async () => (phase() === "Stopped" ? true : undefined), 120_000, 500);
    await until(
      "the app's container gone",
      async () =>
        jsonOf("get", "pods", "-n", ORG_NS, "-l", "app.kubernetes.io/instance=notes").items.length === 0
          ? true
          : undefined,
      60_000,
      500,
    );
    // The request that wakes it is held by the gateway (in its pod) until the new container is Ready.
    const woken = await fetch(`${gatewayUrl}/apps/${ORG}/notes/notes`);
    expect(woken.status).toBe(200);
    expect(((await woken.json()) as { text: string }[]).map((n) => n.text)).toContain(written);
    kubectl("delete", "appinstance", "notes", "-n", ORG_NS, "--wait=true", "--timeout=60s");
    await until(
      "the app's Deployment gone",
      async () => (jsonOf("get", "deployments", "-n", ORG_NS).items.length === 0 ? true : undefined),
      60_000,
      500,
    );
  }, 300_000);

  it("helm uninstall stops Atrium and keeps the CRDs, the organization and the database volume", () => {
    helmIn("uninstall", RELEASE, `--namespace=${NAMESPACE}`, "--wait", "--timeout=2m");
    expect(jsonOf("get", "deployments", "-n", NAMESPACE).items).toEqual([]);
    expect(jsonOf("get", "crd", "organizations.atrium.dev").metadata.name).toBe("organizations.atrium.dev");
    expect(jsonOf("get", "organization", ORG).metadata.name).toBe(ORG);
    expect(jsonOf("get", "pvc", apiClaim(RELEASE), "-n", NAMESPACE).status.phase).toBe("Bound");
  });
});
