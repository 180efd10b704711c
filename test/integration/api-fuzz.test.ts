// Fuzzes the API through its own OpenAPI document with schemathesis (PyPI, installed by
// scripts/ensure-schemathesis.sh): generated valid and invalid requests against the real API
// on the real control plane must never get a 5xx, and every response must be one the document
// declares, with a body matching its schema. Two runs: one as an Admin API key (every
// operation an API key may call), one as the Admin's browser session (the session-only writes).
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { startWorld, type World } from "./api/world.ts";

const root = join(import.meta.dirname, "..", "..");
/** Per operation and phase; with two runs this keeps the whole test near a minute here. */
const MAX_EXAMPLES = 25;
/** Each run's own budget (schemathesis stops there), and the hard limit it is killed at. */
const RUN_SECONDS = 75;
const CHECKS = ["not_a_server_error", "status_code_conformance", "response_schema_conformance"];

// Never fuzzed:
// - /api/auth/login and /api/auth/callback are the OIDC browser flow: login only redirects to
//   the provider (and records a pending login per call), and the callback needs the provider's
//   one-time authorization code for a pending login; oidc.test.ts tests both for real.
const EXCLUDED_PATHS = ["/api/auth/login", "/api/auth/callback"];
// Not fuzzed with the session: logout would end the very session the run uses (the key run
// calls it: an API key gets the documented 403). suite.ts tests logout.
const EXCLUDED_WITH_SESSION = ["/api/auth/logout"];

let w: World;
let exe: string;
let dir: string;

beforeAll(async () => {
  exe = execFileSync(join(root, "scripts", "ensure-schemathesis.sh"), { encoding: "utf8" }).trim();
  dir = mkdtempSync(join(tmpdir(), "atrium-fuzz-"));
  w = await startWorld({
    kubeconfig: inject("cluster").kubeconfig,
    provider: "sqlite",
    // Thousands of requests from one key and many invitations: a 429 would hide the answer.
    env: { ATRIUM_RATE_STANDARD: "100000/1m", ATRIUM_RATE_INVITATIONS: "100000/1h" },
  });
}, 300_000);

afterAll(async () => {
  await w?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type Run = { name: string; headers: Record<string, string>; parameters: Record<string, string>; args: string[] };

/** schemathesis.toml for one run: fixed seed, deterministic generation, no state kept. */
function config(run: Run): string {
  const table = (name: string, entries: Record<string, string>) =>
    [`[${name}]`, ...Object.entries(entries).map(([k, v]) => `${JSON.stringify(k)} = ${JSON.stringify(v)}`)].join("\n");
  return [
    "seed = 20240601",
    "workers = 1",
    `max-time = ${RUN_SECONDS}`,
    "[generation]",
    "deterministic = true",
    `max-examples = ${MAX_EXAMPLES}`,
    'database = "none"',
    "[cache]",
    "enabled = false",
    table("headers", run.headers),
    table("parameters", run.parameters),
    "",
  ].join("\n");
}

/** Runs schemathesis without blocking: the API answers from this same process. */
function schemathesis(run: Run): Promise<{ code: number | null; output: string }> {
  const file = join(dir, `${run.name}.toml`);
  writeFileSync(file, config(run));
  const args = [
    "--config-file",
    file,
    "--no-color",
    "run",
    `${w.api.base}/api/openapi.json`,
    "--checks",
    CHECKS.join(","),
    "--phases",
    "examples,coverage,fuzzing",
    "--request-timeout",
    "10",
    ...EXCLUDED_PATHS.flatMap((p) => ["--exclude-path", p]),
    ...run.args,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(exe, args, { cwd: dir, env: { ...process.env, NO_COLOR: "1" } });
    let output = "";
    child.stdout.on("data", (d) => {
      output += d;
    });
    child.stderr.on("data", (d) => {
      output += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), (RUN_SECONDS + 30) * 1000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

it("survives schemathesis: no 5xx, only documented statuses and bodies", async () => {
  const { orgA: org, people } = w;
  const admin = people.admin;
  // An Admin key with every permission the Admin holds.
  const detail = await w.call(admin, "GET", `/api/orgs/${org}/members/${admin.member}`);
  expect(detail.status).toBe(200);
  const scopes = detail.body.permissions as string[];
  const created = await w.call(admin, "POST", `/api/orgs/${org}/apikeys`, { name: "fuzz", type: "STANDARD", scopes });
  expect(created.status).toBe(201);
  // Things for the session run to act on, so its writes get past "not found".
  const spare = await w.call(admin, "POST", `/api/orgs/${org}/apikeys`, {
    name: "spare",
    type: "STANDARD",
    scopes: ["members:view"],
  });
  expect(spare.status).toBe(201);
  const role = await w.call(admin, "POST", `/api/orgs/${org}/roles`, {
    name: "fuzz-role",
    displayName: "Fuzz",
    level: 10,
    permissions: ["members:view"],
  });
  expect(role.status).toBe(201);
  const target = await w.declareMember(org, `fuzz-target@${org}.example`, "viewer");

  const runs: Run[] = [
    {
      name: "apikey",
      headers: { Authorization: `Bearer ${created.body.secret}` },
      parameters: { "path.org": org, "path.member": people.viewer.member },
      args: [],
    },
    {
      name: "session",
      headers: { Cookie: admin.cookie, "X-CSRF-Token": admin.csrf },
      parameters: { "path.org": org, "path.member": target, "path.role": "fuzz-role", "path.key": spare.body.key.id },
      // The API key run covered the rest.
      args: [
        "--include-path-regex",
        "^/api/(orgs/\\{org\\}/(members|roles|apikeys)|invitations)",
        ...EXCLUDED_WITH_SESSION.flatMap((p) => ["--exclude-path", p]),
      ],
    },
  ];
  const failures: string[] = [];
  for (const run of runs) {
    const started = Date.now();
    const { code, output } = await schemathesis(run);
    if (process.env.ATRIUM_FUZZ_LOG) writeFileSync(`${process.env.ATRIUM_FUZZ_LOG}.${run.name}.txt`, output);
    console.log(`[fuzz] ${run.name}: exit ${code} after ${Math.round((Date.now() - started) / 1000)} s`);
    if (code !== 0) failures.push(`=== schemathesis as ${run.name} (exit ${code}) ===\n${output}`);
  }
  expect(failures.join("\n\n"), "schemathesis found problems").toBe("");
}, 300_000);
