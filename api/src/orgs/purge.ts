// What is left of an organization in the database once the Organization is gone (the operator
// deleted it after the grace period, or someone did with kubectl): rows are deleted, except what
// the law or Atrium's own rules need to keep. ADR 0021 gives the reasons; in short:
// - kept: invoices and their lines (bookkeeping law: invoices are kept for years), the billing
//   details of an organization that has invoices (who was invoiced is part of the invoice),
//   trial grants (no personal data; without them deleting and recreating an organization would
//   give every trial again), and the lifecycle entries of the audit log (who created, deleted or
//   restored it: accountability for the deletion itself), plus one "orgs.purge" entry counting
//   what was removed;
// - deleted: everything else that names the organization: API keys, invitations, subscriptions
//   (their invoices stay, unlinked), the logo, notices and notification overrides, usage,
//   export jobs and their archives, outbox events, and the rest of its audit log.
import type { Database } from "../db/index.ts";

/** Audit actions kept after a purge: the organization's life, not its members' activity. */
export const KEPT_AUDIT_ACTIONS = ["orgs.create", "orgs.delete", "orgs.restore", "orgs.purge"] as const;

export type PurgeCounts = Record<string, number>;

/**
 * Deletes the organization's rows in one transaction (all or nothing, and a second replica
 * running the same purge finds nothing left), returning how many of each were removed and
 * how many invoices were kept.
 */
export async function purgeOrgRows(db: Database, org: string): Promise<{ deleted: PurgeCounts; kept: PurgeCounts }> {
  const p = db.prisma;
  const invoices = await p.invoice.count({ where: { org } });
  const deletions = {
    apiKeys: p.apiKey.deleteMany({ where: { org } }),
    invitations: p.invitation.deleteMany({ where: { org } }),
    // Invoices point at subscriptions with onDelete SetNull: they stay, unlinked.
    subscriptions: p.subscription.deleteMany({ where: { org } }),
    logo: p.orgLogo.deleteMany({ where: { org } }),
    notifications: p.notification.deleteMany({ where: { org } }),
    notificationPreferences: p.notificationPreference.deleteMany({ where: { org } }),
    usageHours: p.usageHour.deleteMany({ where: { org } }),
    usageAppHours: p.usageAppHour.deleteMany({ where: { org } }),
    usageDays: p.usageDay.deleteMany({ where: { org } }),
    activeMembers: p.activeMember.deleteMany({ where: { org } }),
    appTransitions: p.appTransition.deleteMany({ where: { org } }),
    // Their archive chunks go with them (onDelete Cascade).
    exportJobs: p.exportJob.deleteMany({ where: { org } }),
    outbox: p.outbox.deleteMany({ where: { org } }),
    auditEvents: p.auditEvent.deleteMany({ where: { org, action: { notIn: [...KEPT_AUDIT_ACTIONS] } } }),
    // Who was invoiced belongs with the invoices; without invoices it is just personal data.
    ...(invoices === 0 ? { billingDetails: p.billingDetails.deleteMany({ where: { org } }) } : {}),
  };
  const results = await p.$transaction(Object.values(deletions));
  const deleted = Object.fromEntries(Object.keys(deletions).map((k, i) => [k, results[i]?.count ?? 0]));
  const keptDetails = invoices > 0 ? await p.billingDetails.count({ where: { org } }) : 0;
  return { deleted, kept: { invoices, billingDetails: keptDetails } };
}

/**
 * Organizations that left rows behind: every organization named by a row that only a real
 * organization has (keys, invitations, subscriptions, billing details, logo, usage, exports).
 * The audit log is not a source: refused calls record whatever organization their path named.
 * A candidate is only purged once the apiserver says the Organization does not exist.
 */
export async function orgsWithRows(db: Database): Promise<string[]> {
  const p = db.prisma;
  // GROUP BY in the database (Prisma's findMany distinct would read every row first): the usage
  // tables hold hundreds of thousands of rows, each table's key or index starts with org.
  const invoiced = await p.invoice.groupBy({ by: ["org"] });
  const lists = await Promise.all([
    p.apiKey.groupBy({ by: ["org"] }),
    p.invitation.groupBy({ by: ["org"] }),
    p.subscription.groupBy({ by: ["org"] }),
    // Billing details stay with invoices: only those of an organization without any are left to purge.
    p.billingDetails.findMany({ where: { org: { notIn: invoiced.map((i) => i.org) } }, select: { org: true } }),
    p.orgLogo.findMany({ select: { org: true } }),
    p.usageDay.groupBy({ by: ["org"] }),
    p.usageHour.groupBy({ by: ["org"] }),
    p.usageAppHour.groupBy({ by: ["org"] }),
    p.exportJob.groupBy({ by: ["org"], where: { org: { not: null } } }),
    p.notificationPreference.groupBy({ by: ["org"], where: { org: { not: "" } } }),
  ]);
  return [...new Set(lists.flat().map((r) => r.org as string))].sort();
}
