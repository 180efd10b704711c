// The control plane's Helm (test/cluster/build-binaries.sh) is built with the version flags of
// Helm's own Makefile, as the chart tools' Helm is: a plain `go install` leaves charts seeing
// Kubernetes v1.20 in `.Capabilities.KubeVersion` (so `helm template` renders for a cluster
// seven years old) and calls itself "v3.19+unreleased".
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { ensureBinaries } from "../cluster/controlplane.ts";

const chart = mkdtempSync(join(tmpdir(), "atrium-helm-version-"));
afterAll(() => rmSync(chart, { recursive: true, force: true }));

it("renders charts for the pinned Kubernetes minor and reports its own version", () => {
  const helm = join(ensureBinaries(), "helm");
  mkdirSync(join(chart, "templates"));
  writeFileSync(join(chart, "Chart.yaml"), "apiVersion: v2\nname: probe\nversion: 0.1.0\n");
  writeFileSync(join(chart, "templates", "kube.yaml"), "# kube {{ .Capabilities.KubeVersion.Version }}\n");
  const rendered = execFileSync(helm, ["template", "probe", chart], { encoding: "utf8" });
  const pinned = (process.env.KUBE_VERSION ?? "v1.34.4").split(".").slice(0, 2).join(".");
  expect(rendered).toContain(`# kube ${pinned}.0`);
  expect(execFileSync(helm, ["version", "--short"], { encoding: "utf8" }).trim()).toBe(
    process.env.HELM_VERSION ?? "v3.19.5",
  );
});
