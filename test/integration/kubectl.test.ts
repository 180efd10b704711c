// What a platform engineer sees with plain kubectl: printer columns, short names, and the
// `atrium` category listing every kind at once.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { installCatalog } from "../cluster/install.ts";
import { cluster, type Obj, unique } from "./kube.ts";

const { objects, kubectl, info } = cluster();
const org = unique("kubectl");
const ns = `org-${org}`;
const example = (kind: string): any =>
  parse(readFileSync(fileURLToPath(new URL(`../../crds/examples/${kind}.yaml`, import.meta.url)), "utf8"));
const into = (o: any): Obj => ({ ...o, metadata: { ...o.metadata, namespace: ns } });

/** The header row of `kubectl get`, split on the two-or-more-space column gaps. */
const header = (...args: string[]) => (kubectl("get", ...args).split("\n")[0] ?? "").trim().split(/\s{2,}/);

beforeAll(async () => {
  installCatalog(info);
  await objects.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  await objects.create({ ...example("organization"), metadata: { name: org } });
  await objects.create(into(example("orgrole")));
  await objects.create(into(example("member")));
  await objects.create(into(example("appinstance")));
});

describe("kubectl get", () => {
  it.each([
    ["organizations", [], ["NAME", "DISPLAY NAME", "NAMESPACE", "MEMBERS", "APPS", "RUNNING", "READY", "AGE"]],
    ["orgroles", ["-n", "NS"], ["NAME", "DISPLAY NAME", "LEVEL", "BUILT-IN", "MEMBERS", "AGE"]],
    ["members", ["-n", "NS"], ["NAME", "EMAIL", "ROLE", "PHASE", "LAST LOGIN", "AGE"]],
    ["apptemplates", [], ["NAME", "DISPLAY NAME", "CATEGORY", "VERSION", "TRIAL DAYS", "READY", "AGE"]],
    [
      "appinstances",
      ["-n", "NS"],
      ["NAME", "TEMPLATE", "VERSION", "PHASE", "HEALTH", "LAST ACTIVITY", "STOPS AT", "AGE"],
    ],
  ])("%s shows its printer columns", (plural, extra, columns) => {
    expect(header(plural, ...extra.map((a) => a.replace("NS", ns)))).toEqual(columns);
  });

  it("shows values in the columns", () => {
    const row = kubectl("get", "members", "-n", ns, "alice", "--no-headers");
    expect(row).toMatch(/^alice\s+alice@acme\.example\s+support\s+/);
    const template = kubectl("get", "apptemplate", "nextcloud", "--no-headers");
    expect(template).toMatch(/^nextcloud\s+Nextcloud\s+Productivity\s+30\.0\.4-apache\s+30\s/);
  });

  it("adds the URL and image columns with -o wide", () => {
    expect(header("appinstances", "-n", ns, "-o", "wide")).toContain("URL");
    expect(header("apptemplates", "-o", "wide")).toContain("IMAGE");
  });

  it("knows the short names", () => {
    for (const [short, args] of [
      ["org", []],
      ["orole", ["-n", ns]],
      ["mbr", ["-n", ns]],
      ["apptpl", []],
      ["app", ["-n", ns]],
    ] as const)
      expect(kubectl("get", short, ...args, "-o", "name"), short).not.toBe("");
  });

  it("lists every Atrium kind with `kubectl get atrium -A`", () => {
    const names = kubectl("get", "atrium", "-A", "-o", "name").split("\n");
    for (const expected of [
      `organization.atrium.dev/${org}`,
      "orgrole.atrium.dev/support",
      "member.atrium.dev/alice",
      "apptemplate.atrium.dev/nextcloud",
      "appinstance.atrium.dev/files",
    ])
      expect(names).toContain(expected);
  });
});
