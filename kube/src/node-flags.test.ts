import { describe, expect, it } from "vitest";
import { applyNodeFlags, missingNodeFlags, NODE_FLAGS_APPLIED, NodeFlagsError, nodeFlagsFrom } from "./node-flags.ts";

describe("nodeFlagsFrom", () => {
  it("takes a program's own flags, or an override instead (empty for none)", () => {
    expect(nodeFlagsFrom(undefined, ["--a=1"])).toEqual(["--a=1"]);
    expect(nodeFlagsFrom(" --b=2  --c ", ["--a=1"])).toEqual(["--b=2", "--c"]);
    expect(nodeFlagsFrom("", ["--a=1"])).toEqual([]);
  });
});

describe("missingNodeFlags", () => {
  it("finds the flags given on the command line or in NODE_OPTIONS", () => {
    const wanted = ["--max-semi-space-size=8", "--max-old-space-size=192"];
    expect(missingNodeFlags(wanted, [], undefined)).toEqual(wanted);
    expect(missingNodeFlags(wanted, ["--max-semi-space-size=8"], "--max-old-space-size=192")).toEqual([]);
    // Another value is not the wanted one.
    expect(missingNodeFlags(wanted, ["--max-semi-space-size=16"], "")).toEqual(wanted);
  });
});

describe("applyNodeFlags", () => {
  const proc = (execArgv: string[], env: NodeJS.ProcessEnv = {}) => {
    const calls: [string, string[], NodeJS.ProcessEnv][] = [];
    return {
      calls,
      execPath: "/opt/node/bin/node",
      argv: ["/opt/node/bin/node", "/app/main.ts", "--x"],
      execArgv,
      env,
      execve: ((file: string, args: string[], env: NodeJS.ProcessEnv) => {
        calls.push([file, args, env]);
        throw new Error("replaced"); // the real one does not return
      }) as NodeJS.Process["execve"],
    };
  };

  it("starts the program again, in the same process, with the flags it lacks before its own", () => {
    const p = proc(["--enable-source-maps"], { HOME: "/root" });
    expect(() => applyNodeFlags(["--max-semi-space-size=64"], p)).toThrow("replaced");
    expect(p.calls).toEqual([
      [
        "/opt/node/bin/node",
        ["/opt/node/bin/node", "--max-semi-space-size=64", "--enable-source-maps", "/app/main.ts", "--x"],
        { HOME: "/root", [NODE_FLAGS_APPLIED]: "--max-semi-space-size=64" },
      ],
    ]);
  });

  it("does nothing when started with them, and never starts again twice", () => {
    const given = proc(["--max-semi-space-size=64"]);
    applyNodeFlags(["--max-semi-space-size=64"], given);
    expect(given.calls).toEqual([]);
    const again = proc([], { [NODE_FLAGS_APPLIED]: "--max-semi-space-size=64" });
    expect(() => applyNodeFlags(["--max-semi-space-size=64"], again)).toThrow(NodeFlagsError);
    expect(again.calls).toEqual([]);
  });
});
