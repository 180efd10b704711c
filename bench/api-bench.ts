// What the API scenarios share: an organization as the operator would set it up (it is not
// running in them), a joined member, an API key written straight into the API's database, and
// the measurement: wrk on a route side by side with the same server's /healthz, alternating,
// with the API process's CPU time per request.
import { BUILT_IN_ROLES, namespaceFor } from "@atrium/crds";
import { type KubeClient, R } from "@atrium/kube";
import { generateKey, hashKey } from "../api/src/auth/keyformat.ts";
import type { ApiStack } from "../test/cluster/api-stack.ts";
import { median } from "./stats.ts";
import { type WrkResult, wrk } from "./wrk.ts";

/** The organization, its namespace and built-in roles. */
export async function seedOrg(kube: KubeClient, org: string, displayName = "Bench"): Promise<void> {
  const ns = namespaceFor(org);
  await kube.create(R.organization, { metadata: { name: org }, spec: { displayName } } as never);
  await kube.create(R.namespace, { metadata: { name: ns } } as never);
  for (const r of BUILT_IN_ROLES)
    await kube.create(R.orgRole, {
      metadata: { name: r.name, namespace: ns },
      spec: { displayName: r.displayName, level: r.level, permissions: [...r.permissions], builtIn: true },
    } as never);
}

/** A Member who has joined (status.joinedAt), so they may act. */
export async function joinedMember(kube: KubeClient, org: string, name: string, email: string, role: string) {
  const ns = namespaceFor(org);
  const created = await kube.create(R.member, { metadata: { name, namespace: ns }, spec: { email, role } } as never);
  await kube.apply(
    R.member,
    { metadata: { name, namespace: ns }, status: { joinedAt: new Date().toISOString() } } as never,
    { subresource: "status" },
  );
  return created;
}

/** A STANDARD key of the member, written into the API's database as the API would: its secret. */
export async function createApiKey(
  api: ApiStack,
  key: { org: string; email: string; memberName: string; scopes: string[] },
): Promise<string> {
  const k = generateKey("STANDARD");
  await api.db.prisma.apiKey.create({
    data: {
      id: k.id,
      org: key.org,
      name: "bench",
      type: "STANDARD",
      prefix: k.display,
      hashVersion: api.config.peppers.current,
      hash: hashKey(api.config.peppers, api.config.peppers.current, k.secret),
      scopes: JSON.stringify(key.scopes),
      createdBy: key.email,
      memberName: key.memberName,
      createdAt: new Date(),
    },
  });
  return k.secret;
}

/**
 * Runs a load and measures the CPU time of this process (the API) per answered request: what a
 * route costs, which the machine's other load disturbs far less than it does latency.
 */
export async function cpuPerRequest<T extends { requests: number }>(run: () => Promise<T>) {
  const before = process.cpuUsage();
  const result = await run();
  const used = process.cpuUsage(before);
  return { result, us: (used.user + used.system) / result.requests };
}

export type Target = { url: string; script?: string };
export type Samples = { rps: number[]; p99: number[]; cpuUs: number[] };

/**
 * Each round loads /healthz and then every target in turn (wrk, `connections` connections,
 * `seconds` each), so all share the machine's moment; any non-2xx answer fails the run.
 */
export async function sideBySide(options: {
  healthz: string;
  targets: Record<string, Target>;
  headers: Record<string, string>;
  connections: number;
  seconds: number;
  rounds: number;
  log: (m: string) => void;
}): Promise<Record<string, Samples> & { healthz: Samples }> {
  const { headers, connections, seconds } = options;
  const all: Record<string, Target> = { healthz: { url: options.healthz }, ...options.targets };
  const samples = Object.fromEntries(Object.keys(all).map((k) => [k, { rps: [], p99: [], cpuUs: [] }])) as Record<
    string,
    Samples
  >;
  for (const t of Object.values(all)) await wrk(t.url, { connections: 10, seconds: 2, headers, ...opt(t) }); // warm-up
  for (let round = 0; round < options.rounds; round++) {
    const line: string[] = [];
    for (const [name, t] of Object.entries(all)) {
      const { result, us } = await cpuPerRequest(() => wrk(t.url, { connections, seconds, headers, ...opt(t) }));
      if (result.non2xx) throw new Error(`non-2xx answers from ${name} during the load`);
      const s = samples[name] as Samples;
      s.rps.push(result.rps);
      s.p99.push(result.p99);
      s.cpuUs.push(us);
      line.push(`${name} ${result.rps.toFixed(0)} rps p99 ${result.p99} ms ${us.toFixed(0)} µs CPU`);
    }
    options.log(`round ${round + 1}: ${line.join("; ")}`);
  }
  return samples as Record<string, Samples> & { healthz: Samples };
}

const opt = (t: Target): { script?: string } => (t.script ? { script: t.script } : {});

/** The median of a sample list, rounded to `digits`. */
export const med = (xs: readonly number[], digits = 1) => Number(median(xs).toFixed(digits));

export type { WrkResult };
