import { defineConfig } from "vitest/config";

// Three tiers (see README): unit tests sit beside the code and need nothing running;
// integration tests share one real control plane started by test/global-setup.ts.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["{crds,kube,operator,api,gateway,console}/**/*.test.ts"],
          exclude: ["**/node_modules/**"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          globalSetup: ["test/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          // Two cores: the control plane needs one of them.
          maxWorkers: 2,
        },
      },
    ],
  },
});
