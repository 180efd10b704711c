// The dashboard, home of the console: the platform's figures (platform administrators), the
// organization's usage over 7, 30 or 90 days (chart in a lazy chunk, with a summary and a table
// for those who do not see it), and its economics: spend per currency, trials ending, invoices
// due and what stopping idle apps saved (an estimate, its formula on hover or focus).
import { useQuery } from "@tanstack/react-query";
import { getRouteApi, Link } from "@tanstack/react-router";
import { lazy, type ReactNode, Suspense, useEffect, useId, useMemo, useRef, useState } from "react";
import { Radio, RadioGroup } from "react-aria-components";
import type { Economics, PlatformStats, UsageSeries } from "../api/client.ts";
import { Card, EmptyState, Loading, PageHeader, ProblemBanner, ui } from "../components/ui.tsx";
import { formatCount, formatDate, formatDateTime } from "../lib/format.ts";
import { formatMoney, moneyList } from "../lib/prices.ts";
import { type Access, useAccess, useMe } from "../lib/session.ts";
import { economicsQuery, platformStatsQuery, USAGE_DAYS, type UsageDays, usageQuery } from "../lib/workspace.ts";
import a from "./apps.module.css";
import w from "./workspace.module.css";

const UsageChart = lazy(() => import("../components/UsageChart.tsx").then((m) => ({ default: m.UsageChart })));
const route = getRouteApi("/orgs/$org/dashboard");

const SERIES = [
  { key: "requests", label: "Requests", colour: "#2b5fd9" },
  { key: "wakes", label: "Wakes", colour: "#1b7a3d" },
  { key: "errors5xx", label: "Server errors", colour: "#b42318" },
] as const;

const sum = (values: readonly number[]) => values.reduce((x, y) => x + y, 0);
function Tile({ label, value, note }: { label: string; value: string; note?: string | undefined }) {
  return (
    <div className={w.tile}>
      <dt>{label}</dt>
      <dd>
        {value}
        {note && <div className={w.tileNote}>{note}</div>}
      </dd>
    </div>
  );
}

function PlatformCard({ stats }: { stats: PlatformStats }) {
  return (
    <Card>
      <div className={w.cardBody}>
        <h2 className={`${w.cardTitle} ${w.cardHead}`}>Platform</h2>
        <dl className={w.tiles}>
          <Tile label="Organizations" value={formatCount(stats.organizations)} />
          <Tile label="Members" value={formatCount(stats.members)} />
          <Tile label="Apps" value={formatCount(stats.apps)} />
          <Tile label="Running apps" value={formatCount(stats.runningApps)} />
          <Tile label="Wakes today" value={formatCount(stats.wakesToday)} />
          <Tile label="Idle stops today" value={formatCount(stats.stopsToday)} />
        </dl>
      </div>
    </Card>
  );
}

/** One sentence with the figures the chart draws, for screen readers and the table's caption. */
export function usageSummary(u: UsageSeries): string {
  const requests = sum(u.requests);
  let peak = 0;
  u.requests.forEach((v, i) => {
    if (v > (u.requests[peak] ?? 0)) peak = i;
  });
  const peakText = requests ? `, most on ${formatDate(u.days[peak])} (${formatCount(u.requests[peak] ?? 0)})` : "";
  return (
    `Over the last ${u.days.length} days: ${formatCount(requests)} requests${peakText}, ` +
    `${formatCount(sum(u.wakes))} wakes and ${formatCount(sum(u.errors5xx))} server errors.`
  );
}

function UsageCard({ org, days }: { org: string; days: UsageDays }) {
  const navigate = route.useNavigate();
  const usage = useQuery(usageQuery(org, days));
  const u = usage.data;
  const series = useMemo(
    () => (u ? SERIES.map((s) => ({ label: s.label, colour: s.colour, values: u[s.key] })) : []),
    [u],
  );
  return (
    <Card>
      <div className={w.cardBody}>
        <div className={w.cardHead}>
          <h2 className={w.cardTitle} id="usage-title">
            Usage
          </h2>
          <RadioGroup
            aria-label="Period"
            orientation="horizontal"
            value={String(days)}
            onChange={(v) => navigate({ search: { days: v === "30" ? undefined : (Number(v) as 7 | 90) } })}
          >
            <div className={a.segmented}>
              {USAGE_DAYS.map((d) => (
                <Radio key={d} value={String(d)} className={a.segment}>
                  {d} days
                </Radio>
              ))}
            </div>
          </RadioGroup>
        </div>
        <ProblemBanner problem={usage.error} title="The usage could not be loaded" />
        {usage.isPending ? (
          <Loading what="usage" />
        ) : u ? (
          <>
            <p id="usage-summary" aria-live="polite">
              {usageSummary(u)}
            </p>
            <div className={w.chart} role="img" aria-labelledby="usage-title usage-summary">
              <Suspense fallback={<Loading what="the chart" />}>
                <UsageChart days={u.days} series={series} />
              </Suspense>
            </div>
            <ul className={w.legend} aria-hidden="true">
              {SERIES.map((s) => (
                <li key={s.key}>
                  <span className={w.swatch} style={{ background: s.colour }} />
                  {s.label}
                </li>
              ))}
            </ul>
            <details className={w.tableToggle}>
              <summary>Show as a table</summary>
              <div className={ui.tableWrap} data-scrolls>
                <table className={`${ui.table} ${w.rowHeads}`}>
                  <caption className="visually-hidden">Usage per day, oldest first</caption>
                  <thead>
                    <tr>
                      <th scope="col">Day</th>
                      {SERIES.map((s) => (
                        <th scope="col" key={s.key}>
                          {s.label}
                        </th>
                      ))}
                      <th scope="col">Active members</th>
                    </tr>
                  </thead>
                  <tbody>
                    {u.days.map((d, i) => (
                      <tr key={d}>
                        <th scope="row">{formatDate(d)}</th>
                        {SERIES.map((s) => (
                          <td key={s.key}>{formatCount(u[s.key][i] ?? 0)}</td>
                        ))}
                        <td>{formatCount(u.membersActive[i] ?? 0)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </details>
          </>
        ) : null}
      </div>
    </Card>
  );
}

/**
 * "How?" and its explanation, shown while the pointer is over either or the button has focus
 * (WCAG 1.4.13: hoverable, persistent, dismissed with Escape); screen readers get it as the
 * button's description. It opens above the tile, anchored to the tile's right edge (CSS), and
 * below it when there is no room above in the viewport (the tile near the top of the window).
 */
function FormulaHint({ label, children }: { label: string; children: ReactNode }) {
  const id = useId();
  const tip = useRef<HTMLSpanElement>(null);
  const [dismissed, setDismissed] = useState(false);
  const [below, setBelow] = useState(false);
  // Measured each time it is shown (CSS shows it; it has no box while hidden): below the tile
  // when it would not fit above.
  useEffect(() => {
    const t = tip.current;
    if (!t) return;
    const observer = new ResizeObserver(() => {
      const tile = t.offsetParent?.getBoundingClientRect();
      const height = t.getBoundingClientRect().height;
      if (tile && height) setBelow(tile.top - height - 6 < 0);
    });
    observer.observe(t);
    return () => observer.disconnect();
  }, []);
  return (
    <span className={w.hint}>
      <button
        type="button"
        // A new hover shows it again after an Escape.
        onMouseEnter={() => setDismissed(false)}
        onMouseLeave={() => setDismissed(false)}
        onBlur={() => setDismissed(false)}
        className={w.infoButton}
        aria-label={label}
        aria-describedby={id}
        onKeyDown={(e) => e.key === "Escape" && setDismissed(true)}
      >
        How?
      </button>
      <span
        ref={tip}
        id={id}
        role="tooltip"
        className={`${w.tooltip} ${w.hintBody} ${below ? w.hintBelow : ""} ${dismissed ? w.hintDismissed : ""}`}
      >
        {children}
      </span>
    </span>
  );
}

function SavedByAutoStop({ saved }: { saved: Economics["savedByAutoStop"] }) {
  return (
    <div className={w.tile}>
      <dt>
        Saved by auto-stop, last {saved.periodDays} days{" "}
        <FormulaHint label="How is this estimated?">
          <p className={w.tooltipLine}>
            {formatHours(saved.cpuCoreHours)} CPU core-hours × {perHour(saved.cpuHourPrice, saved.currency)} +{" "}
            {formatHours(saved.gibHours)} GiB-hours × {perHour(saved.gibHourPrice, saved.currency)} ≈{" "}
            {formatMoney(saved.amount, saved.currency)} ({formatHours(saved.stoppedHours)} hours stopped while idle).
          </p>
          <p className={w.tooltipLine}>Estimate: {saved.formula}.</p>
        </FormulaHint>
      </dt>
      <dd>≈ {formatMoney(saved.amount, saved.currency)}</dd>
    </div>
  );
}

const hoursFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const formatHours = (h: number) => hoursFormat.format(h);
/** A price per hour in the currency's major unit (dollars), as the API gives it: "$0.031611". */
const perHour = (price: number, currency: string) =>
  new Intl.NumberFormat(undefined, { style: "currency", currency, maximumFractionDigits: 6 }).format(price);

const daysLeft = (iso: string) => Math.max(0, Math.ceil((Date.parse(iso) - Date.now()) / 86_400_000));

function EconomicsCard({ org, access }: { org: string; access: Access }) {
  const economics = useQuery({ ...economicsQuery(org), enabled: access.can("billing:view") });
  if (!access.can("billing:view"))
    return (
      <Card>
        <div className={w.cardBody}>
          <h2 className={`${w.cardTitle} ${w.cardHead}`}>Spend</h2>
          <p className={ui.description}>{access.lacks("billing:view")}: the economic overview is hidden.</p>
        </div>
      </Card>
    );
  const e = economics.data;
  const trials = e ? e.trialsEnding.within30Days : [];
  return (
    <Card>
      <div className={w.cardBody}>
        <div className={w.cardHead}>
          <h2 className={w.cardTitle}>Spend</h2>
          {e && <span className={ui.description}>As of {formatDateTime(e.asOf)}</span>}
        </div>
        <ProblemBanner problem={economics.error} title="The economic overview could not be loaded" />
        {economics.isPending ? (
          <Loading what="the economic overview" />
        ) : e ? (
          <>
            <dl className={w.tiles}>
              <Tile label="Committed per month" value={moneyList(e.committedMonthly)} />
              <Tile label="Purchases this month" value={moneyList(e.purchasesThisMonth)} />
              <Tile
                label="Invoices due"
                value={formatCount(e.invoicesDue.count)}
                note={e.invoicesDue.count ? moneyList(e.invoicesDue.byCurrency) : undefined}
              />
              <SavedByAutoStop saved={e.savedByAutoStop} />
            </dl>
            <h3 className={`${w.cardTitle} ${a.section}`}>Trials ending</h3>
            {trials.length ? (
              <ul className={w.list}>
                {trials.map((t) => (
                  <li key={t.app}>
                    <span>
                      <Link to="/orgs/$org/apps/$app" params={{ org, app: t.app }}>
                        {t.app}
                      </Link>{" "}
                      <span className={ui.muted}>{t.template}</span>
                    </span>
                    <span>
                      {daysLeft(t.endsAt) === 0 ? "ends today" : `in ${daysLeft(t.endsAt)} days`} ·{" "}
                      {t.monthlyAmount !== null && t.currency
                        ? `then ${formatMoney(t.monthlyAmount, t.currency)} / month`
                        : "no plan chosen"}
                    </span>
                  </li>
                ))}
              </ul>
            ) : (
              <p className={ui.description}>No trial ends in the next 30 days.</p>
            )}
          </>
        ) : null}
      </div>
    </Card>
  );
}

export function DashboardPage() {
  const { org } = route.useParams();
  const search = route.useSearch();
  const access = useAccess(org);
  // Asked only of platform administrators (anyone else would get a 403 in the browser's console).
  const platform = useQuery({ ...platformStatsQuery, enabled: !!useMe().data?.platformAdmin });
  if (!access) return <Loading what="the dashboard" />;
  return (
    <>
      <PageHeader title="Dashboard" lead={`${access.org.displayName} at a glance`} />
      <div className={w.stack}>
        {platform.data && <PlatformCard stats={platform.data} />}
        {access.can("org:view") ? (
          <UsageCard org={org} days={search.days ?? 30} />
        ) : (
          <Card>
            <EmptyState title="Usage is hidden">
              <p>{access.lacks("org:view")}.</p>
            </EmptyState>
          </Card>
        )}
        <EconomicsCard org={org} access={access} />
      </div>
    </>
  );
}
