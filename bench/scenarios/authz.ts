// authz: authorization decisions at 200 orgs × 50 members × 5 roles × 32 permissions.
// Side by side in one run: one Casbin enforcer holding every org's policy (the naive setup,
// evaluated line by line) and Atrium's Authorizer (an enforcer per org, materialized into a
// decision index). Each decision is timed on its own (process.hrtime, ~50 ns resolution).
import { BUILT_IN_ROLES, PERMISSIONS } from "@atrium/crds";
import { newEnforcer, newModelFromString } from "casbin";
import { Authorizer, MODEL, type OrgPolicy } from "../../api/src/authz/casbin.ts";
import { writeResult } from "../results.ts";
import { percentile } from "../stats.ts";

const ORGS = 200;
const MEMBERS = 50;
const NAIVE_SAMPLES = Number(process.env.BENCH_AUTHZ_NAIVE_SAMPLES ?? 100);
const SAMPLES = 200_000;
const log = (m: string) => console.log(`[authz] ${m}`);

/**
 * Casbin's documented rbac-with-domains model, as a team would start with it: the API's model
 * with the role check first in the matcher.
 */
const NAIVE_MODEL = MODEL.replace(/^m = .*$/m, "m = g(r.sub, p.sub, r.dom) && r.dom == p.dom && r.act == p.act");
if (NAIVE_MODEL === MODEL) throw new Error("the API's Casbin model has no matcher line to reorder");

function world() {
  const roles = BUILT_IN_ROLES.map((r) => ({ name: r.name, permissions: r.permissions }));
  const orgs = Array.from({ length: ORGS }, (_, o) => `org-${o}`);
  const policies = new Map<string, OrgPolicy>();
  for (const org of orgs)
    policies.set(org, {
      roles,
      members: Array.from({ length: MEMBERS }, (_, m) => ({
        subject: `user-${m}@${org}.example`,
        role: roles[m % roles.length]?.name as string,
      })),
    });
  return { orgs, policies };
}

/** A random question: mostly members of the org asked about, some strangers from other orgs. */
function question(orgs: string[], random: () => number): [string, string, string] {
  const org = orgs[Math.floor(random() * orgs.length)] as string;
  const home = random() < 0.9 ? org : (orgs[Math.floor(random() * orgs.length)] as string);
  const subject = `user-${Math.floor(random() * MEMBERS)}@${home}.example`;
  return [subject, org, PERMISSIONS[Math.floor(random() * PERMISSIONS.length)] as string];
}

function seeded(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

export async function run() {
  const { orgs, policies } = world();

  // Naive: one enforcer with every org's lines (Casbin's documented rbac-with-domains setup).
  const naive = await newEnforcer(newModelFromString(NAIVE_MODEL));
  for (const org of orgs) {
    const p = policies.get(org) as OrgPolicy;
    await naive.addPolicies(p.roles.flatMap((r) => r.permissions.map((perm) => [`role:${r.name}`, org, perm])));
    await naive.addGroupingPolicies(p.members.map((m) => [m.subject, `role:${m.role}`, org]));
  }
  log(
    `naive enforcer: ${(await naive.getPolicy()).length} p lines, ${(await naive.getGroupingPolicy()).length} g lines`,
  );

  const authz = new Authorizer();
  const buildStart = performance.now();
  for (const org of orgs) await authz.update(org, policies.get(org) as OrgPolicy);
  const buildMs = performance.now() - buildStart;
  const rebuildStart = performance.now();
  await authz.update(orgs[7] as string, policies.get(orgs[7] as string) as OrgPolicy);
  const rebuildMs = performance.now() - rebuildStart;
  log(`index built for ${ORGS} orgs in ${buildMs.toFixed(0)} ms; one org rebuilt in ${rebuildMs.toFixed(2)} ms`);

  const random = seeded(42);
  const naiveSamples: number[] = [];
  const oursSamples: number[] = [];
  let disagreements = 0;
  // Alternate: a naive decision, then a batch of ours on the same kind of questions.
  const perRound = SAMPLES / NAIVE_SAMPLES;
  const started = performance.now();
  let oursTotalNs = 0n;
  for (let round = 0; round < NAIVE_SAMPLES; round++) {
    const [sub, org, perm] = question(orgs, random);
    const t0 = process.hrtime.bigint();
    const expected = naive.enforceSync(sub, org, perm);
    naiveSamples.push(Number(process.hrtime.bigint() - t0) / 1000);
    for (let i = 0; i < perRound; i++) {
      const q = i === 0 ? ([sub, org, perm] as const) : question(orgs, random);
      const t1 = process.hrtime.bigint();
      const answer = authz.can(q[0], q[1], q[2]);
      const dt = process.hrtime.bigint() - t1;
      oursTotalNs += dt;
      oursSamples.push(Number(dt) / 1000);
      if (i === 0 && answer !== expected) disagreements++;
    }
  }
  log(
    `${NAIVE_SAMPLES} naive and ${oursSamples.length} indexed decisions in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  if (disagreements) throw new Error(`${disagreements} decisions differ from the naive enforcer`);

  const naiveP99 = percentile(naiveSamples, 99);
  const p99 = percentile(oursSamples, 99);
  writeResult({
    scenario: "authz",
    method:
      `${ORGS} orgs × ${MEMBERS} members × 5 built-in roles × ${PERMISSIONS.length} permissions, in one process. ` +
      `Naive: one Casbin enforcer with the documented rbac-with-domains model (g() first) holding every org (${NAIVE_SAMPLES} decisions). Atrium: an ` +
      `enforcer per org materialized into a decision index (${oursSamples.length} decisions, interleaved with the ` +
      "naive ones; every naive answer is compared with the index's). Each decision timed alone; nearest-rank " +
      "percentiles. decisions_per_s is for the index, from the summed decision times.",
    metrics: {
      naive_p99_us: Math.round(naiveP99),
      naive_p50_us: Math.round(percentile(naiveSamples, 50)),
      p99_us: Number(p99.toFixed(2)),
      p50_us: Number(percentile(oursSamples, 50).toFixed(2)),
      decisions_per_s: Math.round(oursSamples.length / (Number(oursTotalNs) / 1e9)),
      ratio_naive_vs_index_p99: Math.round(naiveP99 / p99),
      index_build_all_orgs_ms: Math.round(buildMs),
      index_rebuild_one_org_ms: Number(rebuildMs.toFixed(2)),
    },
    goals: { p99_us: "<= 50" },
  });
}
