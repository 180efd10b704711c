// Puts Atrium's CRDs (and, for `make dev`, the sample catalog) into a cluster with
// server-side apply, then waits until the apiserver serves them.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { crdManifests } from "@atrium/crds";
import { kubectlIn } from "./controlplane.ts";

const CATALOG_DIR = fileURLToPath(new URL("../../crds/catalog/", import.meta.url));
export const FIELD_MANAGER = "atrium-install";

type Cluster = { binDir: string; kubeconfig: string };

const kubectl = (c: Cluster, ...args: string[]) => kubectlIn(c.binDir, c.kubeconfig, ...args);

export function installCrds(cluster: Cluster): void {
  const list = { apiVersion: "v1", kind: "List", items: crdManifests() };
  kubectl(cluster, "apply", "--server-side", `--field-manager=${FIELD_MANAGER}`, "-f", "-").stdin(JSON.stringify(list));
  kubectl(
    cluster,
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    ...crdManifests().map((c) => `crd/${c.metadata.name}`),
  ).run();
}

const GATEWAY_API_CRDS_SCRIPT = fileURLToPath(new URL("./gateway-api-crds.sh", import.meta.url));

/**
 * The Gateway API's own CRDs, from its Go module (the harness has none; the operator refuses
 * Gateway API mode without them), applied and waited for as served.
 */
export function installGatewayApiCrds(cluster: Cluster): void {
  const crds = execFileSync("bash", [GATEWAY_API_CRDS_SCRIPT], { encoding: "utf8" })
    .trim()
    .split("\n")
    .at(-1) as string;
  kubectl(cluster, "apply", "--server-side", "-f", crds).run();
  kubectl(
    cluster,
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "crd/httproutes.gateway.networking.k8s.io",
  ).run();
}

export const catalogFiles = () =>
  readdirSync(CATALOG_DIR)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => join(CATALOG_DIR, f));

export function installCatalog(cluster: Cluster): string {
  const args = catalogFiles().flatMap((f) => ["-f", f]);
  return kubectl(cluster, "apply", "--server-side", `--field-manager=${FIELD_MANAGER}`, ...args).run();
}

export const readCatalog = () => catalogFiles().map((f) => readFileSync(f, "utf8"));
