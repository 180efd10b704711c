import { describe, expect, it } from "vitest";
import { jsonLogger } from "./log.ts";

describe("jsonLogger", () => {
  const capture = () => {
    const lines: Record<string, unknown>[] = [];
    return { lines, log: jsonLogger("atrium-test", (l) => lines.push(JSON.parse(l))) };
  };

  it("writes level info by default, with the component, message and fields", () => {
    const { lines, log } = capture();
    log("Caches synced", { informers: 3 });
    expect(lines[0]).toMatchObject({ level: "info", component: "atrium-test", msg: "Caches synced", informers: 3 });
    expect(typeof lines[0]?.ts).toBe("string");
  });

  it("writes the level a failure is logged at", () => {
    const { lines, log } = capture();
    log("Lease update failed", { error: "timeout" }, "error");
    log("Access policies are not enforced", {}, "warn");
    expect(lines.map((l) => l.level)).toEqual(["error", "warn"]);
  });
});
