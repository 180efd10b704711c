// TEMPORARY dev harness (not a test file): keeps a world up for manual schemathesis runs.
import { writeFileSync, existsSync } from "node:fs";
import { inject, it } from "vitest";
import { startWorld } from "./world.ts";

it("dev world", async () => {
  const w = await startWorld({
    kubeconfig: inject("cluster").kubeconfig,
    provider: "sqlite",
    env: { ATRIUM_RATE_STANDARD: "100000/1m", ATRIUM_RATE_INVITATIONS: "100000/1h" },
  });
  const { orgA: org, people } = w;
  const admin = people.admin;
  const detail = await w.call(admin, "GET", `/api/orgs/${org}/members/${admin.member}`);
  const scopes = detail.body.permissions as string[];
  const created = await w.call(admin, "POST", `/api/orgs/${org}/apikeys`, { name: "fuzz", type: "STANDARD", scopes });
  const spare = await w.call(admin, "POST", `/api/orgs/${org}/apikeys`, { name: "spare", type: "STANDARD", scopes: ["members:view"] });
  await w.call(admin, "POST", `/api/orgs/${org}/roles`, { name: "fuzz-role", displayName: "Fuzz", level: 10, permissions: ["members:view"] });
  const target = await w.declareMember(org, `fuzz-target@${org}.example`, "viewer");
  writeFileSync("/tmp/fuzz-env.json", JSON.stringify({ base: w.api.base, org, key: created.body.secret, spare: spare.body.key.id, target, admin, viewer: people.viewer.member }));
  (globalThis as any).w = w;
  while (!existsSync("/tmp/fuzz-stop")) await new Promise((r) => setTimeout(r, 1000));
  writeFileSync("/tmp/fuzz-logs.json", JSON.stringify(w.api.logs.filter((l) => l.message !== "request")));
  await w.stop();
}, 3_600_000);
