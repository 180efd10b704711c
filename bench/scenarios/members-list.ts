// members-list: the first page of an organization with 10,000 members, through the real API
// (in this process, on SQLite) over a real control plane, under 100 concurrent connections
// from wrk with an API key; side by side, alternating, with the same server's /healthz.
import { BUILT_IN_ROLES, namespaceFor } from "@atrium/crds";
import { KubeClient, R } from "@atrium/kube";
import { KubeConfig } from "@kubernetes/client-node";
import { generateKey, hashKey } from "../../api/src/auth/keyformat.ts";
import { memberNameFor } from "../../api/src/routes/views.ts";
import { startApi } from "../../test/cluster/api-stack.ts";
import { startControlPlane } from "../../test/cluster/controlplane.ts";
import { installCrds } from "../../test/cluster/install.ts";
import { until } from "../../test/cluster/until.ts";
import { writeResult } from "../results.ts";
import { median } from "../stats.ts";
import { wrk } from "../wrk.ts";

export const MEMBERS = Number(process.env.BENCH_MEMBERS ?? 10_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = 3;
export const ORG = "bench";
const log = (m: string) => console.log(`[members-list] ${m}`);

/** The org's namespace and built-in roles, as the operator would make them (it is not running here). */
export async function seedOrg(kube: KubeClient) {
  const ns = namespaceFor(ORG);
  await kube.create(R.organization, { metadata: { name: ORG }, spec: { displayName: "Bench" } } as never);
  await kube.create(R.namespace, { metadata: { name: ns } } as never);
  for (const r of BUILT_IN_ROLES)
    await kube.create(R.orgRole, {
      metadata: { name: r.name, namespace: ns },
      spec: { displayName: r.displayName, level: r.level, permissions: [...r.permissions], builtIn: true },
    } as never);
}

/** The org's MEMBERS people, created `workers` at a time (shared by the members-list, console and export benches). */
export async function createMembers(kube: KubeClient, workers = 16) {
  const ns = namespaceFor(ORG);
  const roles = BUILT_IN_ROLES.map((r) => r.name);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < MEMBERS; i = next++) {
      const email = `person${i}@bench.example`;
      await kube.create(R.member, {
        metadata: { name: memberNameFor(email), namespace: ns },
        spec: { email, displayName: `Person ${i}`, role: roles[(i % 4) + 1] as string },
      } as never);
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
}

export async function run() {
  const cp = await startControlPlane({ log });
  try {
    installCrds(cp);
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    const kube = new KubeClient(kc, { fieldManager: "atrium-bench" });
    await seedOrg(kube);
    const started = performance.now();
    await createMembers(kube);
    log(`${MEMBERS} members created in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    // The caller: a joined Admin with an API key.
    const adminEmail = "admin@bench.example";
    const admin = await kube.create(R.member, {
      metadata: { name: "admin", namespace: namespaceFor(ORG) },
      spec: { email: adminEmail, role: "admin" },
    } as never);
    await kube.apply(
      R.member,
      {
        metadata: { name: "admin", namespace: namespaceFor(ORG) },
        status: { joinedAt: new Date().toISOString() },
      } as never,
      { subresource: "status" },
    );
    const api = await startApi({
      kubeconfig: cp.kubeconfig,
      env: { ATRIUM_RATE_STANDARD: "100000000/1m" },
      quiet: true,
    });
    try {
      await until("the API's caches", async () => api.directory.membersOf(ORG).length === MEMBERS + 1, 120_000);
      await until("the admin's permissions", async () => api.directory.authorizer.can(adminEmail, ORG, "members:view"));
      const key = generateKey("STANDARD");
      await api.db.prisma.apiKey.create({
        data: {
          id: key.id,
          org: ORG,
          name: "bench",
          type: "STANDARD",
          prefix: key.display,
          hashVersion: api.config.peppers.current,
          hash: hashKey(api.config.peppers, api.config.peppers.current, key.secret),
          scopes: JSON.stringify(["members:view"]),
          createdBy: adminEmail,
          memberName: (admin as { metadata: { name: string } }).metadata.name,
          createdAt: new Date(),
        },
      });
      const headers = { authorization: `Bearer ${key.secret}` };
      const list = `${api.base}/api/orgs/${ORG}/members?limit=50`;
      const first = await fetch(list, { headers });
      const body = (await first.json()) as { items: unknown[]; total: number };
      if (first.status !== 200 || body.items.length !== 50 || body.total !== MEMBERS + 1)
        throw new Error(`unexpected first page: ${first.status} ${JSON.stringify(body).slice(0, 300)}`);
      const targets = { healthz: `${api.base}/healthz`, members: list };
      for (const url of Object.values(targets)) await wrk(url, { connections: 10, seconds: 2, headers }); // warm-up
      const samples = { healthz: [] as number[], members: [] as number[], membersP99: [] as number[] };
      for (let round = 0; round < ROUNDS; round++) {
        const h = await wrk(targets.healthz, { connections: 100, seconds: SECONDS, headers });
        const m = await wrk(targets.members, { connections: 100, seconds: SECONDS, headers });
        if (h.non2xx || m.non2xx) throw new Error("non-2xx answers during the load");
        samples.healthz.push(h.rps);
        samples.members.push(m.rps);
        samples.membersP99.push(m.p99);
        log(`round ${round + 1}: healthz ${h.rps.toFixed(0)} rps, members ${m.rps.toFixed(0)} rps, p99 ${m.p99} ms`);
      }
      writeResult({
        scenario: "members-list",
        method:
          `GET /api/orgs/${ORG}/members?limit=50 (first page, sorted by name) of an org with ${MEMBERS} members, API key ` +
          `auth, the API in one Node process on SQLite; wrk 4.1, 1 thread, 100 connections, ${SECONDS} s per sample, ` +
          `${ROUNDS} rounds alternating with the same server's /healthz; medians of the rounds.`,
        metrics: {
          p99_ms: Number(median(samples.membersP99).toFixed(1)),
          members_rps: Math.round(median(samples.members)),
          healthz_rps: Math.round(median(samples.healthz)),
          ratio_vs_healthz: Number((median(samples.members) / median(samples.healthz)).toFixed(2)),
        },
        goals: { p99_ms: "<= 50" },
      });
    } finally {
      await api.stop();
    }
  } finally {
    await cp.stop();
  }
}
