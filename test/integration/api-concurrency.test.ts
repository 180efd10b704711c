// Two API replicas on one apiserver and one PostgreSQL database (ADR 0010): the last-Admin
// rule holds when two Admins remove each other at the same moment on different replicas, and
// the rate limits (API keys by type, invitations per org) hold for the installation, not per
// replica. SQLite installs run one replica; their limits stay in memory (api-sqlite.test.ts).
import { namespaceFor } from "@atrium/crds";
import { type KubeObject, R } from "@atrium/kube";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GUARD_LEASE } from "../../api/src/authz/admin-guard.ts";
import type { MemberObj } from "../../api/src/authz/directory.ts";
import { type ApiStack, type Caller, call, startApi } from "../cluster/api-stack.ts";
import { until } from "../cluster/until.ts";
import { startWorld, type World } from "./api/world.ts";

const LIMITS = { ATRIUM_RATE_STANDARD: "6/1m", ATRIUM_RATE_AI_AGENT: "3/1m", ATRIUM_RATE_INVITATIONS: "4/1h" };

let w: World;
let replicas: [ApiStack, ApiStack];
beforeAll(async () => {
  w = await startWorld({ provider: "postgresql" });
  const replica = () =>
    startApi({ kubeconfig: w.kubeconfig, databaseUrl: w.api.config.databaseUrl, env: LIMITS, quiet: true });
  replicas = [await replica(), await replica()];
}, 300_000);
afterAll(async () => {
  for (const r of replicas ?? []) await r.stop();
  await w?.stop();
});

const isActiveAdmin = (m: MemberObj | undefined) =>
  Boolean(m && m.spec.role === "admin" && m.spec.active !== false && m.status?.joinedAt);

describe("the last-Admin rule across two API replicas", () => {
  // Each round: two Admins, A on replica 1 and B on replica 2, each takes the other's Admin
  // role or activity away at the same moment. Before the guard, both succeeded (no Admin left).
  const ROUNDS = [
    [{ role: "co-admin" }, { role: "co-admin" }],
    [{ active: false }, { active: false }],
    [{ role: "member" }, { active: false }],
  ] as const;

  it("lets exactly one of two simultaneous mutual removals through, 10 times out of 10", async () => {
    const org = await w.createOrg("api-race");
    const emails = [`a@${org}.example`, `b@${org}.example`];
    const names = [await w.declareMember(org, emails[0] as string, "admin")];
    names.push(await w.declareMember(org, emails[1] as string, "admin"));
    const sessions: Caller[] = [await w.login(emails[0] as string), await w.login(emails[1] as string)];
    const everyCache = () => [w.api, ...replicas];
    for (let round = 0; round < 10; round++) {
      await until(
        "both Admins active in every replica's cache",
        async () => everyCache().every((r) => names.every((n) => isActiveAdmin(r.directory.member(org, n)))),
        20_000,
        20,
      );
      const [changeA, changeB] = ROUNDS[round % ROUNDS.length] as readonly [object, object];
      const replies = await Promise.all([
        call(replicas[0].base, sessions[0] as Caller, "PATCH", `/api/orgs/${org}/members/${names[1]}`, changeA),
        call(replicas[1].base, sessions[1] as Caller, "PATCH", `/api/orgs/${org}/members/${names[0]}`, changeB),
      ]);
      const live = (await w.kube.list<MemberObj>(R.member, { namespace: namespaceFor(org) })).items;
      const admins = live.filter(isActiveAdmin).map((m) => m.metadata.name);
      console.log(`round ${round}: ${replies.map((r) => r.status).join(" ")}, Admins left ${admins.length}`);
      expect(admins).toHaveLength(1);
      const winner = replies.findIndex((r) => r.status === 200);
      const loser = replies[1 - winner];
      expect(replies.filter((r) => r.status === 200)).toHaveLength(1);
      // Mostly 409: both pass their permission check before either writes. When the machine
      // is busy, the loser's request can reach its replica after that replica saw the change:
      // then it is refused as a demoted Admin (403) or a deactivated member (404), also right.
      expect([409, 403, 404]).toContain(loser?.status);
      if (loser?.status === 409) expect(loser.body.error.message).toMatch(/last Admin/);
      // The one still Admin restores the other, through the first API, for the next round.
      const restored = names[1 - winner] as string;
      expect(admins).toEqual([names[winner]]);
      await until(
        "the removal in the first API's cache",
        async () => !isActiveAdmin(w.api.directory.member(org, restored)),
        20_000,
        20,
      );
      const back = await w.call(sessions[winner] as Caller, "PATCH", `/api/orgs/${org}/members/${restored}`, {
        role: "admin",
        active: true,
      });
      expect(back.status).toBe(200);
    }
  });

  it("waits for a holder of the org's guard, and takes over from one that vanished", async () => {
    const org = await w.createOrg("api-guard");
    const emails = [`a@${org}.example`, `b@${org}.example`];
    const names = [await w.declareMember(org, emails[0] as string, "admin")];
    names.push(await w.declareMember(org, emails[1] as string, "admin"));
    const admin = await w.login(emails[0] as string);
    await w.login(emails[1] as string);
    await until("B joined in replica 1's cache", async () =>
      isActiveAdmin(replicas[0].directory.member(org, names[1] as string)),
    );
    const lease = (renewedAgoMs: number) => {
      const at = new Date(Date.now() - renewedAgoMs).toISOString().replace("Z", "000Z");
      return {
        metadata: { name: GUARD_LEASE, namespace: namespaceFor(org) },
        spec: { holderIdentity: "another-replica/x", leaseDurationSeconds: 15, acquireTime: at, renewTime: at },
      };
    };
    // Held right now by a replica that is in the middle of a change: this one waits, then 409.
    await w.kube.create(R.lease, lease(0) as never);
    const busy = await call(replicas[0].base, admin, "PATCH", `/api/orgs/${org}/members/${names[1]}`, {
      role: "co-admin",
    });
    expect(busy.status).toBe(409);
    expect(busy.body.error.message).toMatch(/in progress/);
    // Held by a replica that died an hour ago: taken over, the change goes through.
    await w.kube.delete(R.lease, GUARD_LEASE, namespaceFor(org));
    await w.kube.create(R.lease, lease(3_600_000) as never);
    const taken = await call(replicas[0].base, admin, "PATCH", `/api/orgs/${org}/members/${names[1]}`, {
      role: "co-admin",
    });
    expect(taken.status).toBe(200);
    // Given back afterwards: free for the next change.
    const after = await w.kube.get<KubeObject & { spec: { holderIdentity?: string } }>(
      R.lease,
      GUARD_LEASE,
      namespaceFor(org),
    );
    expect(after?.spec.holderIdentity).toBeUndefined();
  });
});

describe("rate limits shared by two API replicas (PostgreSQL)", () => {
  const makeKey = async (type: string) => {
    const created = await w.call(w.people.admin, "POST", `/api/orgs/${w.orgA}/apikeys`, {
      name: `${type}-${Date.now()}`,
      type,
      scopes: ["members:view"],
    });
    expect(created.status).toBe(201);
    return created.body.secret as string;
  };
  const hit = (replica: ApiStack, key: string) =>
    fetch(`${replica.base}/api/me`, { headers: { authorization: `Bearer ${key}` } });

  it("answers 429 with Retry-After once a key's requests on both replicas reach its limit", async () => {
    const key = await makeKey("STANDARD");
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await hit(replicas[i % 2] as ApiStack, key)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    for (const replica of replicas) {
      const refused = await hit(replica, key);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(refused.headers.get("ratelimit-limit")).toBe("6");
      expect(refused.headers.get("ratelimit-remaining")).toBe("0");
    }
  });

  it("lets exactly the limit through when requests arrive at once on both replicas", async () => {
    const key = await makeKey("AI_AGENT");
    const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => hit(replicas[i % 2] as ApiStack, key)));
    const statuses = replies.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(9);
  });

  it("limits an organization's invitations across both replicas", async () => {
    const invite = (replica: ApiStack, i: number) =>
      call(replica.base, w.outsider, "POST", `/api/orgs/${w.orgB}/members`, { email: `shared${i}@${w.orgB}.example` });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await invite(replicas[i % 2] as ApiStack, i)).status);
    expect(statuses).toEqual([201, 201, 201, 201, 429, 429]);
    const refused = await invite(replicas[0], 99);
    expect(refused.body.error.message).toMatch(/too many invitations/);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });
});
