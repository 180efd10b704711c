// The last-Admin rule under concurrency and across API replicas (ADR 0010). Every change that
// could take an active Admin away (demote, deactivate, remove) runs under a per-organization
// guard: a coordination.k8s.io Lease in the org's namespace, taken and given back with
// resourceVersion preconditions, so at most one such change per org is between its check and
// its write at any time, whichever replica serves it. Under the guard the members are read
// live from the apiserver (the caches may lag the change that released the guard), the rule
// is checked on what is there, and then the change is written.
import { hostname } from "node:os";
import { setTimeout as delay } from "node:timers/promises";
import { namespaceFor } from "@atrium/crds";
import { isConflict, type KubeClient, type KubeObject, type Logger, R } from "@atrium/kube";
import { ApiError, conflict } from "../http/errors.ts";
import type { MemberObj } from "./directory.ts";

export const GUARD_LEASE = "atrium-admin-guard";

type Lease = KubeObject & {
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string };
};

export type AdminGuardOptions = {
  /** Names this replica in the Lease (a request adds a random suffix). */
  identity?: string;
  /** A holder that vanished (a crashed replica) blocks the org's Admin changes this long at most. */
  leaseMs?: number;
  /** How long a request waits for another change to finish before answering 409. */
  waitMs?: number;
  now?: () => number;
  log?: Logger;
};

const microTime = (ms: number) => new Date(ms).toISOString().replace("Z", "000Z");

export class AdminGuard {
  private readonly kube: KubeClient;
  private readonly identity: string;
  private readonly leaseMs: number;
  private readonly waitMs: number;
  private readonly now: () => number;
  private readonly log: Logger;
  /** org → the Lease version this replica saw and since when, to time out a holder on our own clock. */
  private readonly observed = new Map<string, { version: string; at: number }>();

  constructor(kube: KubeClient, options: AdminGuardOptions = {}) {
    this.kube = kube;
    this.identity = options.identity ?? `${hostname()}-${process.pid}`;
    this.leaseMs = options.leaseMs ?? 15_000;
    this.waitMs = options.waitMs ?? 5_000;
    this.now = options.now ?? Date.now;
    this.log = options.log ?? (() => {});
  }

  /**
   * Takes the org's guard, lists its members live, lets `check` refuse (it throws), then runs
   * `write` and gives the guard back. A write that would start after half the lease has gone
   * by is not made: another replica may have taken the guard over by then.
   */
  async serialize<T>(org: string, check: (members: MemberObj[]) => void, write: () => Promise<T>): Promise<T> {
    const held = await this.acquire(org);
    try {
      const { items } = await this.kube.list<MemberObj>(R.member, { namespace: namespaceFor(org) });
      check(items);
      if (this.now() - held.at > this.leaseMs / 2)
        throw new ApiError(503, "unavailable", "The change took too long to be made safely; try again");
      return await write();
    } finally {
      await this.release(held.lease);
    }
  }

  private async acquire(org: string): Promise<{ lease: Lease; at: number }> {
    const namespace = namespaceFor(org);
    const holder = `${this.identity}/${Math.random().toString(36).slice(2, 10)}`;
    const deadline = this.now() + this.waitMs;
    for (let attempt = 0; ; attempt++) {
      const lease = await this.kube.get<Lease>(R.lease, GUARD_LEASE, namespace);
      const at = this.now();
      const spec = {
        holderIdentity: holder,
        leaseDurationSeconds: Math.ceil(this.leaseMs / 1000),
        acquireTime: microTime(at),
        renewTime: microTime(at),
      };
      try {
        if (!lease)
          return {
            lease: await this.kube.create<Lease>(R.lease, { metadata: { name: GUARD_LEASE, namespace }, spec }),
            at,
          };
        if (this.isFree(org, lease, at))
          return { lease: await this.kube.replace<Lease>(R.lease, { ...lease, spec: { ...lease.spec, ...spec } }), at };
      } catch (error) {
        // Created or taken by another request since our read (AlreadyExists and Conflict are both 409).
        if (!isConflict(error)) throw error;
      }
      if (this.now() >= deadline)
        throw conflict("Another change to this organization's Admins is in progress; try again in a moment");
      await delay(Math.min(25 * 2 ** Math.min(attempt, 4), 400) * (0.5 + Math.random()));
    }
  }

  /** Free when released, or when its holder has not changed it for a lease duration (our clock). */
  private isFree(org: string, lease: Lease, now: number): boolean {
    if (!lease.spec?.holderIdentity) return true;
    const version = lease.metadata.resourceVersion ?? "";
    const seen = this.observed.get(org);
    if (seen?.version !== version) {
      this.observed.set(org, { version, at: now });
      // A holder whose own renewTime is long past is gone even if we have just looked.
      const renewed = Date.parse(lease.spec.renewTime ?? "");
      return Number.isFinite(renewed) && now - renewed > 2 * this.leaseMs;
    }
    return now - seen.at >= this.leaseMs;
  }

  private async release(lease: Lease): Promise<void> {
    const { holderIdentity: _, ...free } = lease.spec;
    try {
      await this.kube.replace<Lease>(R.lease, { ...lease, spec: free });
    } catch (error) {
      // Taken over after our lease ran out: nothing of ours to give back.
      this.log(
        "Could not release the Admin guard",
        { namespace: lease.metadata.namespace, error: String(error) },
        isConflict(error) ? "warn" : "error",
      );
    }
  }
}
