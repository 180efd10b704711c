// Renders the CRD YAML files committed under crds/manifests/ (what `kubectl apply -f` and the
// Helm chart use). A unit test fails when the committed files differ from this output.
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { crdManifests } from "./index.ts";

export const MANIFEST_DIR = fileURLToPath(new URL("../manifests/", import.meta.url));

const HEADER = "# Generated from crds/src by `npm run crds:generate`. Do not edit.\n";

/** File name → YAML text for every CRD. */
export function renderManifests(): Map<string, string> {
  return new Map(crdManifests().map((crd) => [`${crd.metadata.name}.yaml`, HEADER + stringify(crd, { lineWidth: 0 })]));
}
