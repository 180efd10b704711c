// Leader fencing on the real apiserver (ADR 0008): a leader cut off from the apiserver must
// stop writing before another replica can take the lease. Replica A reaches the apiserver
// through a proxy that models a network partition (requests and answers held, not refused);
// replica B connects directly. The proxy's log is the audit: every request A sent, when, and
// when (if ever) the apiserver received it.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiProxy, isObjectWrite, startApiProxy } from "../cluster/api-proxy.ts";
import { installCatalog } from "../cluster/install.ts";
import { type OperatorProcess, startOperator } from "../cluster/operator-process.ts";
import { cluster, type Obj, unique, until } from "./kube.ts";

const { objects, info } = cluster();
const A = "atrium.dev/v1alpha1";
const running: OperatorProcess[] = [];
let proxy: ApiProxy;

const read = async (apiVersion: string, kind: string, name: string, namespace?: string) =>
  (await objects.read({ apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } })) as any;
const phase = async (name: string, ns: string) =>
  (await read(A, "AppInstance", name, ns).catch(() => undefined))?.status?.phase;
const createApp = (ns: string, name: string) =>
  objects.create({
    apiVersion: A,
    kind: "AppInstance",
    metadata: { name, namespace: ns },
    spec: { template: "uptime-kuma" },
  } as Obj);
const logLines = (op: OperatorProcess) =>
  readFileSync(op.logFile, "utf8")
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { ts: string; level: string; msg: string });
const timeOf = (t: unknown) => (t instanceof Date ? t.getTime() : Date.parse(String(t)));

beforeAll(async () => {
  installCatalog(info);
  proxy = await startApiProxy({
    kubeconfig: info.kubeconfig,
    dir: mkdtempSync(join(tmpdir(), "atrium-fencing-")),
    name: "replica-a",
  });
});
afterAll(async () => {
  for (const op of running) await op.kill("SIGKILL");
  await proxy?.close();
});

describe("leader fencing", () => {
  it("a leader cut off from the apiserver stops writing before another replica takes the lease", async () => {
    // client-go's proportions: renew deadline 4 s, retry 0.8 s; lease requests time out at 2 s.
    const leaseMs = 6000;
    const lease = unique("lease");
    const a = await startOperator({
      kubeconfig: proxy.kubeconfig,
      id: "fenced-a",
      leaseNamespace: lease,
      leaseDurationMs: leaseMs,
    });
    running.push(a);
    await a.waitUntil("A leads", async () => (await a.status()).leader);
    const b = await startOperator({
      kubeconfig: info.kubeconfig,
      id: "fenced-b",
      leaseNamespace: lease,
      leaseDurationMs: leaseMs,
    });
    running.push(b);

    const org = unique("fence");
    const ns = `org-${org}`;
    await objects.create({
      apiVersion: A,
      kind: "Organization",
      metadata: { name: org },
      spec: { displayName: org },
    } as Obj);
    await until(`org ${org} Ready`, async () =>
      (await read(A, "Organization", org)).status?.conditions?.some(
        (c: any) => c.type === "Ready" && c.status === "True",
      )
        ? true
        : undefined,
    );
    expect((await b.status()).leader).toBe(false);

    // The partition falls the moment A sends its next object write: A is then mid-reconcile,
    // with that write (and those that follow) in flight.
    proxy.partitionWhen((r) => isObjectWrite(r) && r.url.includes(`/namespaces/${ns}/`));
    const apps = Array.from({ length: 4 }, (_, i) => `app-${i}`);
    await Promise.all(apps.map((name) => createApp(ns, name)));
    await until("A partitioned mid-reconcile", async () => (proxy.partitioned ? true : undefined));

    // B takes over once A's lease has expired on B's clock, and does the work.
    await b.waitUntil("B leads", async () => (await b.status()).leader, 60_000);
    const held = await read("coordination.k8s.io/v1", "Lease", "atrium-operator", lease);
    expect(held.spec.holderIdentity).toBe("fenced-b");
    const takeover = timeOf(held.spec.acquireTime);
    for (const name of apps)
      await until(`${name} Running under B`, async () => ((await phase(name, ns)) === "Running" ? true : undefined));

    // The path heals; A gets its connections (and its watches) back, and must stay a follower.
    const healedAt = Date.now();
    proxy.heal();
    await createApp(ns, "after-heal");
    await until("after-heal Running under B", async () =>
      (await phase("after-heal", ns)) === "Running" ? true : undefined,
    );
    // A talks to the apiserver again (its campaign's lease reads get through) and its held
    // watches deliver what it missed: all a leader would act on. It has a few seconds to.
    await a.waitUntil("A reaching the apiserver again", async () =>
      proxy.log.some((r) => r.url.includes("/leases/") && (r.forwardedAt ?? 0) > healedAt),
    );
    await new Promise((r) => setTimeout(r, 3000));

    // The audit: no object write from A reached the apiserver, or was even sent, from the takeover on.
    const writes = proxy.log.filter(isObjectWrite);
    const late = writes.filter((r) => r.sentAt >= takeover || (r.forwardedAt ?? 0) >= takeover);
    expect(late, "writes by the old leader after the new one started").toEqual([]);
    // And the writes caught in flight by the partition were abandoned, never delivered.
    expect(writes.filter((r) => r.dropped).length).toBeGreaterThan(0);
    expect(writes.filter((r) => r.forwardedAt === undefined && !r.dropped)).toEqual([]);

    // A had stopped leading before B took the lease (fenced by its own renew deadline), and
    // stays a follower.
    expect((await a.status()).leader).toBe(false);
    const lost = logLines(a).find((l) => l.msg === "Lost leadership");
    expect(lost, "A logged the end of its term").toBeDefined();
    expect(lost?.level).toBe("error");
    expect(Date.parse(lost?.ts ?? "")).toBeLessThan(takeover);
  });
});
