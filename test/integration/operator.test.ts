// The operator against the real control plane: what an organization gets, how an app is
// deployed, rolled and reported, and that an unchanged world costs no writes.
import { AppsV1Api, CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACTIVE, publishEntitlement } from "../cluster/entitlement.ts";
import { installCatalog } from "../cluster/install.ts";
import { type OperatorProcess, startOperator } from "../cluster/operator-process.ts";
import { cluster, type Obj, unique, until } from "./kube.ts";

const { kc, objects, info } = cluster();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const A = "atrium.dev/v1alpha1";
let operator: OperatorProcess;

const read = async (kind: string, name: string, namespace?: string) =>
  (await objects.read({ apiVersion: A, kind, metadata: { name, ...(namespace ? { namespace } : {}) } })) as any;
const patch = (kind: string, name: string, namespace: string | undefined, body: unknown) =>
  objects.patch(
    {
      apiVersion: A,
      kind,
      ...(body as object),
      metadata: { ...(body as any).metadata, name, ...(namespace ? { namespace } : {}) },
    } as Obj,
    undefined,
    undefined,
    undefined,
    undefined,
    "application/merge-patch+json" as any,
  );
const condition = (o: any, type: string) => o?.status?.conditions?.find((c: any) => c.type === type);

async function createOrg(spec: Record<string, unknown> = {}) {
  const name = unique("op");
  await objects.create({
    apiVersion: A,
    kind: "Organization",
    metadata: { name },
    spec: { displayName: name, ...spec },
  } as Obj);
  await until(`org ${name} Ready`, async () =>
    condition(await read("Organization", name), "Ready")?.status === "True" ? true : undefined,
  );
  return { name, ns: `org-${name}` };
}
async function createApp(ns: string, spec: Record<string, unknown>, name = unique("app")) {
  await objects.create({ apiVersion: A, kind: "AppInstance", metadata: { name, namespace: ns }, spec } as Obj);
  return name;
}
/** A paid catalog app (gitea, nextcloud, vaultwarden): runs once the API would say it is paid for. */
async function createPaidApp(ns: string, spec: Record<string, unknown>) {
  const name = await createApp(ns, spec);
  await publishEntitlement(kc, { namespace: ns, name }, ACTIVE);
  return name;
}
const phaseOf = async (name: string, ns: string) => (await read("AppInstance", name, ns)).status?.phase;
const replicaSets = async (name: string, ns: string) =>
  (await apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: `app.kubernetes.io/instance=${name}` })).items;

beforeAll(async () => {
  installCatalog(info);
  operator = await startOperator({ kubeconfig: info.kubeconfig, id: "main", leaseNamespace: unique("atrium-lease") });
  await operator.waitUntil("leadership", async () => (await operator.status()).leader);
});
afterAll(() => operator?.kill());

describe("Organization", () => {
  it("gets its namespace, quota, limits, gateway-only policy and built-in roles", async () => {
    const { name, ns } = await createOrg({ quotas: { cpu: "4", memory: "8Gi", maxApps: 5 } });
    const namespace = await core.readNamespace({ name: ns });
    expect(namespace.metadata?.labels?.["atrium.dev/organization"]).toBe(name);
    expect(namespace.metadata?.ownerReferences?.[0]).toMatchObject({ kind: "Organization", name });
    const quota = await core.readNamespacedResourceQuota({ name: "atrium-quota", namespace: ns });
    expect(quota.spec?.hard).toEqual({ "requests.cpu": "4", "requests.memory": "8Gi", "count/deployments.apps": "5" });
    expect((await core.readNamespacedLimitRange({ name: "atrium-defaults", namespace: ns })).spec?.limits).toHaveLength(
      1,
    );
    const policy = (await objects.read({
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "atrium-gateway-only", namespace: ns },
    })) as any;
    expect(policy.spec.policyTypes).toEqual(["Ingress"]);
    const roles = await until("5 built-in roles", async () => {
      const list = (await objects.list(A, "OrgRole", ns)).items as any[];
      return list.length === 5 ? list : undefined;
    });
    expect(roles.map((r) => r.spec.displayName).sort()).toEqual(["Admin", "Co-Admin", "Manager", "Member", "Viewer"]);
    const org = await read("Organization", name);
    expect(org.metadata.finalizers).toContain("atrium.dev/cleanup");
    expect(org.status).toMatchObject({ namespace: ns, memberCount: 0, appCount: 0, runningAppCount: 0 });
  });

  it("restores a built-in role that was edited or deleted", async () => {
    const { ns } = await createOrg();
    const viewer = await read("OrgRole", "viewer", ns);
    await patch("OrgRole", "viewer", ns, {
      spec: { permissions: [...viewer.spec.permissions, "org:delete"], level: 99 },
    });
    await until("viewer restored", async () => {
      const r = await read("OrgRole", "viewer", ns);
      return r.spec.level === 20 && !r.spec.permissions.includes("org:delete") ? r : undefined;
    });
    await objects.delete({ apiVersion: A, kind: "OrgRole", metadata: { name: "manager", namespace: ns } });
    await until("manager recreated", async () =>
      (await read("OrgRole", "manager", ns)).spec.level === 60 ? true : undefined,
    );
  });

  it("counts members and running apps, and cleans everything up on deletion", async () => {
    const { name, ns } = await createOrg();
    await objects.create({
      apiVersion: A,
      kind: "Member",
      metadata: { name: "bob", namespace: ns },
      spec: { email: "bob@example.com", role: "member" },
    } as Obj);
    const app = await createApp(ns, { template: "uptime-kuma" });
    await until("counts", async () => {
      const s = (await read("Organization", name)).status;
      return s.memberCount === 1 && s.appCount === 1 && s.runningAppCount === 1 ? s : undefined;
    });
    await objects.delete({ apiVersion: A, kind: "Organization", metadata: { name } });
    await until(
      "the org and its namespace to be gone",
      async () => {
        const nsLeft = await core.readNamespace({ name: ns }).then(
          () => true,
          () => false,
        );
        const orgLeft = await read("Organization", name).then(
          () => true,
          () => false,
        );
        return !nsLeft && !orgLeft ? true : undefined;
      },
      120_000,
    );
    await expect(read("AppInstance", app, ns)).rejects.toThrow();
  });
});

describe("OrgRole and Member", () => {
  it("report unknown permissions, member counts and missing roles in conditions", async () => {
    const { ns } = await createOrg();
    await objects.create({
      apiVersion: A,
      kind: "OrgRole",
      metadata: { name: "ops", namespace: ns },
      spec: { displayName: "Ops", level: 30, permissions: ["apps:view", "apps:teleport"] },
    } as Obj);
    await objects.create({
      apiVersion: A,
      kind: "Member",
      metadata: { name: "carol", namespace: ns },
      spec: { email: "carol@example.com", role: "ops" },
    } as Obj);
    await objects.create({
      apiVersion: A,
      kind: "Member",
      metadata: { name: "dave", namespace: ns },
      spec: { email: "dave@example.com", role: "ghost" },
    } as Obj);
    const role = await until("role status", async () => {
      const r = await read("OrgRole", "ops", ns);
      return r.status?.memberCount === 1 ? r : undefined;
    });
    expect(role.status.unknownPermissions).toEqual(["apps:teleport"]);
    expect(condition(role, "Ready")).toMatchObject({ status: "False", reason: "UnknownPermissions" });
    const dave = await until("dave's condition", async () => {
      const m = await read("Member", "dave", ns);
      return condition(m, "Ready") ? m : undefined;
    });
    expect(dave.status.phase).toBe("Invited");
    expect(condition(dave, "Ready")).toMatchObject({ status: "False", reason: "RoleNotFound" });
    await patch("Member", "dave", ns, { spec: { active: false } });
    await until("dave deactivated", async () =>
      (await read("Member", "dave", ns)).status.phase === "Deactivated" ? true : undefined,
    );
  });
});

describe("AppInstance", () => {
  it("reaches Running with a Deployment, Service, volume and settings Secret", async () => {
    const { ns, name: org } = await createOrg();
    const name = await createPaidApp(ns, {
      template: "vaultwarden",
      env: [{ name: "SIGNUPS_ALLOWED", value: "true" }],
    });
    const app = await until("Running", async () => {
      const a = await read("AppInstance", name, ns);
      return a.status?.phase === "Running" ? a : undefined;
    });
    expect(app.status).toMatchObject({
      health: "Healthy",
      version: "1.33.2",
      readyReplicas: 1,
      url: `https://${name}.${org}.atrium.localhost`,
      observedGeneration: 1,
    });
    expect(condition(app, "Ready")).toMatchObject({ status: "True", reason: "Running" });
    expect(condition(app, "Available")).toMatchObject({ status: "True" });
    const d = await apps.readNamespacedDeployment({ name, namespace: ns });
    const pod = d.spec?.template.spec;
    expect(pod?.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    expect(pod?.containers[0]?.image).toBe("vaultwarden/server:1.33.2");
    const env = pod?.containers[0]?.env ?? [];
    expect(env).toContainEqual({ name: "SIGNUPS_ALLOWED", value: "true" });
    expect(env.find((e) => e.name === "ADMIN_TOKEN")?.valueFrom?.secretKeyRef).toEqual({
      name: `${name}-settings`,
      key: "ADMIN_TOKEN",
    });
    const secret = await core.readNamespacedSecret({ name: `${name}-settings`, namespace: ns });
    expect(Buffer.from(secret.data?.ADMIN_TOKEN ?? "", "base64").length).toBeGreaterThanOrEqual(24);
    expect((await core.readNamespacedService({ name, namespace: ns })).spec?.ports?.[0]).toMatchObject({
      port: 8080,
      targetPort: "http",
    });
    const pvc = await core.readNamespacedPersistentVolumeClaim({ name: `${name}-data`, namespace: ns });
    expect(pvc.status?.phase).toBe("Bound");
    expect(pvc.metadata?.ownerReferences).toBeUndefined(); // deletionPolicy Retain
  });

  it("rolls once for an env change and once for a restart request", async () => {
    const { ns } = await createOrg();
    const name = await createPaidApp(ns, { template: "gitea" });
    await until("Running", async () => ((await phaseOf(name, ns)) === "Running" ? true : undefined));
    await operator.settled();
    expect(await replicaSets(name, ns)).toHaveLength(1);

    await patch("AppInstance", name, ns, {
      spec: { env: [{ name: "GITEA__server__ROOT_URL", value: "https://git.example" }] },
    });
    await until("a second ReplicaSet", async () => ((await replicaSets(name, ns)).length === 2 ? true : undefined));
    await until("Running again", async () => ((await phaseOf(name, ns)) === "Running" ? true : undefined));
    await operator.settled();
    expect(await replicaSets(name, ns)).toHaveLength(2);

    await patch("AppInstance", name, ns, { spec: { restartRequestedAt: "2026-11-29T12:00:00Z" } });
    await until("a third ReplicaSet", async () => ((await replicaSets(name, ns)).length === 3 ? true : undefined));
    await operator.settled();
    await patch("AppInstance", name, ns, { metadata: { labels: { touch: "after-restart" } } });
    await operator.settled();
    expect(await replicaSets(name, ns)).toHaveLength(3);
  });

  it("reports a missing template clearly and recovers when it appears", async () => {
    const { ns } = await createOrg();
    const template = unique("tpl");
    const name = await createPaidApp(ns, { template }); // a copy of gitea's spec, pricing included
    const app = await until("the condition", async () => {
      const a = await read("AppInstance", name, ns);
      return condition(a, "Ready") ? a : undefined;
    });
    expect(app.status.phase).toBe("Failed");
    expect(condition(app, "Ready")).toMatchObject({ status: "False", reason: "TemplateNotFound" });
    expect(condition(app, "Ready").message).toContain(template);
    expect((await operator.status()).leader).toBe(true); // still alive
    const gitea = await read("AppTemplate", "gitea");
    await objects.create({ apiVersion: A, kind: "AppTemplate", metadata: { name: template }, spec: gitea.spec } as Obj);
    await until("Running", async () => ((await phaseOf(name, ns)) === "Running" ? true : undefined));
  });

  it("says QuotaExceeded when the org's quota leaves no room", async () => {
    const { ns } = await createOrg({ quotas: { cpu: "200m" } });
    const name = await createPaidApp(ns, { template: "nextcloud", env: [], resources: { cpu: "500m" } });
    const app = await until("QuotaExceeded", async () => {
      const a = await read("AppInstance", name, ns);
      return condition(a, "Ready")?.reason === "QuotaExceeded" ? a : undefined;
    });
    expect(app.status.phase).toBe("Failed");
    expect(condition(app, "Degraded")).toMatchObject({ status: "True", reason: "QuotaExceeded" });
  });

  it("keeps a Retain volume after the app is deleted and removes a Delete one", async () => {
    const { ns } = await createOrg();
    const kept = await createApp(ns, { template: "uptime-kuma" });
    const dropped = await createApp(ns, { template: "uptime-kuma", storage: { deletionPolicy: "Delete" } });
    for (const n of [kept, dropped])
      await until("Running", async () => ((await phaseOf(n, ns)) === "Running" ? true : undefined));
    for (const n of [kept, dropped])
      await objects.delete({ apiVersion: A, kind: "AppInstance", metadata: { name: n, namespace: ns } });
    await until("the Delete volume to go", async () =>
      core.readNamespacedPersistentVolumeClaim({ name: `${dropped}-data`, namespace: ns }).then(
        () => undefined,
        () => true,
      ),
    );
    await until("the Deployment to go", async () =>
      apps.readNamespacedDeployment({ name: kept, namespace: ns }).then(
        () => undefined,
        () => true,
      ),
    );
    expect(
      (await core.readNamespacedPersistentVolumeClaim({ name: `${kept}-data`, namespace: ns })).metadata?.name,
    ).toBe(`${kept}-data`);
  });
});
