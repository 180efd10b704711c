// Leader election on a coordination.k8s.io Lease, as client-go does it (the operator leads
// its reconcilers with it, the API its scheduler): the holder renews
// every retry period; another replica takes over once it has seen no renewal for the lease
// duration (measured on its own clock, so clock skew between nodes does not matter).
//
// Fencing (ADR 0008): a leader that has not renewed within the renew deadline, counted from
// the moment it SENT its last successful renewal, stops leading. Others count the lease
// duration from when they SAW that renewal, which is later, and renewDeadline < leaseDuration,
// so the old leader has stopped (its term signal aborted: writes in flight cut off, new ones
// refused) at least leaseDuration − renewDeadline before anyone else can acquire the lease.
// Every lease request carries a timeout, so a partitioned apiserver cannot hang the renewal
// past the deadline. Stopping releases the lease so a successor need not wait.
import { sleep } from "./backoff.ts";
import { isConflict, isNotFound, type KubeClient, type KubeObject } from "./client.ts";
import { errorMessage, type Logger } from "./log.ts";
import { R } from "./resources.ts";

export type LeaderOptions = {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** Upper bound of one lease request (a get or a write); default half the renew deadline. */
  requestTimeoutMs?: number;
  log: Logger;
};

type Lease = KubeObject & {
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
};

const microTime = (d = new Date()) => d.toISOString().replace("Z", "000Z");

/** The renew deadline must leave time before the lease expires for others, as client-go checks. */
export function checkTimings(o: Pick<LeaderOptions, "leaseDurationMs" | "renewDeadlineMs" | "retryPeriodMs">) {
  if (!(o.renewDeadlineMs < o.leaseDurationMs))
    throw new Error(
      `renew deadline (${o.renewDeadlineMs} ms) must be shorter than the lease (${o.leaseDurationMs} ms)`,
    );
  if (!(o.retryPeriodMs < o.renewDeadlineMs))
    throw new Error(`retry period (${o.retryPeriodMs} ms) must be shorter than the renew deadline`);
}

export class LeaderElector {
  private readonly client: KubeClient;
  private readonly options: LeaderOptions;
  private readonly stopController = new AbortController();
  private observed: { record: string; at: number } | undefined;
  /** When the last successful acquire or renewal was sent (this replica's clock). */
  private renewedAt = 0;
  isLeader = false;

  constructor(client: KubeClient, options: LeaderOptions) {
    checkTimings(options);
    this.client = client;
    this.options = options;
  }

  /** Waits until this replica leads; false if stopped first. */
  async acquire(): Promise<boolean> {
    const { retryPeriodMs } = this.options;
    const signal = this.stopController.signal;
    while (!signal.aborted) {
      const sentAt = await this.tryAcquireOrRenew(this.requestTimeout());
      if (sentAt !== undefined) {
        this.renewedAt = sentAt;
        this.isLeader = true;
        this.options.log("Became leader", { lease: this.options.name, identity: this.options.identity });
        return true;
      }
      await sleep(retryPeriodMs, signal);
    }
    return false;
  }

  async release(): Promise<void> {
    this.stopController.abort();
    if (!this.isLeader) return;
    this.isLeader = false;
    try {
      const signal = AbortSignal.timeout(this.requestTimeout());
      const lease = await this.client.get<Lease>(R.lease, this.options.name, this.options.namespace, { signal });
      if (lease?.spec.holderIdentity !== this.options.identity) return;
      lease.spec = { ...lease.spec, holderIdentity: "", renewTime: microTime(new Date(0)), leaseDurationSeconds: 1 };
      await this.client.replace(R.lease, lease, { signal });
    } catch (e) {
      this.options.log("Could not release the lease", { error: errorMessage(e) }, "error");
    }
  }

  /**
   * Renews while leading; resolves "lost" no later than the renew deadline after the last
   * successful renewal was sent (each attempt is cut off at the deadline), "stopped" on
   * release().
   */
  async renewUntilLost(): Promise<"lost" | "stopped"> {
    const { retryPeriodMs, renewDeadlineMs } = this.options;
    const signal = this.stopController.signal;
    while (!signal.aborted) {
      const deadline = this.renewedAt + renewDeadlineMs;
      await sleep(Math.min(retryPeriodMs, Math.max(0, deadline - Date.now())), signal);
      if (signal.aborted) break;
      const left = deadline - Date.now();
      const sentAt = left > 0 ? await this.tryAcquireOrRenew(Math.min(this.requestTimeout(), left)) : undefined;
      if (sentAt !== undefined) this.renewedAt = sentAt;
      else if (Date.now() >= deadline) {
        this.isLeader = false;
        this.options.log(
          "Lost leadership",
          { lease: this.options.name, identity: this.options.identity, lastRenewal: new Date(this.renewedAt) },
          "error",
        );
        return "lost";
      }
    }
    return "stopped";
  }

  private requestTimeout(): number {
    return this.options.requestTimeoutMs ?? Math.max(250, Math.round(this.options.renewDeadlineMs / 2));
  }

  /** One round; returns when its requests were first sent if this replica now holds the lease. */
  private async tryAcquireOrRenew(timeoutMs: number): Promise<number | undefined> {
    const { namespace, name, identity, leaseDurationMs } = this.options;
    const sentAt = Date.now();
    const now = new Date(sentAt);
    const signal = AbortSignal.any([this.stopController.signal, AbortSignal.timeout(timeoutMs)]);
    const spec = (transitions: number, acquireTime?: string) => ({
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
      acquireTime: acquireTime ?? microTime(now),
      renewTime: microTime(now),
      leaseTransitions: transitions,
    });
    try {
      const lease = await this.client.get<Lease>(R.lease, name, namespace, { signal });
      if (!lease) {
        await this.client.create(R.lease, { metadata: { name, namespace }, spec: spec(0) } as Lease, { signal });
        return sentAt;
      }
      const record = JSON.stringify(lease.spec);
      if (this.observed?.record !== record) this.observed = { record, at: Date.now() };
      const holder = lease.spec.holderIdentity;
      const transitions = lease.spec.leaseTransitions ?? 0;
      if (holder === identity) {
        lease.spec = spec(transitions, lease.spec.acquireTime);
      } else {
        const durationMs = (lease.spec.leaseDurationSeconds ?? 15) * 1000;
        const expired = !holder || Date.now() > this.observed.at + durationMs;
        if (!expired) return undefined;
        lease.spec = spec(transitions + 1);
      }
      // The resourceVersion in `lease` makes this a compare-and-swap: one winner per round.
      await this.client.replace(R.lease, lease, { signal });
      return sentAt;
    } catch (e) {
      if (!isConflict(e) && !isNotFound(e) && !this.stopController.signal.aborted)
        this.options.log("Lease update failed", { error: errorMessage(e) }, "warn");
      return undefined;
    }
  }
}
