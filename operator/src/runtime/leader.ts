// Leader election on a coordination.k8s.io Lease, as client-go does it: the holder renews
// every retry period; another replica takes over once it has seen no renewal for the lease
// duration (measured on its own clock, so clock skew between nodes does not matter). A
// leader that cannot renew within the renew deadline stops leading (and the process exits,
// so it restarts clean). Stopping releases the lease so a successor need not wait.
import {
  errorMessage,
  isConflict,
  isNotFound,
  type KubeClient,
  type KubeObject,
  type Logger,
  R,
  sleep,
} from "@atrium/kube";

export type LeaderOptions = {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
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

export class LeaderElector {
  private readonly client: KubeClient;
  private readonly options: LeaderOptions;
  private readonly stopController = new AbortController();
  private observed: { record: string; at: number } | undefined;
  isLeader = false;

  constructor(client: KubeClient, options: LeaderOptions) {
    this.client = client;
    this.options = options;
  }

  /** Waits until this replica leads; false if stopped first. */
  async acquire(): Promise<boolean> {
    const { retryPeriodMs } = this.options;
    const signal = this.stopController.signal;
    while (!signal.aborted) {
      if (await this.tryAcquireOrRenew()) {
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
      const lease = await this.client.get<Lease>(R.lease, this.options.name, this.options.namespace);
      if (lease?.spec.holderIdentity !== this.options.identity) return;
      lease.spec = { ...lease.spec, holderIdentity: "", renewTime: microTime(new Date(0)), leaseDurationSeconds: 1 };
      await this.client.replace(R.lease, lease);
    } catch (e) {
      this.options.log("Could not release the lease", { error: errorMessage(e) });
    }
  }

  /** Renews while leading; resolves "lost" when a renewal has failed for the renew deadline. */
  async renewUntilLost(): Promise<"lost" | "stopped"> {
    const { retryPeriodMs, renewDeadlineMs } = this.options;
    const signal = this.stopController.signal;
    let lastRenew = Date.now();
    while (!signal.aborted) {
      await sleep(retryPeriodMs, signal);
      if (signal.aborted) break;
      if (await this.tryAcquireOrRenew()) lastRenew = Date.now();
      else if (Date.now() - lastRenew > renewDeadlineMs) {
        this.isLeader = false;
        this.options.log("Lost leadership", { lease: this.options.name, identity: this.options.identity });
        return "lost";
      }
    }
    return "stopped";
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity, leaseDurationMs } = this.options;
    const now = new Date();
    const spec = (transitions: number, acquireTime?: string) => ({
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
      acquireTime: acquireTime ?? microTime(now),
      renewTime: microTime(now),
      leaseTransitions: transitions,
    });
    try {
      const lease = await this.client.get<Lease>(R.lease, name, namespace);
      if (!lease) {
        await this.client.create(R.lease, { metadata: { name, namespace }, spec: spec(0) } as Lease);
        return true;
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
        if (!expired) return false;
        lease.spec = spec(transitions + 1);
      }
      // The resourceVersion in `lease` makes this a compare-and-swap: one winner per round.
      await this.client.replace(R.lease, lease);
      return true;
    } catch (e) {
      if (!isConflict(e) && !isNotFound(e)) this.options.log("Lease update failed", { error: errorMessage(e) });
      return false;
    }
  }
}
