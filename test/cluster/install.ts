// Puts Atrium's CRDs (and, for `make dev`, the sample catalog) into a cluster with
// server-side apply, then waits until the apiserver serves them.
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
