// A field the operator stops declaring is removed from what it applied (ADR 0008): the
// live object keeps every field it had, so "is the desired object a subset of the live one"
// alone would find nothing to do and the field would stay forever. On the real apiserver.
import { AppsV1Api, CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installCatalog } from "../cluster/install.ts";
import { type OperatorProcess, startOperator } from "../cluster/operator-process.ts";
import { cluster, type Obj, unique, until } from "./kube.ts";

const { kc, objects, info } = cluster();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const A = "atrium.dev/v1alpha1";
let operator: OperatorProcess;

const mergePatch = (kind: string, name: string, namespace: string | undefined, body: Record<string, unknown>) =>
  objects.patch(
    { apiVersion: A, kind, ...body, metadata: { name, ...(namespace ? { namespace } : {}) } } as Obj,
    undefined,
    undefined,
    undefined,
    undefined,
    "application/merge-patch+json" as never,
  );
const ready = (o: any) => o?.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True");

beforeAll(async () => {
  installCatalog(info);
  operator = await startOperator({ kubeconfig: info.kubeconfig, id: "fields", leaseNamespace: unique("lease") });
  await operator.waitUntil("leadership", async () => (await operator.status()).leader);
});
afterAll(() => operator?.kill());

describe("field removal", () => {
  it("removes a quota dropped from an Organization from its ResourceQuota", async () => {
    const org = unique("quota");
    const ns = `org-${org}`;
    await objects.create({
      apiVersion: A,
      kind: "Organization",
      metadata: { name: org },
      spec: { displayName: org, quotas: { cpu: "4", memory: "8Gi" } },
    } as Obj);
    const hard = async () =>
      (await core.readNamespacedResourceQuota({ name: "atrium-quota", namespace: ns })).spec?.hard;
    await until("the quota with cpu and memory", async () => {
      const h = await hard();
      return h?.["requests.cpu"] === "4" && h?.["requests.memory"] === "8Gi" ? true : undefined;
    });
    await mergePatch("Organization", org, undefined, { spec: { quotas: { memory: null } } });
    await until("requests.memory gone from the quota", async () => {
      const h = await hard();
      return h && !("requests.memory" in h) ? h : undefined;
    });
    expect(await hard()).toEqual({ "requests.cpu": "4" });
  });

  it("removes an app's setting from its Deployment when the setting is taken away", async () => {
    const template = unique("flagged");
    await objects.create({
      apiVersion: A,
      kind: "AppTemplate",
      metadata: { name: template },
      spec: {
        displayName: "Flagged",
        description: "An app with one optional setting.",
        category: "Development",
        publisher: "Atrium tests",
        homepage: "https://example.com",
        image: "example.com/flagged",
        versions: ["1.0.0"],
        defaultVersion: "1.0.0",
        ports: [{ name: "http", containerPort: 8080 }],
        env: [{ name: "FEATURE_FLAG", description: "Turns the feature on" }],
        resources: { cpu: "50m", memory: "64Mi" },
      },
    } as Obj);
    const org = unique("env");
    const ns = `org-${org}`;
    await objects.create({
      apiVersion: A,
      kind: "Organization",
      metadata: { name: org },
      spec: { displayName: org },
    } as Obj);
    await until(`org ${org} Ready`, async () =>
      ready(await objects.read({ apiVersion: A, kind: "Organization", metadata: { name: org } } as never))
        ? true
        : undefined,
    );
    const app = "flags";
    await objects.create({
      apiVersion: A,
      kind: "AppInstance",
      metadata: { name: app, namespace: ns },
      spec: { template, env: [{ name: "FEATURE_FLAG", value: "on" }] },
    } as Obj);
    const envOf = async () =>
      (await apps.readNamespacedDeployment({ name: app, namespace: ns })).spec?.template.spec?.containers[0]?.env;
    await until("the setting in the Deployment", async () =>
      (await envOf())?.some((e) => e.name === "FEATURE_FLAG" && e.value === "on") ? true : undefined,
    );
    await mergePatch("AppInstance", app, ns, { spec: { env: null } });
    await until("the setting gone from the Deployment", async () => {
      const env = await envOf().catch(() => [{ name: "unreadable" }]);
      return !env?.some((e) => e.name === "FEATURE_FLAG") ? true : undefined;
    });
  });
});
