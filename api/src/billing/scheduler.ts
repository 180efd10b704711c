// The API's background work, in one loop on one replica: the replica that holds the Lease
// "atrium-api-scheduler" (leader election as the operator does it, @atrium/kube's LeaderElector)
// runs every job each interval; the others wait to take over. Jobs are written to be safe even
// if two replicas ran them at once (conditional updates, unique keys); the Lease keeps that rare.
// Billing's pass is the first job; rollups, digests and export purges belong here too.
import { hostname } from "node:os";
import { errorMessage, type KubeClient, LeaderElector, type Logger, R, sleep } from "@atrium/kube";

export type Job = { name: string; run(): Promise<unknown> };

export type SchedulerOptions = {
  namespace: string;
  intervalMs: number;
  log: Logger;
  identity?: string;
  leaseName?: string;
};

export const SCHEDULER_LEASE = "atrium-api-scheduler";

export class Scheduler {
  private readonly kube: KubeClient;
  private readonly jobs: Job[];
  private readonly options: SchedulerOptions;
  private readonly stopController = new AbortController();
  private elector: LeaderElector | undefined;
  private loop: Promise<void> | undefined;
  /** Completed passes (for tests and /metrics). */
  passes = 0;

  constructor(kube: KubeClient, jobs: Job[], options: SchedulerOptions) {
    this.kube = kube;
    this.jobs = jobs;
    this.options = options;
  }

  get leading(): boolean {
    return this.elector?.isLeader ?? false;
  }

  /** One pass of every job, now, in order; a failing job is logged and the others still run. */
  async runOnce(): Promise<void> {
    for (const job of this.jobs) {
      try {
        // Each job logs what it changed; a pass that changed nothing says nothing.
        await job.run();
      } catch (error) {
        this.options.log("Scheduled job failed", { job: job.name, error: errorMessage(error) }, "error");
      }
    }
    this.passes++;
  }

  start(): void {
    this.loop ??= this.lead();
  }

  async stop(): Promise<void> {
    this.stopController.abort();
    await this.elector?.release();
    await this.loop;
  }

  private async lead(): Promise<void> {
    const signal = this.stopController.signal;
    const { intervalMs, log } = this.options;
    // The Lease needs its namespace (the chart's; the API does not make namespaces).
    if (!(await this.kube.get(R.namespace, this.options.namespace).catch(() => undefined)))
      log(
        "The scheduler's namespace does not exist: no replica can lead it until it does",
        { namespace: this.options.namespace },
        "warn",
      );
    while (!signal.aborted) {
      const elector = new LeaderElector(this.kube, {
        namespace: this.options.namespace,
        name: this.options.leaseName ?? SCHEDULER_LEASE,
        identity: this.options.identity ?? `${hostname()}-${process.pid}`,
        leaseDurationMs: 15_000,
        renewDeadlineMs: 10_000,
        retryPeriodMs: 2_000,
        log,
      });
      this.elector = elector;
      signal.addEventListener("abort", () => void elector.release(), { once: true });
      if (!(await elector.acquire())) return;
      const lost = elector.renewUntilLost();
      let leading = true;
      void lost.then(() => {
        leading = false;
      });
      while (leading && !signal.aborted) {
        await this.runOnce();
        await sleep(intervalMs, signal).catch(() => {});
      }
      await lost;
    }
  }
}
