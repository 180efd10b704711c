// Fuzzes the API through its own OpenAPI document with schemathesis (PyPI, installed by
// scripts/ensure-schemathesis.sh): generated valid and invalid requests against the real API
// on the real control plane must never get a 5xx, and every response must have a status the
// document declares for the operation, with a body matching its schema. Two runs: one as an
// Admin API key (every operation; the session-only ones must answer the documented 403), one
// as the Admin's browser session (the operations of members, roles, API keys, invitations).
//
// Reproducible: a fixed seed, one worker, no example database. To explore, set
// ATRIUM_FUZZ_SEED to another seed, ATRIUM_FUZZ_EXAMPLES higher, ATRIUM_FUZZ_DB=postgresql
// for the other database (it refuses text that SQLite takes); ATRIUM_FUZZ_LOG=<prefix> keeps
// each run's report in <prefix>.<run>.txt.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { namespaceFor, PERMISSIONS } from "@atrium/crds";
import { R } from "@atrium/kube";
import { afterAll, beforeAll, expect, it } from "vitest";
import { until } from "../cluster/until.ts";
import { startWorld, type World } from "./api/world.ts";

const root = join(import.meta.dirname, "..", "..");
const SEED = Number(process.env.ATRIUM_FUZZ_SEED ?? 20240601);
/** Per operation and phase: the key's run takes about 70 s here (80 operations), the session's 20 s; twice that under CI's load. */
const MAX_EXAMPLES = Number(process.env.ATRIUM_FUZZ_EXAMPLES ?? 100);
/** A run still going after this is killed (and fails): a hang, not a slow machine. */
const RUN_LIMIT_MS = 300_000;
const CHECKS = [
  "not_a_server_error",
  "status_code_conformance",
  "response_schema_conformance",
  "content_type_conformance",
  "response_headers_conformance",
  "unsupported_method",
];
// Not used: positive_data_acceptance and negative_data_rejection flag business rules the
// schema cannot state (a role that does not exist, an opaque cursor, an unknown invitation
// token) and TypeBox's lenient query coercion (limit=true is 1); the stateful phase needs
// OpenAPI links, which the document has none of.

// Never fuzzed: /api/auth/login and /api/auth/callback are the OIDC browser flow. Login only
// redirects to the provider (recording a pending login per call); the callback needs the
// provider's one-time code for a pending login. oidc.test.ts and suite.ts test both for real.
const EXCLUDED_PATHS = ["/api/auth/login", "/api/auth/callback"];
// Not fuzzed with the session: logout ends the very session the run uses (the key run calls
// it and gets the documented 403). suite.ts tests logout.
const EXCLUDED_WITH_SESSION = ["/api/auth/logout"];

let w: World;
let exe: string;
let dir: string;

beforeAll(async () => {
  exe = execFileSync(join(root, "scripts", "ensure-schemathesis.sh"), { encoding: "utf8" }).trim();
  dir = mkdtempSync(join(tmpdir(), "atrium-fuzz-"));
  w = await startWorld({
    provider: process.env.ATRIUM_FUZZ_DB === "postgresql" ? "postgresql" : "sqlite",
    // Thousands of requests from one key, hundreds of invitations: a 429 would hide the answer.
    env: { ATRIUM_RATE_STANDARD: "100000/1m", ATRIUM_RATE_INVITATIONS: "100000/1h" },
  });
}, 300_000);

afterAll(async () => {
  await w?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A fixed value, or a dictionary of values that schemathesis mixes into the generated ones. */
type Params = Record<string, string | { dictionary: string; probability: number }>;

/**
 * Roles that exist: an invitation or role change naming a random role stops at "no such
 * role", so half the generated ones are replaced by these to reach the apiserver.
 */
const ROLES = ["member", "viewer", "fuzz-role"];
/**
 * Addresses that pass the API's email check yet sit at the edge of what the apiserver's (Go's
 * net/mail) accepts; generated addresses rarely do. Mixed into a fifth of the invitations.
 */
const EMAILS = [
  "a@b..com",
  "a.@b.com",
  "a@b.com.",
  "a\u0007@b.com",
  "<a@b.com>",
  '"q"@b.com',
  "a@[1.2.3.4]",
  "é@b.com",
];
/** Text that databases and parsers treat specially, mixed into a tenth of all generated strings. */
const STRINGS = ["a\u0000b", "\u0000", "😀", "a\u202eb", "%00", "../x", "' OR '1'='1", "\\", "\ud7ff\ue000"];
const DICTIONARIES = { roles: ROLES, emails: EMAILS, strings: STRINGS };
const BOUND: Params = {
  ...Object.fromEntries(
    ["body.role", "query.role", "query.reassignTo"].map((k) => [k, { dictionary: "roles", probability: 0.5 }]),
  ),
  "body.email": { dictionary: "emails", probability: 0.2 },
};
type Run = {
  name: string;
  headers: Record<string, string>;
  /** Fixed values for parameters ("path.org"), so requests reach real objects. */
  parameters: Params;
  /** Per operation ("DELETE /api/orgs/{org}/roles/{role}"), overriding `parameters`. */
  operations?: Record<string, Params>;
  args: string[];
};

/** schemathesis.toml for one run. */
function config(run: Run): string {
  const entries = (e: Params) =>
    Object.entries(e).map(
      ([k, v]) =>
        `${JSON.stringify(k)} = ${typeof v === "string" ? JSON.stringify(v) : `{ dictionary = ${JSON.stringify(v.dictionary)}, probability = ${v.probability} }`}`,
    );
  return [
    `seed = ${SEED}`,
    "workers = 1",
    "[generation]",
    `max-examples = ${MAX_EXAMPLES}`,
    'database = "none"',
    // Authentication is ours (headers below): generated credentials would replace it.
    "with-security-parameters = false",
    'dictionaries.string = { dictionary = "strings", probability = 0.1 }',
    "[cache]",
    "enabled = false",
    ...Object.entries(DICTIONARIES).flatMap(([name, values]) => [
      `[dictionaries.${name}]`,
      `values = ${JSON.stringify(values)}`,
    ]),
    "[headers]",
    ...entries(run.headers),
    "[parameters]",
    ...entries({ ...BOUND, ...run.parameters }),
    ...Object.entries(run.operations ?? {}).flatMap(([name, params]) => [
      "[[operations]]",
      `include-name = ${JSON.stringify(name)}`,
      "[operations.parameters]",
      ...entries(params),
    ]),
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
    // The report shows the requests that failed as they were sent (the key and session are throwaway).
    "--output-sanitize",
    "false",
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
    const timer = setTimeout(() => {
      output += `\n[killed after ${RUN_LIMIT_MS / 1000} s]`;
      child.kill("SIGKILL");
    }, RUN_LIMIT_MS);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

it("survives schemathesis: no 5xx, only documented statuses, headers and bodies", async () => {
  const { orgA: org, people } = w;
  const admin = people.admin;
  const post = async (path: string, body: unknown) => {
    const res = await w.call(admin, "POST", `/api/orgs/${org}${path}`, body);
    if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  // The Admin holds every permission; their key gets them all.
  const key = await post("/apikeys", { name: "fuzz", type: "STANDARD", scopes: [...PERMISSIONS] });
  // Objects for the session run's writes to act on, one per destructive operation so that a
  // delete early in the run does not leave the others with nothing but 404s.
  const spareKey = await post("/apikeys", { name: "spare", type: "STANDARD", scopes: ["members:view"] });
  const keyToRevoke = await post("/apikeys", { name: "doomed", type: "STANDARD", scopes: ["members:view"] });
  for (const name of ["fuzz-role", "fuzz-doomed"])
    await post("/roles", { name, displayName: name, level: 10, permissions: ["members:view"] });
  const declare = (who: string) => w.declareMember(org, `${who}@${org}.example`, "viewer");
  const target = await declare("fuzz-target");
  const doomed = await declare("fuzz-doomed");
  const resend = await declare("fuzz-resend");
  const cancel = await declare("fuzz-cancel");
  await w.kube.create(R.appInstance, {
    metadata: { name: "fuzz-app", namespace: namespaceFor(org) },
    spec: { template: "uptime-kuma", access: { policy: "Members" } },
  } as never);
  await until("the app in the API's cache", async () => w.api.directory.apps.get(`${namespaceFor(org)}/fuzz-app`));

  const runs: Run[] = [
    {
      name: "apikey",
      headers: { Authorization: `Bearer ${key.secret}` },
      parameters: {
        "path.org": org,
        "path.member": people.viewer.member,
        "path.role": "fuzz-role",
        "path.key": keyToRevoke.key.id,
        "path.app": "fuzz-app",
      },
      args: [],
    },
    {
      name: "session",
      headers: { Cookie: admin.cookie, "X-CSRF-Token": admin.csrf },
      parameters: { "path.org": org, "path.member": target, "path.role": "fuzz-role", "path.key": spareKey.key.id },
      operations: {
        "DELETE /api/orgs/{org}/members/{member}": { "path.member": doomed },
        "POST /api/orgs/{org}/members/{member}/invitation": { "path.member": resend },
        "DELETE /api/orgs/{org}/members/{member}/invitation": { "path.member": cancel },
        "DELETE /api/orgs/{org}/roles/{role}": { "path.role": "fuzz-doomed" },
      },
      // The key run covered /api/me and the gateway's forward-auth.
      args: [
        "--include-path-regex",
        "^/api/(orgs/\\{org\\}/(members|roles|apikeys)|invitations)",
        ...EXCLUDED_WITH_SESSION.flatMap((p) => ["--exclude-path", p]),
      ],
    },
  ];
  const failures: string[] = [];
  const logged = w.api.logs.length;
  for (const run of runs) {
    const started = Date.now();
    const { code, output } = await schemathesis(run);
    if (process.env.ATRIUM_FUZZ_LOG) writeFileSync(`${process.env.ATRIUM_FUZZ_LOG}.${run.name}.txt`, output);
    const summary = /Test cases:\s*\n\s*(.*)/.exec(output)?.[1] ?? "no summary";
    console.log(`[fuzz] ${run.name}: exit ${code} in ${Math.round((Date.now() - started) / 1000)} s, ${summary}`);
    if (code !== 0) failures.push(`=== schemathesis as ${run.name} (exit ${code}) ===\n${output}`);
  }
  // What the API logged about its 500s (the stack), and audit records it could not write;
  // shrinking repeats a failure many times, so each distinct one once.
  await w.api.services.audit.flushed();
  const logs = new Set<string>();
  for (const { message, ...fields } of w.api.logs.slice(logged))
    if (message === "Unhandled error" || message === "Audit write failed")
      logs.add(
        `=== API log: ${message} ===\n${Object.entries(fields)
          .map(([k, v]) => `${k}: ${String(v)}`)
          .join("\n")}`,
      );
  failures.push(...[...logs].slice(0, 5));
  expect(failures.join("\n\n"), "schemathesis found problems").toBe("");
  // The fixed parameters did lead the runs to real objects.
  expect(w.api.directory.member(org, doomed)).toBeUndefined();
  expect(w.api.directory.member(org, cancel)).toBeUndefined();
  expect(w.api.directory.role(org, "fuzz-doomed")).toBeUndefined();
  const keys = await w.call(admin, "GET", `/api/orgs/${org}/apikeys`);
  expect(keys.body.items.find((k: { id: string }) => k.id === keyToRevoke.key.id)?.status).toBe("revoked");
}, 700_000);
