import { defineConfig } from "vitest/config";
export default defineConfig({
  test: { root: "/work/main", include: ["test/integration/api/fuzz-dev.scratch.ts"], globalSetup: ["test/global-setup.ts"], testTimeout: 3_600_000, hookTimeout: 300_000 },
});
