// Two apps must never share an object (issue 17 read-through): in Gateway API mode app `x` has a
// Service `x-route` beside its own Service `x`, so an app named `x-route` would have its own
// Service taken over by x's route, or take x's. On the real apiserver: the AppInstance CRD
// refuses app names ending in `-route` (kubectl shows why), and the real operator never writes
// over a child another app controls, whatever made the clash: the app that would need it fails
// with NameConflict (in Ready and a Warning Event), the other app's object stays as it was.
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { echoTemplate } from "../cluster/fake-pods.ts";
import { type OperatorProcess, startOperator } from "../cluster/operator-process.ts";
import { cluster, type Obj, unique, until } from "./kube.ts";

const { kc, objects, kubectlStdin } = cluster();
const { info } = cluster();
const core = kc.makeApiClient(CoreV1Api);
const A = "atrium.dev/v1alpha1";
const ORG = unique("clash");
const NS = `org-${ORG}`;
const TEMPLATE = unique("echo");
let operator: OperatorProcess;

const app = (name: string) =>
  ({
    apiVersion: A,
    kind: "AppInstance",
    metadata: { name, namespace: NS },
    spec: { template: TEMPLATE, access: { policy: "Public" }, idle: { policy: "AlwaysOn" } },
  }) as Obj;
const read = async (name: string) =>
  (await objects.read({ apiVersion: A, kind: "AppInstance", metadata: { name, namespace: NS } })) as any;
const ready = (o: any) => o?.status?.conditions?.find((c: any) => c.type === "Ready");

/** What kubectl says when it creates the object, refused or not. */
function kubectlCreate(object: Obj): { ok: boolean; output: string } {
  try {
    return { ok: true, output: kubectlStdin(JSON.stringify(object), "create", "-f", "-") };
  } catch (error) {
    return { ok: false, output: String((error as { stderr?: string }).stderr) };
  }
}

beforeAll(async () => {
  const template = echoTemplate(TEMPLATE) as Obj;
  await objects.create(template);
  operator = await startOperator({ kubeconfig: info.kubeconfig, id: "clash", leaseNamespace: unique("atrium-lease") });
  await operator.waitUntil("leadership", async () => (await operator.status()).leader);
  await objects.create({
    apiVersion: A,
    kind: "Organization",
    metadata: { name: ORG },
    spec: { displayName: ORG },
  } as Obj);
  await until("the organization's namespace", () => core.readNamespace({ name: NS }).then(() => true));
}, 120_000);

afterAll(async () => {
  await objects.delete({ apiVersion: A, kind: "Organization", metadata: { name: ORG } } as Obj).catch(() => {});
  await objects.delete({ apiVersion: A, kind: "AppTemplate", metadata: { name: TEMPLATE } } as Obj).catch(() => {});
  await operator?.kill();
});

describe("the AppInstance CRD", () => {
  it("refuses an app named <app>-route, saying why, and takes names that only look alike", () => {
    const refused = kubectlCreate(app("web-route"));
    expect(refused.ok).toBe(false);
    expect(refused.output).toContain("metadata.name");
    expect(refused.output).toContain("must not end in '-route'");
    expect(refused.output).toContain("Gateway API mode");
    for (const name of ["route", "web-router", "route-web"]) expect(kubectlCreate(app(name)).ok, name).toBe(true);
  });

  it("leaves room in an app's name for its route Service's suffix (a Service name has at most 63 characters)", () => {
    const refused = kubectlCreate(app("a".repeat(58)));
    expect(refused.ok).toBe(false);
    expect(refused.output).toContain("may not be more than 57 bytes");
    expect(kubectlCreate(app("a".repeat(57))).ok).toBe(true);
  });
});

describe("the operator", () => {
  it("never takes over another app's object: the app that needs its name fails with NameConflict", async () => {
    // The owner app, and a Service of its as the operator labels its own (in Gateway API mode, app
    // x's route Service x-route), named as the other app's own Service will be.
    await objects.create(app("owner"));
    const owner = await until("the owner app's uid", async () => (await read("owner")).metadata.uid as string);
    await core.createNamespacedService({
      namespace: NS,
      body: {
        metadata: {
          name: "taken",
          labels: { "app.kubernetes.io/managed-by": "atrium-operator", "app.kubernetes.io/instance": "owner" },
          ownerReferences: [
            {
              apiVersion: A,
              kind: "AppInstance",
              name: "owner",
              uid: owner,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: { selector: { "owner-pods": "yes" }, ports: [{ name: "http", port: 9999, targetPort: 9999 }] },
      },
    });
    await objects.create(app("taken"));
    const failed = await until("taken Failed with NameConflict", async () => {
      const found = await read("taken");
      return ready(found)?.reason === "NameConflict" ? found : undefined;
    });
    expect(failed.status.phase).toBe("Failed");
    expect(ready(failed).message).toContain('Service "taken" already belongs to AppInstance "owner"');
    const events = await until("the NameConflict event", async () => {
      const list = await core.listNamespacedEvent({ namespace: NS, fieldSelector: "involvedObject.name=taken" });
      const found = list.items.filter((e) => e.reason === "NameConflict");
      return found.length ? found : undefined;
    });
    expect(events.map((e) => e.type)).toEqual(["Warning"]);
    // The owner's Service is still the owner's, as it was: not adopted, not rewritten.
    const service = await core.readNamespacedService({ name: "taken", namespace: NS });
    expect(service.metadata?.ownerReferences?.map((r) => r.uid)).toEqual([owner]);
    expect(service.spec?.selector).toEqual({ "owner-pods": "yes" });
    expect(service.spec?.ports?.map((p) => p.port)).toEqual([9999]);
    // The owner app itself is untouched by the clash.
    expect(ready(await read("owner"))?.reason).not.toBe("NameConflict");
  });

  it("takes over what a deleted app left behind, as before: a gone owner is no other app", async () => {
    // A Service of an app that no longer exists (the garbage collector about to remove it), as
    // the operator applied it: same field manager, so its next apply replaces the owner reference.
    const leftover = {
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name: "reborn",
        namespace: NS,
        labels: { "app.kubernetes.io/managed-by": "atrium-operator", "app.kubernetes.io/instance": "reborn" },
        ownerReferences: [
          {
            apiVersion: A,
            kind: "AppInstance",
            name: "reborn",
            uid: "00000000-0000-0000-0000-00000000dead",
            controller: true,
          },
        ],
      },
      spec: { selector: { old: "yes" }, ports: [{ name: "http", port: 9999, targetPort: 9999 }] },
    };
    kubectlStdin(JSON.stringify(leftover), "apply", "--server-side", "--field-manager=atrium-operator", "-f", "-");
    await objects.create(app("reborn"));
    const uid = await until("reborn's uid", async () => (await read("reborn")).metadata.uid as string);
    await until("reborn's Service, the new app's", async () => {
      const service = await core.readNamespacedService({ name: "reborn", namespace: NS });
      return service.metadata?.ownerReferences?.[0]?.uid === uid ? true : undefined;
    });
    const events = await core.listNamespacedEvent({ namespace: NS, fieldSelector: "involvedObject.name=reborn" });
    expect(events.items.filter((e) => e.reason === "NameConflict")).toEqual([]);
    expect(ready(await read("reborn"))?.reason).not.toBe("NameConflict");
  });
});
