// The dashboard's reads: the overview (from the watches, the audit log and the logo's row), the
// usage charts (UsageDay for past days, UsageAppHour and UsageHour for today so far), the economic overview
// (subscriptions, invoices, usage rollups) and the platform's figures. Each query names the
// organization and the apps it wants, so it walks the tables' primary keys (org, app, metric,
// day) instead of every row of the organization; what is computed from the rows is in the pure
// modules beside this one (economics.ts, series.ts, overview.ts).
import { type AppTemplate, orgOfNamespace } from "@atrium/crds";
import type { Services } from "../app.ts";
import { DAY_MS } from "../billing/domain.ts";
import { type AppMetric, appMetricRows, isAppMetric, SUM_APP_COLUMNS } from "../usage/hours.ts";
import {
  committedMonthly,
  type IdleStops,
  invoicesDue,
  monthStart,
  purchasesThisMonth,
  SAVINGS_PERIOD_DAYS,
  savedByAutoStop,
  trialsEnding,
} from "./economics.ts";
import { Kept } from "./kept.ts";
import {
  API_CALL_METRICS,
  type DayValue,
  lastDays,
  METRIC,
  SeriesSums,
  USAGE_WINDOWS,
  type UsageWindow,
  utcDay,
} from "./series.ts";

/** How long answers are kept (kept.ts): the audit log shows a write within this. */
const OVERVIEW_KEEP_MS = 2_000;
/** Billing changes on a person's action (the savings are kept as long as the usage charts). */
const ECONOMICS_KEEP_MS = 5_000;
/** Usage reaches the rollups at most once a minute per reporter. */
const USAGE_KEEP_MS = 15_000;
/** Days before yesterday do not change (see dayValues). */
const SETTLED_KEEP_MS = 600_000;
/** Apps per query: 10 apps × 90 days × 4 metrics is about 10 ms of SQLite; recent days are few rows. */
const SETTLED_CHUNK = 10;
const RECENT_CHUNK = 50;
/** Which apps were uninstalled within a window changes rarely. */
const MOVED_KEEP_MS = 60_000;
const RECENT_ACTIVITY = 10;

/** Lets the event loop take the requests that came in meanwhile. */
const breathe = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A JSON answer encoded once and sent as it is to every request that asks while it is kept. */
export type Encoded = { json: Buffer };
const encode = (value: unknown): Encoded => ({ json: Buffer.from(JSON.stringify(value)) });

export class Dashboard {
  private readonly overviews: Kept<{
    recentActivity: { at: string; actor: string; action: string; target: string | null; result: string }[];
    logoHash: string | null;
  }>;
  private readonly usages: Kept<Record<UsageWindow, Encoded>>;
  private readonly economies: Kept<Encoded>;
  private readonly saved: Kept<ReturnType<typeof savedByAutoStop>>;
  private readonly moved: Kept<string[]>;
  private readonly settled: Kept<DayValue[]>;
  private readonly settledCharts: Kept<Record<UsageWindow, SeriesSums>>;

  private readonly s: Services;

  constructor(s: Services) {
    this.s = s;
    this.overviews = new Kept(OVERVIEW_KEEP_MS, s.now);
    this.usages = new Kept(USAGE_KEEP_MS, s.now);
    this.economies = new Kept(ECONOMICS_KEEP_MS, s.now);
    this.saved = new Kept(USAGE_KEEP_MS, s.now);
    this.moved = new Kept(MOVED_KEEP_MS, s.now);
    // About 10 MB per organization of 200 apps over 90 days: the last 60 read are kept.
    this.settled = new Kept(SETTLED_KEEP_MS, s.now, 60);
    // The same rows added up per window: a few arrays per app.
    this.settledCharts = new Kept(SETTLED_KEEP_MS, s.now, 60);
  }

  private get prisma() {
    return this.s.db.prisma;
  }

  /** The newest audit entries (index org+at, read newest first, stops after RECENT_ACTIVITY) and the logo's hash. */
  overviewRows(org: string) {
    return this.overviews.get(org, async () => {
      const [events, logo] = await Promise.all([
        this.prisma.auditEvent.findMany({
          where: { org },
          orderBy: { at: "desc" },
          take: RECENT_ACTIVITY,
          select: { at: true, actor: true, action: true, target: true, result: true },
        }),
        this.prisma.orgLogo.findUnique({ where: { org }, select: { hash: true } }),
      ]);
      return {
        recentActivity: events.map((e) => ({ ...e, at: e.at.toISOString() })),
        logoHash: logo?.hash ?? null,
      };
    });
  }

  /**
   * The apps whose rows to read since `from`: those installed now and those with a start or stop
   * since (an app uninstalled within the window has its deletion stop there), so an uninstalled
   * app's requests and savings still count, without scanning every row of the organization.
   * The transitions' part is kept a minute: apps are uninstalled far less often than that.
   */
  private async appsSince(org: string, from: Date): Promise<{ installed: string[]; all: string[] }> {
    const installed = this.s.installs
      .inOrg(org)
      .map((a) => a.metadata.name)
      .sort();
    const moved = await this.moved.get(`${org}/${from.getTime()}`, async () =>
      (await this.prisma.appTransition.groupBy({ by: ["app"], where: { org, at: { gte: from } } })).map((m) => m.app),
    );
    const all = new Set(installed);
    for (const app of moved) all.add(app);
    return { installed, all: [...all].sort() };
  }

  /**
   * Values of `metrics` per app and UTC day from `from` to now: UsageDay rows for past days and
   * today's UsageHour rows added up (today's rollup, if one was written already, is partial: it is
   * not read). `perDay: false` sums each app's values over the whole period instead (dated `from`).
   *
   * Days before yesterday are settled (the metering recomputes only today, yesterday and the
   * hours it just changed), so they are read once and kept ten minutes; only yesterday and today
   * are read again when the answer is. SQLite's reads run on this thread (better-sqlite3) and
   * the rows of one app over 90 days lie on as many pages as days (the rollup writes a day of
   * every app at once), so the apps are read a few at a time, letting the event loop serve
   * requests in between: one query for 200 apps over 90 days held every other request for 100
   * to 300 ms (bench `dashboard`).
   */
  private async dayValues(
    org: string,
    apps: readonly string[],
    metrics: readonly string[],
    from: Date,
    options: { perDay: boolean },
  ): Promise<DayValue[]> {
    const yesterday = new Date(utcDay(this.s.now()).getTime() - DAY_MS);
    const settled =
      from < yesterday
        ? await this.settled.get(settledKey(org, apps, metrics, from, options.perDay), () =>
            this.readDays(org, apps, metrics, from, yesterday, options.perDay, SETTLED_CHUNK),
          )
        : [];
    return [...settled, ...(await this.recentValues(org, apps, metrics, from, options))];
  }

  /**
   * The part of dayValues read again for every answer: yesterday's rollup (or `from`'s, if
   * later) and today's hours added up (dated today, or `from` for period sums). An app's metrics
   * are UsageAppHour's columns (one row per app and hour), the organization's UsageHour rows.
   */
  private async recentValues(
    org: string,
    apps: readonly string[],
    metrics: readonly string[],
    from: Date,
    options: { perDay: boolean },
  ): Promise<DayValue[]> {
    const today = utcDay(this.s.now());
    const yesterday = new Date(today.getTime() - DAY_MS);
    const recentFrom = from < yesterday ? yesterday : from;
    const recent = await this.readDays(org, apps, metrics, recentFrom, today, options.perDay, RECENT_CHUNK);
    const dated = options.perDay ? today : from;
    const appMetrics = metrics.filter(isAppMetric);
    const orgMetrics = metrics.filter((m) => !isAppMetric(m));
    const appHours = appMetrics.length
      ? await this.inChunks(apps, RECENT_CHUNK, async (chunk) =>
          (
            await this.prisma.usageAppHour.groupBy({
              by: ["app"],
              where: { org, app: { in: chunk }, hour: { gte: today } },
              _sum: SUM_APP_COLUMNS,
            })
          ).flatMap((h) =>
            appMetricRows(org, h.app, dated.getTime(), h._sum, appMetrics as AppMetric[]).map((r) => ({
              app: r.app,
              metric: r.metric,
              day: dated,
              value: r.value,
            })),
          ),
        )
      : [];
    const orgHours = orgMetrics.length
      ? (
          await this.prisma.usageHour.groupBy({
            by: ["app", "metric"],
            where: { org, app: { in: [...apps] }, metric: { in: orgMetrics }, hour: { gte: today } },
            _sum: { value: true },
          })
        ).map((h) => ({ app: h.app, metric: h.metric, day: dated, value: h._sum.value ?? 0 }))
      : [];
    return [...recent, ...appHours, ...orgHours];
  }

  /** UsageDay rows of [from, to), per day or summed per app and metric, `chunk` apps at a time. */
  private readDays(
    org: string,
    apps: readonly string[],
    metrics: readonly string[],
    from: Date,
    to: Date,
    perDay: boolean,
    chunk: number,
  ): Promise<DayValue[]> {
    if (from >= to) return Promise.resolve([]);
    return this.inChunks(apps, chunk, async (some) => {
      const where = { org, app: { in: some }, metric: { in: [...metrics] }, day: { gte: from, lt: to } };
      if (perDay)
        return this.prisma.usageDay.findMany({ where, select: { app: true, metric: true, day: true, value: true } });
      const sums = await this.prisma.usageDay.groupBy({ by: ["app", "metric"], where, _sum: { value: true } });
      return sums.map((r) => ({ app: r.app, metric: r.metric, day: from, value: r._sum.value ?? 0 }));
    });
  }

  /** Reads `size` apps at a time and lets the event loop run in between. */
  private async inChunks<T>(apps: readonly string[], size: number, read: (chunk: string[]) => Promise<T[]>) {
    const out: T[] = [];
    for (let i = 0; i < apps.length; i += size) {
      for (const row of await read(apps.slice(i, i + size))) out.push(row);
      if (i + size < apps.length) await breathe();
    }
    return out;
  }

  /**
   * The charts of an organization for every window at once (the 90 days' rows hold the 30's and
   * the 7's), each encoded once. The apps' settled days are added up once per window and kept
   * (settledCharts); each answer adds only yesterday and today to a copy of those sums.
   */
  private charts(org: string): Promise<Record<UsageWindow, Encoded>> {
    return this.usages.get(org, async () => {
      const now = this.s.now();
      const longest = Math.max(...USAGE_WINDOWS);
      const from = lastDays(now, longest)[0] as Date;
      const today = utcDay(now);
      const yesterday = new Date(today.getTime() - DAY_MS);
      const { installed, all } = await this.appsSince(org, from);
      const appMetrics = [METRIC.requests, METRIC.wakes, METRIC.errors5xx, METRIC.runningSeconds];
      const sumsOf = (rows: DayValue[]) =>
        Object.fromEntries(USAGE_WINDOWS.map((w) => [w, new SeriesSums(lastDays(now, w)).add(rows)])) as Record<
          UsageWindow,
          SeriesSums
        >;
      const settled = await this.settledCharts.get(settledKey(org, all, appMetrics, from, true), async () =>
        sumsOf(await this.readDays(org, all, appMetrics, from, yesterday, true, SETTLED_CHUNK)),
      );
      const perApp = await this.recentValues(org, all, appMetrics, from, { perDay: true });
      const orgWide = await this.dayValues(org, [""], [...API_CALL_METRICS, METRIC.membersActive], from, {
        perDay: true,
      });
      const activeToday = await this.prisma.activeMember.count({ where: { org, day: today } });
      // Members active today come from today's ActiveMember rows (the day's rollup of them is
      // partial until the day is over); any partial rollup of today is not read (dayValues).
      const rows = [
        ...perApp,
        ...orgWide.filter((r) => r.metric !== METRIC.membersActive || r.day.getTime() !== today.getTime()),
        { app: "", metric: METRIC.membersActive, day: today, value: activeToday },
      ];
      // Apps uninstalled before a shorter window began have no running time in it: not listed there.
      const encoded = {} as Record<UsageWindow, Encoded>;
      for (const window of USAGE_WINDOWS) encoded[window] = encode(settled[window].clone().add(rows).series(installed));
      return encoded;
    });
  }

  async usage(org: string, window: UsageWindow): Promise<Encoded> {
    return (await this.charts(org))[window];
  }

  economics(org: string): Promise<Encoded> {
    return this.economies.get(org, async () => {
      const now = new Date(this.s.now());
      const [subscriptions, bought, open, savings] = await Promise.all([
        this.prisma.subscription.findMany({
          where: { org, liveKey: { not: null } },
          select: {
            app: true,
            template: true,
            planId: true,
            interval: true,
            amount: true,
            currency: true,
            state: true,
            trialEnd: true,
          },
        }),
        this.prisma.invoice.findMany({
          where: { org, issuedAt: { gte: monthStart(now) } },
          select: {
            currency: true,
            total: true,
            issuedAt: true,
            status: true,
            subscription: { select: { interval: true } },
          },
        }),
        this.prisma.invoice.findMany({ where: { org, status: "open" }, select: { currency: true, total: true } }),
        this.savings(org),
      ]);
      const plansOf = (template: string) =>
        (this.s.catalog.get(template) as AppTemplate | undefined)?.spec.pricing?.plans;
      return encode({
        asOf: now.toISOString(),
        committedMonthly: committedMonthly(subscriptions),
        purchasesThisMonth: purchasesThisMonth(
          bought.map((i) => ({ ...i, interval: i.subscription?.interval ?? null })),
          now,
        ),
        trialsEnding: trialsEnding(subscriptions, plansOf, now),
        invoicesDue: invoicesDue(open),
        savedByAutoStop: savings,
      });
    });
  }

  /** Saved by auto-stop over the last 30 UTC days; kept as long as the usage charts (same rows). */
  private savings(org: string) {
    return this.saved.get(org, async () => {
      const from = new Date(utcDay(this.s.now()).getTime() - (SAVINGS_PERIOD_DAYS - 1) * DAY_MS);
      const { all } = await this.appsSince(org, from);
      const idle = await this.dayValues(
        org,
        all,
        [METRIC.stoppedIdleSeconds, METRIC.stoppedIdleCpuCoreSeconds, METRIC.stoppedIdleGibSeconds],
        from,
        { perDay: false },
      );
      return savedByAutoStop(idleStopsPerApp(idle), this.s.config.prices);
    });
  }

  /** Across every organization, for platform administrators; read fresh (few callers). */
  async platformStats() {
    const today = utcDay(this.s.now());
    const orgs = this.s.directory.organizations.list().map((o) => o.metadata.name);
    let apps = 0;
    let runningApps = 0;
    for (const org of orgs) {
      const installed = this.s.installs.inOrg(org);
      apps += installed.length;
      runningApps += installed.filter((a) => a.status?.phase === "Running").length;
    }
    const known = new Set(orgs);
    const members = this.s.directory.members
      .list()
      .filter((m) => known.has(orgOfNamespace(m.metadata.namespace) ?? "")).length;
    const [wakes, stops] = await Promise.all([
      this.prisma.usageAppHour.aggregate({ where: { hour: { gte: today } }, _sum: { wakes: true } }),
      this.prisma.appTransition.count({ where: { kind: "stop", at: { gte: today } } }),
    ]);
    return {
      organizations: orgs.length,
      members,
      apps,
      runningApps,
      wakesToday: wakes._sum.wakes ?? 0,
      stopsToday: stops,
    };
  }
}

/** What a kept read of settled days is kept under: the same rows for the same question. */
const settledKey = (org: string, apps: readonly string[], metrics: readonly string[], from: Date, perDay: boolean) =>
  [org, from.toISOString(), perDay, metrics.join(","), apps.join(",")].join("|");

/** The savings' inputs per app from the summed rollup rows. */
export function idleStopsPerApp(rows: readonly Pick<DayValue, "app" | "metric" | "value">[]): IdleStops[] {
  const byApp = new Map<string, IdleStops>();
  for (const r of rows) {
    let s = byApp.get(r.app);
    if (!s) {
      s = { app: r.app, stoppedSeconds: 0, cpuCoreSeconds: 0, gibSeconds: 0 };
      byApp.set(r.app, s);
    }
    if (r.metric === METRIC.stoppedIdleSeconds) s.stoppedSeconds += r.value;
    else if (r.metric === METRIC.stoppedIdleCpuCoreSeconds) s.cpuCoreSeconds += r.value;
    else if (r.metric === METRIC.stoppedIdleGibSeconds) s.gibSeconds += r.value;
  }
  return [...byApp.values()];
}
