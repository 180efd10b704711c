// The organization's activity digest (Organization spec.notifications.digest: none, daily or
// weekly; weekly when unset): a summary of the audit log over the period that just ended, to the
// organization's Admins, keyed by organization and period so it goes out once. Pure.
import type { Notice } from "./notifications.ts";

export type DigestPeriod = { key: string; label: string; from: Date; to: Date };

const DAY_MS = 86_400_000;

/** The last complete UTC day (daily) or ISO week, Monday to Monday (weekly); none for "none". */
export function digestPeriod(mode: string, now: number): DigestPeriod | undefined {
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  if (mode === "daily") {
    const from = new Date(today - DAY_MS);
    const label = from.toISOString().slice(0, 10);
    return { key: label, label, from, to: new Date(today) };
  }
  if (mode === "weekly") {
    const weekday = (new Date(today).getUTCDay() + 6) % 7; // Monday 0
    const to = today - weekday * DAY_MS;
    const from = new Date(to - 7 * DAY_MS);
    const label = isoWeek(from);
    return { key: label, label, from, to: new Date(to) };
  }
  return undefined;
}

/** "2026-W48" for a Monday. */
export function isoWeek(monday: Date): string {
  const thursday = new Date(monday.getTime() + 3 * DAY_MS);
  const year = thursday.getUTCFullYear();
  const week = Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / (7 * DAY_MS)) + 1;
  return `${year}-W${String(week).padStart(2, "0")}`;
}

export type AuditCount = { action: string; result: string; count: number };

/** The digest notice, or undefined when nothing happened in the period (no empty emails). */
export function digestNotice(
  org: string,
  displayName: string,
  period: DigestPeriod,
  counts: readonly AuditCount[],
): Notice | undefined {
  const total = counts.reduce((sum, c) => sum + c.count, 0);
  if (total === 0) return undefined;
  const byAction = new Map<string, number>();
  for (const c of counts) byAction.set(c.action, (byAction.get(c.action) ?? 0) + c.count);
  const refused = counts.filter((c) => c.result === "denied").reduce((sum, c) => sum + c.count, 0);
  const failed = counts.filter((c) => c.result === "error").reduce((sum, c) => sum + c.count, 0);
  const top = [...byAction].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 10);
  const span = `${period.from.toISOString().slice(0, 10)} to ${new Date(period.to.getTime() - 1).toISOString().slice(0, 10)}`;
  const body = [
    `Activity in ${displayName} (${org}), ${span} (UTC): ${total} recorded action${total === 1 ? "" : "s"}, ${refused} refused, ${failed} failed.`,
    "",
    ...top.map(([action, n]) => `${action}: ${n}`),
  ].join("\n");
  return {
    key: `digest:${org}:${period.key}`,
    event: "digest",
    org,
    title: `Activity digest for ${displayName}, ${period.label}`,
    body,
    link: `/orgs/${org}/audit`,
  };
}
