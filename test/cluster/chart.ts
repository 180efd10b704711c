// The Helm chart on the harness's real node: Atrium's own image (built offline, imported into
// the node), every component placed on the real node, and what a test or benchmark needs to
// install it and see it Ready. Needs a control plane started with
// `realNode: { images: [..., "atrium"], services: true }` (the components reach the apiserver
// through the `kubernetes` Service).
import { execFileSync } from "node:child_process";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ControlPlane } from "./controlplane.ts";
import { IMAGES_BY_NAME, REAL_NODE_LABEL, REAL_NODE_TAINT } from "./real-node.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const CHART = join(ROOT, "charts", "atrium");
export const CATALOG_CHART = join(ROOT, "charts", "atrium-catalog");
export const COMPONENTS = ["operator", "gateway", "api"] as const;

/** The chart tools' Helm (built with the version flags, so it sees Kubernetes 1.34). */
export function chartHelm(): string {
  const out = execFileSync("bash", [join(ROOT, "charts", "tools.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  return `${out.trim().split("\n").at(-1)}/helm`;
}

/**
 * Values that put every Atrium pod on the real node, running the image imported there (no
 * registry: `Never` pull), one replica each (two cores shared by the whole machine).
 */
export function realNodeValues(replicas = 1) {
  const [repository, tag] = IMAGES_BY_NAME.atrium.ref.split(/:(?=[^:]+$)/) as [string, string];
  const placement = {
    replicas,
    nodeSelector: { [REAL_NODE_LABEL.key]: REAL_NODE_LABEL.value },
    tolerations: [{ key: REAL_NODE_TAINT, operator: "Exists", effect: "NoSchedule" }],
  };
  return {
    image: { repository, tag, pullPolicy: "Never" },
    operator: placement,
    gateway: placement,
    api: placement,
  };
}

/** The SQLite claim the chart makes for a release (atrium.fullname + `-api-data`). */
export const apiClaim = (release: string) => `${release.includes("atrium") ? release : `${release}-atrium`}-api-data`;

type Pod = {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { nodeName?: string; containers: { image: string }[] };
  status: { phase?: string; conditions?: { type: string; status: string }[] };
};

/** The release's pods (all components), as kubectl lists them. */
export function releasePods(cp: ControlPlane, namespace: string, release: string): Pod[] {
  const out = execFileSync(
    join(cp.binDir, "kubectl"),
    [
      `--kubeconfig=${cp.kubeconfig}`,
      "get",
      "pods",
      "-n",
      namespace,
      "-l",
      `app.kubernetes.io/instance=${release}`,
      "-o",
      "json",
    ],
    { encoding: "utf8" },
  );
  return (JSON.parse(out) as { items: Pod[] }).items.filter((p) => !p.metadata.deletionTimestamp);
}

const isReady = (pod: Pod) => pod.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

/** True once each component has `replicas` pods and every one of them is Ready. */
export function everyComponentReady(pods: Pod[], replicas: number): boolean {
  return COMPONENTS.every((c) => {
    const mine = pods.filter((p) => p.metadata.labels?.["app.kubernetes.io/component"] === c);
    return mine.length === replicas && mine.every(isReady);
  });
}

export type FrontDoor = {
  /** http://<host>:<port>, known before anything behind it exists. */
  url: string;
  /** Where requests go from now on (a Service's ClusterIP and port); until then 503. */
  forwardTo(target: string): void;
  stop(): Promise<void>;
};

/**
 * What a LoadBalancer or an Ingress gives a real cluster, on an address both the machine and the
 * real node's pods reach (the node's bridge address): requests forwarded as they came, Host
 * included, to a Service. Its address is known before the release exists, so the values that
 * name where browsers reach the API (api.publicUrl) can be given at install.
 */
export async function startFrontDoor(host: string): Promise<FrontDoor> {
  let target: URL | undefined;
  const server = createServer((req, res) => {
    if (!target) {
      res.statusCode = 503;
      return void res.end("nothing behind the front door yet");
    }
    const upstream = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => {
      if (!res.headersSent) res.statusCode = 502;
      res.end();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    forwardTo: (url) => {
      target = new URL(url);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
