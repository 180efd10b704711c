// GDPR exports as jobs in the database (ExportJob, the archive in ExportChunk rows), so any
// replica can take a request, run the job or serve the download. Every replica runs a worker:
// it claims one queued job at a time with a conditional update (queued → running: exactly one
// replica wins, on SQLite and PostgreSQL alike), has the archive written as a stream on a worker
// thread with its own database connection (thread.ts, export-worker.ts), which proves the job
// alive by moving its `startedAt` forward every HEARTBEAT_MS; a job silent for STALE_MS was left
// by a replica that crashed and is started again once, then failed. The same pass expires
// archives past their 7 days and deletes their chunks.
import { errorMessage, type Logger } from "@atrium/kube";
import type { Response } from "express";
import type { Database } from "../db/index.ts";
import { SQLITE_BUSY_TIMEOUT_MS } from "../db/migrate.ts";
import { parseDatabaseUrl } from "../db/url.ts";
import { ApiError, conflict, notFound, tooManyRequests } from "../http/errors.ts";
import type { Notifications } from "../notifications/notifications.ts";
import {
  EXPORT_TTL_MS,
  type ExportJobView,
  type JobRow,
  jobView,
  RESTARTED,
  refusal,
  staleAction,
  utcDayStart,
} from "./domain.ts";
import { orgFiles, orgTotals, type Person, personFiles, personTotals, type SourceDeps } from "./sources.ts";
import type { StoreTarget } from "./tables.ts";
import { runOnWorker } from "./thread.ts";

/** What exports need of the notifications service (api/src/notifications): telling the requester. */
export type NoticePublisher = Pick<Notifications, "publish">;

export type ExportsOptions = SourceDeps & {
  /** The database's URL (config): the export's worker thread opens a connection of its own to it. */
  databaseUrl: string;
  log: Logger;
  /** Resolved when a job finishes (the notifications service may be built after this one). */
  notifications: () => NoticePublisher | undefined;
  /** How often an idle worker looks for queued jobs, expired archives and stale jobs. */
  pollMs?: number;
};

export type Scope = { kind: "org"; org: string } | { kind: "person"; person: Person };

const where = (scope: Scope) =>
  scope.kind === "org"
    ? { kind: "org", org: scope.org }
    : { kind: "person", requestedBy: scope.person.userId, org: null };

const describe = (scope: Scope) => (scope.kind === "org" ? `organization "${scope.org}"` : "your account");

/** Prisma's code for a transaction that lost a serialization race (PostgreSQL SERIALIZABLE). */
const isSerializationFailure = (e: unknown) =>
  typeof e === "object" && e !== null && (e as { code?: unknown }).code === "P2034";

export class Exports {
  private readonly o: ExportsOptions;
  private readonly db: Database;
  private readonly target: StoreTarget;
  private timer: NodeJS.Timeout | undefined;
  private running: { id: string; abort: AbortController; done: Promise<void> } | undefined;
  private pass: Promise<void> | undefined;
  private again = false;
  /** Polling (start() until stop()). */
  private started = false;
  /** stop() was called: no new job is claimed, the one under way goes back to the queue. */
  private closing = false;

  constructor(options: ExportsOptions) {
    const target = parseDatabaseUrl(options.databaseUrl);
    this.target =
      target.provider === "sqlite"
        ? { provider: "sqlite", path: target.path, timeoutMs: SQLITE_BUSY_TIMEOUT_MS }
        : { provider: "postgresql", url: target.url };
    this.o = options;
    this.db = options.db;
  }

  /**
   * A new export of the scope, queued; refused with 409 while one is queued or running and 429
   * past EXPORTS_PER_DAY today (UTC). The check and the insert are one serializable
   * transaction, so two replicas cannot both pass it.
   */
  async request(scope: Scope, requestedBy: string): Promise<ExportJobView> {
    const now = this.o.now();
    for (let attempt = 0; ; attempt++) {
      try {
        const job = await this.db.prisma.$transaction(
          async (tx) => {
            const recent = await tx.exportJob.findMany({
              where: {
                ...where(scope),
                OR: [{ state: { in: ["queued", "running"] } }, { createdAt: { gte: new Date(utcDayStart(now)) } }],
              },
              select: { state: true, createdAt: true },
            });
            const refused = refusal(recent, now, describe(scope));
            if (refused?.status === 409) throw conflict(refused.message);
            if (refused) throw tooManyRequests(refused.retryAfterS ?? 60, refused.message);
            return tx.exportJob.create({
              data: {
                kind: scope.kind,
                org: scope.kind === "org" ? scope.org : null,
                requestedBy,
                state: "queued",
                step: "queued",
                createdAt: new Date(now),
              },
            });
          },
          { isolationLevel: "Serializable" },
        );
        this.kick();
        return jobView(job, now);
      } catch (error) {
        if (error instanceof ApiError || !isSerializationFailure(error) || attempt >= 4) throw error;
      }
    }
  }

  async list(scope: Scope): Promise<ExportJobView[]> {
    const rows = await this.db.prisma.exportJob.findMany({
      where: where(scope),
      orderBy: { createdAt: "desc" },
      take: 100,
    });
    const now = this.o.now();
    return rows.map((r) => jobView(r, now));
  }

  /** The scope's job, or 404 (another organization's or person's job does not exist here). */
  async get(scope: Scope, id: string): Promise<JobRow> {
    const row = await this.db.prisma.exportJob.findFirst({ where: { id, ...where(scope) } });
    if (!row) throw notFound(`Export "${id}"`);
    return row;
  }

  view(job: JobRow): ExportJobView {
    return jobView(job, this.o.now());
  }

  /**
   * Streams the archive's chunks in order, one row in memory at a time, waiting for the client
   * to take each. 410 once expired, 409 while not finished.
   */
  async download(job: JobRow, res: Response): Promise<void> {
    const state = jobView(job, this.o.now()).state;
    if (state === "expired")
      throw new ApiError(410, "gone", "This export has expired (archives are kept 7 days); request a new one");
    if (state !== "succeeded" || job.sizeBytes === null)
      throw conflict(`This export is ${state}; it can be downloaded once it has succeeded`);
    const date = job.createdAt.toISOString().slice(0, 10);
    const name = `atrium-${job.kind === "org" ? job.org : "account"}-export-${date}.zip`;
    res.status(200);
    res.setHeader("content-type", "application/zip");
    res.setHeader("content-disposition", `attachment; filename="${name}"`);
    res.setHeader("content-length", String(job.sizeBytes));
    if (job.sha256) res.setHeader("x-content-sha256", job.sha256);
    for (let seq = 0; ; seq++) {
      const chunk = await this.db.prisma.exportChunk.findUnique({ where: { jobId_seq: { jobId: job.id, seq } } });
      if (!chunk) break;
      if (res.destroyed) return;
      if (!res.write(chunk.bytes))
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off("drain", done);
            res.off("close", done);
            resolve();
          };
          res.on("drain", done);
          res.on("close", done);
        });
    }
    res.end();
  }

  // ---- The worker ----

  start(): void {
    if (this.started) return;
    this.started = true;
    this.closing = false;
    const every = this.o.pollMs ?? 5000;
    this.timer = setInterval(() => this.kick(), every);
    this.timer.unref();
    this.kick();
  }

  /** Stops looking for work; a job under way is put back in the queue for another replica. */
  async stop(): Promise<void> {
    this.started = false;
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    this.running?.abort.abort(new Error("the API is stopping"));
    await this.running?.done;
    await this.pass;
  }

  /** Look for work now (after a request on this replica; otherwise every pollMs). */
  kick(): void {
    if (!this.started) return;
    if (this.pass) {
      this.again = true;
      return;
    }
    this.pass = this.runPass()
      .catch((error) => this.o.log("Export pass failed", { error: errorMessage(error) }, "error"))
      .finally(() => {
        this.pass = undefined;
        if (this.again && this.started) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Resolves when this replica has no pass under way (tests). */
  async idle(): Promise<void> {
    while (this.pass || this.running) {
      await this.pass;
      await this.running?.done;
    }
  }

  /** One pass: expire, recover, then run queued jobs one after the other until none is left. */
  async runPass(): Promise<void> {
    await this.sweep();
    await this.recover();
    while (!this.closing) {
      const job = await this.claim();
      if (!job) return;
      await this.run(job);
    }
  }

  /** Archives past their expiry become expired and lose their chunks. */
  async sweep(): Promise<number> {
    const now = new Date(this.o.now());
    const due = await this.db.prisma.exportJob.findMany({
      where: { state: "succeeded", expiresAt: { lte: now } },
      select: { id: true },
    });
    for (const { id } of due) {
      const moved = await this.db.prisma.exportJob.updateMany({
        where: { id, state: "succeeded" },
        data: { state: "expired" },
      });
      await this.db.prisma.exportChunk.deleteMany({ where: { jobId: id } });
      if (moved.count) this.o.log("Export expired; its archive was deleted", { export: id });
    }
    return due.length;
  }

  /** Jobs left running by a replica that stopped: started again once, then failed. */
  async recover(): Promise<void> {
    const now = this.o.now();
    const running = await this.db.prisma.exportJob.findMany({ where: { state: "running" } });
    for (const job of running) {
      const action = staleAction(job, now, job.id === this.running?.id);
      if (action === "none") continue;
      // Conditional on the heartbeat read: a writer that proved alive meanwhile keeps its job.
      const guard = { id: job.id, state: "running", startedAt: job.startedAt };
      const moved = await this.db.prisma.exportJob.updateMany({
        where: guard,
        data:
          action === "requeue"
            ? { state: "queued", step: "queued", done: 0, startedAt: null, error: RESTARTED }
            : {
                state: "failed",
                error: "The export was interrupted twice; request a new one",
                finishedAt: new Date(now),
              },
      });
      if (!moved.count) continue;
      await this.db.prisma.exportChunk.deleteMany({ where: { jobId: job.id } });
      this.o.log(
        action === "requeue" ? "Export left running by a stopped replica: queued again" : "Export failed",
        { export: job.id },
        "warn",
      );
      if (action === "fail") await this.auditCompletion(job, "error");
    }
  }

  /** The oldest queued job, claimed by this replica (another replica may win it: then the next). */
  private async claim(): Promise<JobRow | undefined> {
    for (;;) {
      const next = await this.db.prisma.exportJob.findFirst({
        where: { state: "queued" },
        orderBy: { createdAt: "asc" },
      });
      if (!next) return undefined;
      const startedAt = new Date(this.o.now());
      const won = await this.db.prisma.exportJob.updateMany({
        where: { id: next.id, state: "queued" },
        data: { state: "running", startedAt, step: "starting" },
      });
      if (won.count) return { ...next, state: "running", startedAt };
    }
  }

  private async run(job: JobRow): Promise<void> {
    const abort = new AbortController();
    let finished!: () => void;
    const done = new Promise<void>((resolve) => {
      finished = resolve;
    });
    this.running = { id: job.id, abort, done };
    try {
      await this.write(job, abort.signal);
    } catch (error) {
      await this.fail(job, error, abort.signal.aborted);
    } finally {
      this.running = undefined;
      finished();
    }
  }

  private async write(job: JobRow, signal: AbortSignal): Promise<void> {
    const scope = await this.scopeOf(job);
    const prisma = this.db.prisma;
    const subject = scope.kind === "org" ? scope.org : scope.person.email;
    const files = scope.kind === "org" ? orgFiles(this.o, scope.org) : personFiles(this.o, scope.person);
    const baseTotal =
      scope.kind === "org" ? await orgTotals(this.o, scope.org) : await personTotals(this.o, scope.person);
    const generatedAt = this.o.now();
    // Everything else on the worker: reading the big tables, encoding, deflate, hashes, the chunks,
    // progress and heartbeat. Its writes are conditional on this attempt's startedAt, which it
    // moves forward and reports: this thread's own conditional writes below use the latest.
    const result = await runOnWorker({
      data: {
        target: this.target,
        attempt: { id: job.id, startedAt: job.startedAt?.getTime() ?? generatedAt },
        skewMs: generatedAt - Date.now(),
        kind: scope.kind,
        subject,
        generatedAt,
        baseTotal,
      },
      files,
      signal,
      track: (startedAt) => {
        job.startedAt = new Date(startedAt);
      },
    });
    const done = result.records;
    const finishedAt = this.o.now();
    const succeeded = await prisma.exportJob.updateMany({
      where: this.ours(job),
      data: {
        state: "succeeded",
        step: "done",
        done,
        total: done,
        error: null,
        sizeBytes: result.bytes,
        sha256: result.sha256,
        finishedAt: new Date(finishedAt),
        expiresAt: new Date(finishedAt + EXPORT_TTL_MS),
      },
    });
    if (!succeeded.count) throw new Error("the job is no longer running on this replica");
    this.o.log("Export written", {
      export: job.id,
      kind: job.kind,
      org: job.org ?? undefined,
      bytes: result.bytes,
      chunks: result.chunks,
      records: done,
      ms: finishedAt - generatedAt,
    });
    await this.auditCompletion(job, "success", { sizeBytes: result.bytes, sha256: result.sha256 });
    await this.notifyReady(job, scope);
  }

  private async fail(job: JobRow, error: unknown, stopping: boolean): Promise<void> {
    const prisma = this.db.prisma;
    if (stopping) {
      // This replica is stopping: another one starts the job again (not counted as a loss).
      const requeued = await prisma.exportJob
        .updateMany({ where: this.ours(job), data: { state: "queued", step: "queued", done: 0, startedAt: null } })
        .catch(() => ({ count: 0 }));
      if (requeued.count) await prisma.exportChunk.deleteMany({ where: { jobId: job.id } }).catch(() => {});
      this.o.log("Export put back in the queue: the API is stopping", { export: job.id });
      return;
    }
    this.o.log("Export failed", { export: job.id, error: errorMessage(error) }, "error");
    // Only this attempt's: a job another replica took back is left to it, chunks included.
    const failed = await prisma.exportJob.updateMany({
      where: this.ours(job),
      data: {
        state: "failed",
        error: "The export could not be written; request a new one",
        finishedAt: new Date(this.o.now()),
      },
    });
    if (!failed.count) return;
    await prisma.exportChunk.deleteMany({ where: { jobId: job.id } });
    await this.auditCompletion(job, "error", { error: errorMessage(error) });
  }

  /** This replica's attempt at a job: running, with the startedAt it last wrote (claim or heartbeat). */
  private ours(job: JobRow) {
    return { id: job.id, state: "running", startedAt: job.startedAt };
  }

  private async scopeOf(job: JobRow): Promise<Scope> {
    if (job.kind === "org" && job.org) return { kind: "org", org: job.org };
    const user = await this.db.prisma.user.findUnique({ where: { id: job.requestedBy } });
    if (!user) throw new Error("the person who asked for the export no longer exists");
    return { kind: "person", person: { userId: user.id, email: user.email } };
  }

  /** The completion, in the audit log as the system's act (the request was the person's). */
  private async auditCompletion(job: JobRow, result: "success" | "error", detail: Record<string, unknown> = {}) {
    await this.db.prisma.auditEvent
      .create({
        data: {
          at: new Date(this.o.now()),
          org: job.org,
          actor: "system",
          actorType: "system",
          action: "exports.complete",
          target: `export/${job.id}`,
          result,
          detail: JSON.stringify({ kind: job.kind, requestedBy: job.requestedBy, ...detail }),
        },
      })
      .catch((error) =>
        this.o.log("Audit write failed", { action: "exports.complete", error: errorMessage(error) }, "error"),
      );
  }

  /** The requester hears that it is ready, with a console path (the download needs their session). */
  private async notifyReady(job: JobRow, scope: Scope): Promise<void> {
    const notifications = this.o.notifications();
    if (!notifications) {
      this.o.log("Export ready; no notifications service to tell the requester", { export: job.id }, "warn");
      return;
    }
    await notifications.publish(
      {
        key: `export.ready:${job.id}`,
        event: "export.ready",
        org: job.org,
        title: scope.kind === "org" ? `The data export of ${scope.org} is ready` : "Your data export is ready",
        body:
          "The archive can be downloaded from the console for 7 days, by a logged-in person allowed to. " +
          "It is not attached to this message.",
        link: scope.kind === "org" ? `/orgs/${scope.org}/settings#export` : "/account#export",
      },
      { userIds: [job.requestedBy] },
    );
  }
}
