// Usage metering, measured by Atrium itself (issue 12): the gateway's per-app batches (ingest,
// idempotent by batch id), the apps' starts and stops from the Installs watch (AppTransition,
// turned into running and stopped-for-idleness seconds per UTC hour), the API's own calls per
// organization, key type and status class, and members active per UTC day. Hourly rows are
// kept 35 days, daily rollups 25 months. An app's hour is one UsageAppHour row holding all its
// metrics (ADR 0022), so a gateway's batch writes one row per app; the organization's own
// hourly metrics (API calls) are UsageHour rows, one per metric. Every write is a set from what
// is stored or an increment inside the transaction that records its batch, so every replica may
// run every pass.
import type { AppInstance } from "@atrium/crds";
import { errorMessage, type Logger } from "@atrium/kube";
import type { Request, RequestHandler } from "express";
import type { InstallChange, Installs } from "../apps/installs.ts";
import type { Directory } from "../authz/directory.ts";
import { type Database, isUniqueViolation } from "../db/index.ts";
import type { Catalog } from "../marketplace/catalog.ts";
import {
  appMetricRows,
  changes,
  DAY_MS,
  dayOf,
  HOUR_MS,
  hourOf,
  type MetricRow,
  STATE_METRICS,
  type StateSeconds,
  SUM_APP_COLUMNS,
  stateColumns,
  stateHours,
  type Transition,
} from "./hours.ts";
import { type Last, requestsOf, transitionOf, type WatchedApp } from "./transitions.ts";

export type UsageConfig = {
  /** The secret the gateways send (ATRIUM_USAGE_TOKEN); unset: every batch is refused (401). */
  token: string | undefined;
  /** How often the API's own call counts and active members are written (default 60 s). */
  flushIntervalMs: number;
  /** How often rollups, running time and retention run on each replica (default 300 s). */
  rollupIntervalMs: number;
};

/** What a gateway replica reports (POST /api/usage/batches). */
export type UsageBatch = {
  batch: string;
  from: string;
  to: string;
  apps: { org: string; app: string; requests: number; errors5xx: number; wakes: number }[];
};

export const HOURLY_RETENTION_DAYS = 35;
export const DAILY_RETENTION_MONTHS = 25;

const ORG_PATH = /^\/api\/orgs\/([^/?#]+)/;

export class Usage {
  private readonly db: Database;
  private readonly installs: Installs;
  private readonly catalog: Catalog;
  private readonly directory: Directory;
  private readonly log: Logger;
  private readonly now: () => number;
  readonly config: UsageConfig;

  /** API calls counted since the last flush: "org\0metric\0hour" → count. */
  private calls = new Map<string, number>();
  /** Members seen active since the last flush: "org\0email\0day". */
  private active = new Set<string>();
  /** Active members already written (so each is written once a day per replica). */
  private readonly activeWritten = new Set<string>();
  /** UTC days whose hours this replica changed since its last rollup. */
  private readonly dirtyDays = new Set<number>();
  /** The last transition known per app uid, and each app's queue (one event at a time). */
  private readonly last = new Map<string, Last>();
  private readonly queues = new Map<string, Promise<void>>();
  /** Per app ("org\0app"): the hour up to which its state seconds were last recomputed here. */
  private readonly doneUpTo = new Map<string, number>();
  private unfollow: (() => void) | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private rollupTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(options: {
    db: Database;
    installs: Installs;
    catalog: Catalog;
    directory: Directory;
    log: Logger;
    now: () => number;
    config: UsageConfig;
  }) {
    this.db = options.db;
    this.installs = options.installs;
    this.catalog = options.catalog;
    this.directory = options.directory;
    this.log = options.log;
    this.now = options.now;
    this.config = options.config;
  }

  // ---- The gateway's batches ----

  /**
   * Counts a batch once: its id and its counts are written in one transaction, the id first
   * (unique), so a batch sent again, or by two replicas of the API at once, finds its id taken
   * and counts nothing. Counts go to the UTC hour of the batch's end, one UsageAppHour row per
   * app (all three counts in it; an app without any is not written). False: already counted.
   */
  async ingest(batch: UsageBatch): Promise<boolean> {
    const hour = new Date(hourOf(Date.parse(batch.to)));
    const sums = batchSums(batch);
    try {
      await this.db.prisma.$transaction(async (tx) => {
        await tx.usageBatch.create({ data: { id: batch.batch, receivedAt: new Date(this.now()) } });
        for (const { org, app, requests, errors5xx, wakes } of sums)
          await tx.usageAppHour.upsert({
            where: { org_app_hour: { org, app, hour } },
            create: { org, app, hour, requests, errors5xx, wakes },
            update: {
              requests: { increment: requests },
              errors5xx: { increment: errors5xx },
              wakes: { increment: wakes },
            },
          });
      });
    } catch (error) {
      // Taken by an earlier send of the same batch; any other conflict is retried by the gateway.
      if (isUniqueViolation(error) && (await this.db.prisma.usageBatch.findUnique({ where: { id: batch.batch } })))
        return false;
      throw error;
    }
    this.dirtyDays.add(dayOf(hour.getTime()));
    return true;
  }

  // ---- The API's own calls and active members ----

  /** Counts every call of a member or key in an organization by key type and status class. */
  middleware(): RequestHandler {
    return (req, res, next) => {
      res.on("finish", () => this.countCall(req, res.statusCode));
      next();
    };
  }

  private countCall(req: Request, status: number): void {
    const p = req.principal;
    if (!p || status < 200 || status >= 600) return;
    let org: string;
    if (p.kind === "apikey") org = p.org;
    else {
      const m = ORG_PATH.exec(req.originalUrl);
      if (!m) return;
      org = decodeURIComponent(m[1] as string);
      // Only an organization the caller belongs to: outsiders cannot add to another's counts.
      if (!this.directory.memberByEmail(org, p.email)) return;
    }
    const now = this.now();
    const metric = `api_calls:${p.kind === "session" ? "session" : p.keyType}:${Math.floor(status / 100)}xx`;
    const k = `${org}\0${metric}\0${hourOf(now)}`;
    this.calls.set(k, (this.calls.get(k) ?? 0) + 1);
    const seen = `${org}\0${p.email}\0${dayOf(now)}`;
    if (!this.activeWritten.has(seen)) this.active.add(seen);
  }

  /** Writes the counted calls and new active members in one transaction; on failure they wait for the next. */
  async flush(): Promise<void> {
    const calls = this.calls;
    const active = this.active;
    if (!calls.size && !active.size) return;
    this.calls = new Map();
    this.active = new Set();
    try {
      await this.db.prisma.$transaction(async (tx) => {
        for (const [k, value] of calls) {
          const [org, metric, at] = k.split("\0") as [string, string, string];
          const hour = new Date(Number(at));
          await tx.usageHour.upsert({
            where: { org_app_metric_hour: { org, app: "", metric, hour } },
            create: { org, app: "", metric, hour, value },
            update: { value: { increment: value } },
          });
        }
        for (const k of active) {
          const [org, user, at] = k.split("\0") as [string, string, string];
          const day = new Date(Number(at));
          await tx.activeMember.upsert({
            where: { org_user_day: { org, user, day } },
            create: { org, user, day },
            update: {},
          });
        }
      });
    } catch (error) {
      for (const [k, v] of calls) this.calls.set(k, (this.calls.get(k) ?? 0) + v);
      for (const k of active) this.active.add(k);
      throw error;
    }
    for (const k of calls.keys()) this.dirtyDays.add(dayOf(Number(k.split("\0")[2])));
    const today = dayOf(this.now());
    for (const k of active) {
      this.activeWritten.add(k);
      this.dirtyDays.add(dayOf(Number(k.split("\0")[2])));
    }
    for (const k of this.activeWritten) if (Number(k.split("\0")[2]) < today - DAY_MS) this.activeWritten.delete(k);
  }

  // ---- Starts and stops ----

  /** Records the transition a watch event shows (queued per app, so its events go in order). */
  observe(type: InstallChange, app: AppInstance): Promise<void> {
    const uid = (app as WatchedApp).metadata.uid;
    if (!uid) return Promise.resolve();
    const next = (this.queues.get(uid) ?? Promise.resolve())
      .then(() => this.record(type, app as WatchedApp))
      .catch((error) =>
        this.log(
          "Could not record an app's transition",
          { app: app.metadata.name, error: errorMessage(error) },
          "error",
        ),
      );
    this.queues.set(uid, next);
    void next.then(() => {
      if (this.queues.get(uid) === next) this.queues.delete(uid);
    });
    return next;
  }

  private async record(type: InstallChange, app: WatchedApp): Promise<void> {
    const uid = app.metadata.uid as string;
    const org = (app.metadata.namespace ?? "").replace(/^org-/, "");
    const name = app.metadata.name;
    let last = this.last.get(uid);
    if (!this.last.has(uid)) {
      const row = await this.db.prisma.appTransition.findFirst({
        where: { org, app: name, key: { startsWith: `${uid}:` } },
        orderBy: { at: "desc" },
      });
      last = row ? { kind: row.kind as "start" | "stop", cause: row.cause, at: row.at.getTime() } : undefined;
      this.last.set(uid, last);
    }
    const draft = transitionOf(app, last, type === "deleted", this.now());
    if (type === "deleted") this.last.delete(uid);
    if (!draft) return;
    const { cpuMillis, memoryBytes } = requestsOf(app, this.catalog.get(app.spec.template));
    try {
      await this.db.prisma.appTransition.create({
        data: {
          key: draft.key,
          org,
          app: name,
          kind: draft.kind,
          cause: draft.cause,
          at: new Date(draft.at),
          cpuMillis,
          memoryBytes,
        },
      });
      this.log("App transition recorded", {
        org,
        app: name,
        kind: draft.kind,
        cause: draft.cause,
        at: new Date(draft.at).toISOString(),
      });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      // Another replica (or this one before a relist) recorded it, maybe a second apart: what
      // is stored is what the next transition's key names.
      const stored = await this.db.prisma.appTransition.findUnique({ where: { key: draft.key } });
      if (stored) Object.assign(draft, { cause: stored.cause, at: stored.at.getTime() });
    }
    if (type !== "deleted") this.last.set(uid, { kind: draft.kind, cause: draft.cause, at: draft.at });
    await this.recomputeApp(org, name, hourOf(Math.min(draft.at, this.now())), this.now());
  }

  /**
   * Sets the running and stopped-idle seconds of one app for the hours of [from, to) from its
   * transitions; only values that changed are written.
   */
  async recomputeApp(org: string, app: string, from: number, to: number): Promise<void> {
    const { prisma } = this.db;
    const floor = hourOf(to) - HOURLY_RETENTION_DAYS * DAY_MS;
    from = Math.max(hourOf(from), floor);
    const [before, inside, stored] = await Promise.all([
      prisma.appTransition.findFirst({ where: { org, app, at: { lt: new Date(from) } }, orderBy: { at: "desc" } }),
      prisma.appTransition.findMany({
        where: { org, app, at: { gte: new Date(from), lt: new Date(to) } },
        orderBy: { at: "asc" },
      }),
      prisma.usageAppHour.findMany({
        where: { org, app, hour: { gte: new Date(from), lt: new Date(to) } },
        select: {
          hour: true,
          runningSeconds: true,
          stoppedIdleSeconds: true,
          stoppedIdleCpuCoreSeconds: true,
          stoppedIdleGibSeconds: true,
        },
      }),
    ]);
    const transitions: Transition[] = [...(before ? [before] : []), ...inside].map((t) => ({
      kind: t.kind as "start" | "stop",
      cause: t.cause,
      at: t.at.getTime(),
      cpuMillis: t.cpuMillis,
      memoryBytes: t.memoryBytes,
    }));
    const hours = stateHours(transitions, from, to);
    const wanted: MetricRow[] = [];
    for (const [hour, seconds] of hours)
      for (const metric of STATE_METRICS) wanted.push({ org, app, metric, at: hour, value: seconds[metric] });
    const { write } = changes(
      stored.flatMap((r) => appMetricRows(org, app, r.hour.getTime(), r, STATE_METRICS)),
      wanted,
    );
    // One write per hour that changed, setting its four state columns (the counts stay).
    for (const at of new Set(write.map((r) => r.at)))
      await this.setStateHour(org, app, at, hours.get(at) as StateSeconds);
  }

  private async setStateHour(org: string, app: string, at: number, seconds: StateSeconds): Promise<void> {
    const hour = new Date(at);
    const columns = stateColumns(seconds);
    await this.db.prisma.usageAppHour.upsert({
      where: { org_app_hour: { org, app, hour } },
      create: { org, app, hour, ...columns },
      update: columns,
    });
    this.dirtyDays.add(dayOf(at));
  }

  /**
   * Brings the state seconds of every app with transitions up to the current hour: from its
   * latest stored hour (so an API that was down fills the gap), at least the previous hour. The
   * hour under way is written when it is over (or at a transition, which writes up to that
   * moment): a running app costs one write an hour, not one per pass.
   */
  private async recomputeAll(now: number): Promise<void> {
    const { prisma } = this.db;
    const apps = await prisma.appTransition.groupBy({ by: ["org", "app"], _max: { at: true } });
    for (const a of apps) {
      const k = `${a.org}\0${a.app}`;
      // Where this replica got to; after a start, the app's latest stored hour (or transition).
      let done = this.doneUpTo.get(k);
      if (done === undefined) {
        // The latest hour with state seconds (a row may hold only the gateway's counts).
        const latest = await prisma.usageAppHour.findFirst({
          where: { org: a.org, app: a.app, OR: [{ runningSeconds: { not: 0 } }, { stoppedIdleSeconds: { not: 0 } }] },
          orderBy: { hour: "desc" },
          select: { hour: true },
        });
        done = latest?.hour.getTime() ?? a._max.at?.getTime() ?? now;
      }
      await this.recomputeApp(a.org, a.app, Math.min(hourOf(now) - HOUR_MS, done), hourOf(now));
      this.doneUpTo.set(k, hourOf(now));
    }
  }

  // ---- Rollups and retention ----

  /**
   * One pass: the counted calls written, running time brought up to now, the days touched
   * (and today and yesterday, whoever touched them) rolled up from their hours, old rows
   * deleted. Idempotent: a rerun, or another replica's pass, writes nothing new.
   */
  async rollup(now = this.now()): Promise<void> {
    await this.flush();
    await this.recomputeAll(now);
    const days = new Set([...this.dirtyDays, dayOf(now), dayOf(now) - DAY_MS]);
    this.dirtyDays.clear();
    for (const day of [...days].sort()) {
      try {
        await this.rollupDay(day);
      } catch (error) {
        this.dirtyDays.add(day);
        throw error;
      }
    }
    await this.retention(now);
  }

  /** Sets a day's rows to the sums of its hours, and members_active to the members seen that day. */
  async rollupDay(day: number): Promise<void> {
    const { prisma } = this.db;
    const start = new Date(day);
    const end = new Date(day + DAY_MS);
    const [sums, appSums, members, stored] = await Promise.all([
      prisma.usageHour.groupBy({
        by: ["org", "app", "metric"],
        where: { hour: { gte: start, lt: end } },
        _sum: { value: true },
      }),
      prisma.usageAppHour.groupBy({
        by: ["org", "app"],
        where: { hour: { gte: start, lt: end } },
        _sum: SUM_APP_COLUMNS,
      }),
      prisma.activeMember.groupBy({ by: ["org"], where: { day: start }, _count: { _all: true } }),
      prisma.usageDay.findMany({ where: { day: start } }),
    ]);
    const wanted: MetricRow[] = [
      ...sums.map((s) => ({ org: s.org, app: s.app, metric: s.metric, at: day, value: s._sum.value ?? 0 })),
      // A metric the app had none of that day has no row (as before the wide hours).
      ...appSums.flatMap((s) => appMetricRows(s.org, s.app, day, s._sum).filter((r) => r.value !== 0)),
      ...members.map((m) => ({ org: m.org, app: "", metric: "members_active", at: day, value: m._count._all })),
    ];
    const { write, remove } = changes(
      stored.map((r) => ({ org: r.org, app: r.app, metric: r.metric, at: day, value: r.value })),
      wanted,
    );
    for (const r of write)
      await prisma.usageDay.upsert({
        where: { org_app_metric_day: { org: r.org, app: r.app, metric: r.metric, day: start } },
        create: { org: r.org, app: r.app, metric: r.metric, day: start, value: r.value },
        update: { value: r.value },
      });
    for (const r of remove)
      await prisma.usageDay.deleteMany({ where: { org: r.org, app: r.app, metric: r.metric, day: start } });
  }

  /** Hourly rows (both tables), batch ids and active members older than 35 days, daily rows older than 25 months. */
  async retention(now: number): Promise<void> {
    const { prisma } = this.db;
    const hourly = new Date(dayOf(now) - HOURLY_RETENTION_DAYS * DAY_MS);
    const d = new Date(dayOf(now));
    const daily = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - DAILY_RETENTION_MONTHS, d.getUTCDate()));
    await prisma.usageHour.deleteMany({ where: { hour: { lt: hourly } } });
    await prisma.usageAppHour.deleteMany({ where: { hour: { lt: hourly } } });
    await prisma.usageBatch.deleteMany({ where: { receivedAt: { lt: hourly } } });
    await prisma.activeMember.deleteMany({ where: { day: { lt: hourly } } });
    await prisma.usageDay.deleteMany({ where: { day: { lt: daily } } });
  }

  // ---- Lifecycle ----

  /** Follows the Installs watch (and what it already holds) and starts the flush and rollup timers. */
  start(): void {
    if (this.unfollow) return;
    this.unfollow = this.installs.onChange((type, app) => void this.observe(type, app));
    for (const org of this.directory.organizations.list())
      for (const app of this.installs.inOrg(org.metadata.name)) void this.observe("added", app);
    const guarded = (what: string, run: () => Promise<void>) => () => {
      this.running = (this.running ?? Promise.resolve())
        .then(run)
        .catch((error) => this.log(`Usage ${what} failed`, { error: errorMessage(error) }, "error"));
    };
    this.flushTimer = setInterval(
      guarded("flush", () => this.flush()),
      this.config.flushIntervalMs,
    );
    this.rollupTimer = setInterval(
      guarded("rollup", () => this.rollup()),
      this.config.rollupIntervalMs,
    );
    this.flushTimer.unref();
    this.rollupTimer.unref();
  }

  /** Stops the timers and the listener, lets queued transitions finish, and writes what was counted. */
  async stop(): Promise<void> {
    clearInterval(this.flushTimer);
    clearInterval(this.rollupTimer);
    this.unfollow?.();
    this.unfollow = undefined;
    await Promise.all([...this.queues.values()]);
    await this.running;
    await this.flush().catch((error) =>
      this.log("Usage flush failed at shutdown", { error: errorMessage(error) }, "error"),
    );
  }
}

/**
 * A batch's counts per app (an app listed twice is added up), leaving out apps with nothing to
 * count: what one UsageAppHour write per app adds.
 */
export function batchSums(
  batch: Pick<UsageBatch, "apps">,
): { org: string; app: string; requests: number; errors5xx: number; wakes: number }[] {
  const sums = new Map<string, { org: string; app: string; requests: number; errors5xx: number; wakes: number }>();
  for (const a of batch.apps) {
    if (!a.requests && !a.errors5xx && !a.wakes) continue;
    const k = `${a.org}\0${a.app}`;
    const row = sums.get(k);
    if (!row) sums.set(k, { org: a.org, app: a.app, requests: a.requests, errors5xx: a.errors5xx, wakes: a.wakes });
    else {
      row.requests += a.requests;
      row.errors5xx += a.errors5xx;
      row.wakes += a.wakes;
    }
  }
  return [...sums.values()];
}
