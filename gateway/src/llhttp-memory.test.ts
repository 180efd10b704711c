// The gateway hands node's internal llhttp parser around by hand (consume, unconsume, close):
// freeing it while node still uses it is a use-after-free that a normal run may survive by luck.
// This runs fixtures/parser-stress.ts under glibc's checking allocator, which fills freed memory
// and checks the heap, so such a mistake crashes it here (it caught one in the upgrade path).
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const DEBUG_MALLOC = "/lib/x86_64-linux-gnu/libc_malloc_debug.so.0";
const STRESS = fileURLToPath(new URL("./fixtures/parser-stress.ts", import.meta.url));

describe("llhttp parser lifetime", () => {
  // glibc's debug allocator ships with Debian's libc6; without it there is nothing to check with.
  it.skipIf(!existsSync(DEBUG_MALLOC))(
    "survives upgrades, parse errors, destroys, pipelining and early exits under a checking allocator",
    async () => {
      const result = await new Promise<{ code: number | null; signal: string | null; out: string }>((resolve) => {
        const child = execFile(
          process.execPath,
          [STRESS, "50"],
          {
            env: { ...process.env, LD_PRELOAD: DEBUG_MALLOC, MALLOC_CHECK_: "3", MALLOC_PERTURB_: "165" },
            timeout: 60_000,
          },
          (_error, stdout, stderr) => resolve({ code: child.exitCode, signal: child.signalCode, out: stdout + stderr }),
        );
      });
      expect(result).toMatchObject({ code: 0, signal: null });
      expect(result.out).toContain("done");
    },
    90_000,
  );
});
