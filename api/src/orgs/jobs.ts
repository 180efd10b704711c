// The organization lifecycle's work over time, one pass on the scheduler's leader (the Lease
// atrium-api-scheduler): deletion notices to the Admins (at the start of the grace period, 7 days
// and 1 day before the deletion) and the purge of an organization's database rows once the
// Organization is gone. Both are safe should two replicas ever run them: a notice's key reaches
// a user once (Notifications), and a purge deletes what is there in one transaction.
import { errorMessage, R } from "@atrium/kube";
import type { Services } from "../app.ts";
import type { OrgObj } from "../authz/directory.ts";
import { orgsWithRows, purgeOrgRows } from "./purge.ts";

const DAY_MS = 24 * 3_600_000;
/** How often the tables are searched for a deleted organization's rows when none was seen to go. */
export const PURGE_SCAN_MS = 10 * 60_000;

export type DeletionStage = "start" | "7d" | "1d";
const REMINDERS: ReadonlyArray<readonly [DeletionStage, number]> = [
  ["7d", 7 * DAY_MS],
  ["1d", DAY_MS],
];

/**
 * The notices due for a deletion now: the start one for as long as the grace period runs, and
 * the most urgent reminder whose moment has come. A reminder whose moment was already past when
 * the deletion was asked for (a grace period shorter than 7 days) is never due: the start notice
 * says when. After a long outage only the nearer reminder goes out ("1 day" says it all).
 */
export function deletionNoticesDue(requestedAt: number, deletesAt: number, now: number): DeletionStage[] {
  if (!(now < deletesAt)) return [];
  const reminders = REMINDERS.filter(([, before]) => requestedAt < deletesAt - before && now >= deletesAt - before);
  const nearest = reminders.at(-1);
  return nearest ? ["start", nearest[0]] : ["start"];
}

/** The notice's key: one per organization, deadline and stage, so each reaches each Admin once. */
export const deletionNoticeKey = (org: string, deletesAt: string, stage: DeletionStage | "restored") =>
  `deletion:${org}:${deletesAt}:${stage}`;

const day = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;

export function deletionNotice(org: OrgObj, stage: DeletionStage, deletesAt: string) {
  const name = org.metadata.name;
  const display = org.spec.displayName || name;
  const by = org.spec.deletion?.requestedBy ?? "An Admin";
  const title =
    stage === "start"
      ? `"${display}" is scheduled for deletion`
      : `"${display}" will be deleted in ${stage === "7d" ? "7 days" : "1 day"}`;
  const body =
    stage === "start"
      ? `${by} asked to delete the organization ${name}. It will be deleted with its apps and their data on ${day(deletesAt)}. Until then an Admin can restore it, and its data can be exported.`
      : `The organization ${name} will be deleted with its apps and their data on ${day(deletesAt)}. An Admin can still restore it, and its data can still be exported.`;
  return {
    key: deletionNoticeKey(name, deletesAt, stage),
    event: "deletion.scheduled" as const,
    org: name,
    title,
    body,
    link: `/orgs/${name}/settings#deletion`,
  };
}

export function restoredNotice(org: OrgObj, requestedAt: string, restoredBy: string) {
  const name = org.metadata.name;
  return {
    key: deletionNoticeKey(name, requestedAt, "restored"),
    event: "deletion.scheduled" as const,
    org: name,
    title: `"${org.spec.displayName || name}" will not be deleted`,
    body: `${restoredBy} restored the organization ${name}: its deletion is cancelled, its apps may run and its API keys work again.`,
    link: `/orgs/${name}`,
  };
}

export class OrgLifecycle {
  private readonly s: Services;
  /** Notices this replica already published (publish would dedupe them anyway; this saves the queries). */
  private readonly sent = new Set<string>();
  /** The organizations the last purge pass saw, and when it last searched the tables. */
  private known = new Set<string>();
  private lastScan = Number.NEGATIVE_INFINITY;

  constructor(s: Services) {
    this.s = s;
  }

  async runDue(): Promise<{ notices: number; purged: string[] }> {
    const notices = await this.sendDeletionNotices();
    const purged = await this.purgeGone();
    return { notices, purged };
  }

  async sendDeletionNotices(): Promise<number> {
    const now = this.s.now();
    let published = 0;
    for (const org of this.s.directory.organizations.list()) {
      const deletion = org.spec.deletion;
      // The operator's deadline: until it has seen the request there is no date to announce.
      const deletesAt = org.status?.deletesAt;
      if (!deletion || !deletesAt || org.metadata.deletionTimestamp) continue;
      const due = deletionNoticesDue(Date.parse(deletion.requestedAt), Date.parse(deletesAt), now);
      for (const stage of due) {
        const notice = deletionNotice(org, stage, deletesAt);
        if (this.sent.has(notice.key)) continue;
        await this.s.notifications.publish(notice, { orgAdmins: org.metadata.name });
        this.sent.add(notice.key);
        published++;
      }
    }
    return published;
  }

  /**
   * Purges the rows of every organization that has some but no longer exists. The cache is only
   * a first filter: the apiserver's list is read before anything is deleted, so a cache that has
   * not caught up (or a watch gap) never costs an organization its data.
   */
  async purgeGone(): Promise<string[]> {
    const known = new Set(this.s.directory.organizations.list().map((o) => o.metadata.name));
    // The tables are searched when an organization left the cache since the last pass, and
    // otherwise every PURGE_SCAN_MS (the first pass of a replica included: deletions while no
    // API ran), not at every pass of the scheduler.
    const now = this.s.now();
    const vanished = [...this.known].some((o) => !known.has(o));
    const due = vanished || now - this.lastScan >= PURGE_SCAN_MS || now < this.lastScan;
    this.known = known;
    if (!due) return [];
    this.lastScan = now;
    const purged: string[] = [];
    const gone = (await orgsWithRows(this.s.db)).filter((org) => !known.has(org));
    if (!gone.length) return [];
    // The apiserver's word, read fresh (a list: the API's role lists and watches organizations).
    const live = new Set((await this.s.kube.list<OrgObj>(R.organization)).items.map((o) => o.metadata.name));
    for (const org of gone) {
      if (live.has(org)) continue;
      try {
        const result = await purgeOrgRows(this.s.db, org);
        await this.s.db.prisma.auditEvent.create({
          data: {
            org,
            actor: "system",
            actorType: "system",
            action: "orgs.purge",
            target: `organization/${org}`,
            result: "success",
            detail: JSON.stringify(result),
          },
        });
        this.s.log("Purged the database rows of a deleted organization", { organization: org, ...result });
        purged.push(org);
      } catch (error) {
        this.s.log(
          "Purging a deleted organization's rows failed",
          { organization: org, error: errorMessage(error) },
          "error",
        );
      }
    }
    return purged;
  }
}
