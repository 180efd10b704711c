// Services on the real node: kube-proxy (nftables mode) started by the harness with
// `realNode.services`, so a pod reaches the apiserver through the in-cluster `kubernetes`
// Service with its ServiceAccount token (checking the apiserver's certificate for the Service
// IP), and another pod through a ClusterIP Service; and kube-proxy's tables and lock go with the
// node however the harness ends. (Nodes with kube-proxy run one at a time on the machine, so
// the timeouts leave room for waiting on another run's node.) Skipped, with the reason
// printed, where the machine cannot run containers.
import { execFile, execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, kubectlIn, processesUsing, startControlPlane } from "../cluster/controlplane.ts";
import { realNodeUnsupported } from "../cluster/real-node.ts";
import { until } from "./kube.ts";

const unsupported = realNodeUnsupported();
if (unsupported) console.log(`[real-node-network] skipped: ${unsupported}`);

const NS = "net";
const PLACEMENT = {
  nodeSelector: { type: "real" },
  tolerations: [{ key: "atrium.dev/real-node", operator: "Exists" }],
};

/**
 * What the caller pod runs (Node, from the demo image): asks the apiserver who it is through
 * the `kubernetes` Service (TLS checked against the ServiceAccount's CA), writes a note to the
 * notes pod through its Service and reads the notes back; retries each for 30 s, then prints
 * one JSON line of what it got.
 */
const CALLER = `
const fs = require("node:fs"), https = require("node:https"), http = require("node:http");
const sa = "/var/run/secrets/kubernetes.io/serviceaccount";
const call = (mod, options, body) => new Promise((resolve) => {
  const req = mod.request({ timeout: 3000, ...options }, (res) => {
    let data = ""; res.setEncoding("utf8");
    res.on("data", (c) => (data += c));
    res.on("end", () => resolve({ status: res.statusCode, body: data }));
  });
  req.on("timeout", () => req.destroy(new Error("timeout")));
  req.on("error", (e) => resolve({ error: e.message }));
  req.end(body);
});
const retry = async (f) => { let r; for (let i = 0; i < 30; i++) { r = await f(); if (r.status) return r; await new Promise((s) => setTimeout(s, 1000)); } return r; };
(async () => {
  const review = await retry(() => call(https, {
    host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT,
    path: "/apis/authentication.k8s.io/v1/selfsubjectreviews", method: "POST",
    ca: fs.readFileSync(sa + "/ca.crt"),
    headers: { authorization: "Bearer " + fs.readFileSync(sa + "/token", "utf8"), "content-type": "application/json" },
  }, JSON.stringify({ apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" })));
  const note = await retry(() => call(http, { host: process.env.NOTES_HOST, port: 80, path: "/", method: "POST", headers: { "content-type": "text/plain" } }, "through the Service"));
  const notes = await retry(() => call(http, { host: process.env.NOTES_HOST, port: 80, path: "/notes" }));
  let user;
  try { user = JSON.parse(review.body).status.userInfo.username; } catch {}
  console.log(JSON.stringify({ apiserver: review.status ?? review.error, user, write: note.status ?? note.error, notes: notes.body ?? notes.error }));
})();
`;

describe.skipIf(!!unsupported)("Services on a real node", () => {
  let cp: ControlPlane;
  const kubectl = (...args: string[]) => kubectlIn(cp.binDir, cp.kubeconfig, ...args).run();
  const apply = (object: object) =>
    kubectlIn(cp.binDir, cp.kubeconfig, "apply", "-f", "-").stdin(JSON.stringify(object));

  beforeAll(async () => {
    cp = await startControlPlane({ realNode: { images: ["demo-notes"], services: true } });
    apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
    apply({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "caller", namespace: NS } });
  }, 600_000);

  afterAll(async () => {
    await cp?.stop();
  });

  it("the apiserver's certificate names the `kubernetes` Service's IP", () => {
    const serviceIp = kubectl("get", "service", "kubernetes", "-n", "default", "-o", "jsonpath={.spec.clusterIP}");
    const cert = execFileSync(
      "openssl",
      ["x509", "-noout", "-ext", "subjectAltName", "-in", `${cp.dir}/pki/apiserver.crt`],
      {
        encoding: "utf8",
      },
    );
    expect(cert).toContain(`IP Address:${serviceIp}`);
  });

  it("a pod reaches the apiserver through the `kubernetes` Service with its token, and another pod through a Service", async () => {
    apply({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "notes", namespace: NS, labels: { app: "notes" } },
      spec: {
        ...PLACEMENT,
        securityContext: { runAsNonRoot: true, runAsUser: 10001 },
        containers: [
          {
            name: "notes",
            image: "atrium/demo-notes:0.1.0",
            imagePullPolicy: "Never",
            readinessProbe: { httpGet: { path: "/healthz", port: 8080 }, periodSeconds: 1 },
            volumeMounts: [{ name: "data", mountPath: "/data" }],
          },
        ],
        volumes: [{ name: "data", emptyDir: {} }],
      },
    });
    apply({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "notes", namespace: NS },
      spec: { selector: { app: "notes" }, ports: [{ port: 80, targetPort: 8080 }] },
    });
    kubectl("wait", "--for=condition=Ready", "--timeout=90s", "-n", NS, "pod/notes");
    const notesIp = kubectl("get", "service", "notes", "-n", NS, "-o", "jsonpath={.spec.clusterIP}");
    apply({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "caller", namespace: NS },
      spec: {
        ...PLACEMENT,
        serviceAccountName: "caller",
        restartPolicy: "Never",
        securityContext: { runAsNonRoot: true, runAsUser: 10001 },
        containers: [
          {
            name: "caller",
            image: "atrium/demo-notes:0.1.0",
            imagePullPolicy: "Never",
            args: ["-e", CALLER],
            env: [{ name: "NOTES_HOST", value: notesIp }],
          },
        ],
      },
    });
    await until(
      "the caller pod to finish",
      async () =>
        ["Succeeded", "Failed"].includes(kubectl("get", "pod", "caller", "-n", NS, "-o", "jsonpath={.status.phase}")),
      120_000,
      500,
    );
    const seen = JSON.parse(kubectl("logs", "caller", "-n", NS).trim().split("\n").at(-1) as string);
    expect(seen).toMatchObject({
      apiserver: 201,
      user: `system:serviceaccount:${NS}:caller`,
      write: expect.any(Number),
    });
    expect(seen.write).toBeLessThan(400);
    expect(JSON.parse(seen.notes)).toEqual(
      expect.arrayContaining([expect.objectContaining({ text: "through the Service" })]),
    );
  }, 600_000);
});

// kube-proxy's part of the node's cleanup, when the process holding the cluster dies without
// a chance to clean up (the rest of the cleanup is checked in real-node.test.ts).
const run = promisify(execFile);
const FIXTURE = fileURLToPath(new URL("../cluster/fixtures/real-node-and-die.ts", import.meta.url));
const { ATRIUM_KUBECONFIG: _reuse, ...env } = process.env;

describe.skipIf(!!unsupported)("kube-proxy leaves nothing behind", () => {
  it.each(["throw", "sigkill"])(
    "after the harness process dies (%s)",
    async (how) => {
      const result = await run(process.execPath, [FIXTURE, how, "services"], { env }).then(
        () => {
          throw new Error("expected the child process to fail");
        },
        (error: { code?: number; signal?: string; stdout: string }) => error,
      );
      if (how === "sigkill") expect(result.signal).toBe("SIGKILL");
      const seen = JSON.parse(result.stdout) as { dir: string; nftTables: string[] };
      // It was there: the node ran kube-proxy, which made its tables.
      expect(seen.nftTables).toContain("table ip kube-proxy");
      const leftovers = () => ({
        processes: processesUsing(seen.dir).map((p) => p.cmd),
        // real-node.sh checks, still holding the lock, that the tables went; another test's node
        // may take the lock and make its own tables right after, so the machine's tables alone
        // cannot say whose they are.
        said: nodeLog(seen.dir).filter((line) => line.includes("kube-proxy's tables")),
        strayTables: kubeProxyTablesIfNoNodeRunsIt(),
      });
      const clean = { processes: [], said: ["kube-proxy's tables deleted"], strayTables: [] };
      await until(
        "kube-proxy cleaned up",
        async () => JSON.stringify(leftovers()) === JSON.stringify(clean),
        30_000,
      ).catch(() => undefined);
      expect(leftovers()).toEqual(clean);
      rmSync(seen.dir, { recursive: true, force: true });
    },
    600_000,
  );
});

/** What real-node.sh said, without its timestamps. */
function nodeLog(dir: string): string[] {
  const log = join(dir, "logs", "real-node.log");
  if (!existsSync(log)) return [];
  return readFileSync(log, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => line.replace(/^\S+ real-node: /, ""));
}

/**
 * kube-proxy's tables on the machine, read while holding the nodes' kube-proxy lock: with it,
 * no node runs kube-proxy, so any table there is a leftover. [] when a node holds the lock (its
 * tables are its own; it deleted any leftovers before starting kube-proxy).
 */
function kubeProxyTablesIfNoNodeRunsIt(): string[] {
  const HELD = 75;
  try {
    return execFileSync("flock", ["-n", "-E", String(HELD), "/run/atrium-kube-proxy.lock", "nft", "list", "tables"], {
      encoding: "utf8",
    })
      .split("\n")
      .filter((t) => t.endsWith(" kube-proxy"));
  } catch (error) {
    if ((error as { status?: number }).status === HELD) return [];
    throw error;
  }
}
