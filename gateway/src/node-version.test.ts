import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  ALLOW_UNTESTED_NODE,
  checkNodeVersion,
  NodeVersionError,
  NVMRC,
  nodeVersionMismatch,
  pinnedNodeVersion,
  readNvmrc,
} from "./node-version.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

describe("the pinned Node version", () => {
  it("is one exact version, the one package.json's engines names and this test runs on", () => {
    const pinned = pinnedNodeVersion(readNvmrc());
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { engines: { node: string } };
    expect(pkg.engines.node).toBe(pinned);
    expect(process.version).toBe(`v${pinned}`);
  });

  it("refuses a range or a bare major in .nvmrc", () => {
    expect(pinnedNodeVersion("v24.22.3\n")).toBe("24.22.3");
    for (const text of ["24", "24.x", ">=24", "lts/*", ""]) expect(() => pinnedNodeVersion(text)).toThrow(/exact/);
  });

  it("says why another version is refused and how to get the right one", () => {
    expect(nodeVersionMismatch("v24.22.3", "24.22.3")).toBeUndefined();
    for (const other of ["v24.22.2", "v24.23.0", "v25.0.0", "v24.22.30"])
      expect(nodeVersionMismatch(other, "24.22.3")).toMatch(
        new RegExp(
          `runs on Node 24\\.22\\.3 only.*this is Node ${other.slice(1).replaceAll(".", "\\.")}.*${ALLOW_UNTESTED_NODE}=1`,
        ),
      );
  });

  it("stops the start on another version unless the escape hatch is set, and then says so loudly", () => {
    const lines: [string, unknown, unknown][] = [];
    const log = (m: string, f?: unknown, l?: unknown) => void lines.push([m, f, l]);
    const check = (running: string, env: NodeJS.ProcessEnv) =>
      checkNodeVersion({ running, nvmrc: "24.22.3\n", env, log });
    check("v24.22.3", {});
    expect(() => check("v24.21.0", {})).toThrow(NodeVersionError);
    expect(() => check("v24.21.0", { [ALLOW_UNTESTED_NODE]: "true" })).toThrow(NodeVersionError);
    expect(lines).toEqual([]);
    check("v24.21.0", { [ALLOW_UNTESTED_NODE]: "1" });
    expect(lines).toEqual([
      [
        "UNTESTED NODE VERSION: the gateway runs on Node 24.21.0, not 24.22.3",
        { pinned: "24.22.3", running: "v24.21.0", allowedBy: `${ALLOW_UNTESTED_NODE}=1` },
        "warn",
      ],
    ]);
  });

  it("names the file when .nvmrc is missing (an image that left it out)", () => {
    expect(() => readNvmrc("/nonexistent/.nvmrc")).toThrow(/\/nonexistent\/\.nvmrc/);
    expect(NVMRC).toBe(join(ROOT, ".nvmrc"));
  });
});

describe("scripts/ensure-node.sh", () => {
  // A machine's node and a cached one, each a script that answers --version (and, as the
  // script before the pin asked, -p for the major).
  const fakeNode = (dir: string, version: string) => {
    mkdirSync(dir, { recursive: true });
    const major = version.split(".")[0];
    writeFileSync(join(dir, "node"), `#!/bin/sh\n[ "$1" = --version ] && echo v${version} || echo ${major}\n`);
    chmodSync(join(dir, "node"), 0o755);
    return dir;
  };
  const ensure = (machineVersion: string) => {
    const tmp = mkdtempSync(join(tmpdir(), "atrium-ensure-node-"));
    const pinned = pinnedNodeVersion(readNvmrc());
    const machine = fakeNode(join(tmp, "machine"), machineVersion);
    const cached = fakeNode(join(tmp, "cache", `node-v${pinned}`, "bin"), pinned);
    try {
      const out = execFileSync("bash", [join(ROOT, "scripts/ensure-node.sh")], {
        env: { PATH: `${machine}:/usr/bin:/bin`, ATRIUM_CACHE: join(tmp, "cache"), HOME: tmp },
        encoding: "utf8",
      }).trim();
      return { out, machine, cached };
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  };

  it("takes the machine's node only when it is exactly the pinned version", () => {
    const pinned = pinnedNodeVersion(readNvmrc());
    const exact = ensure(pinned);
    expect(exact.out).toBe(exact.machine);
    const [major, minor] = pinned.split(".").map(Number) as [number, number];
    for (const other of [`${major}.${minor + 1}.0`, `${major}.0.0`, `${major + 1}.0.0`, `${major - 4}.20.2`]) {
      const r = ensure(other);
      expect(r.out, `machine node ${other}`).toBe(r.cached);
    }
  });
});
