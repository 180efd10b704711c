// Notifications: an in-app feed per user and email through the mailer, per the user's preferences
// (preferences.ts), each event once per user (Notification's unique (userId, key)). Sources: any
// part of the API calling publish(); billing's Outbox (trial ending, invoice due), read by the
// scheduler's pass (runDue); the Installs watch (app failed / stopped / woken); the organization's
// activity digest. Every step is safe on two replicas at once: a notice row is created once (the
// unique index decides who delivers), an Outbox row and an email are claimed with a conditional
// update before anything is sent. ADR 0018.
import { type AppInstance, mayAct, orgOfNamespace } from "@atrium/crds";
import { errorMessage, type Logger } from "@atrium/kube";
import type { Peppers } from "../auth/keyformat.ts";
import type { Directory } from "../authz/directory.ts";
import { type Database, isUniqueViolation } from "../db/index.ts";
import type { Mailer } from "../mail/mailer.ts";
import { appTransitionNotice, restatesTransition } from "./apps.ts";
import { digestNotice, digestPeriod } from "./digest.ts";
import { noticeEmail } from "./email.ts";
import { outboxNotice } from "./outbox.ts";
import { channelsFor, NOTICE_EVENTS, type NoticeEvent } from "./preferences.ts";
import { signUnsubscribe } from "./token.ts";

export { NOTICE_EVENTS, type NoticeEvent };

export type Notice = {
  /** Dedupe key: the same key never reaches the same user twice. */
  key: string;
  event: NoticeEvent;
  org: string | null;
  /** Plain text. */
  title: string;
  /** Plain text (emails escape it). */
  body: string;
  /** A console path, e.g. "/orgs/acme/settings#export" (never a bearer URL). */
  link?: string;
};

/**
 * Who gets a notice: users by id; the active Admins of an organization; people by email (those
 * who never logged in have no feed and are skipped); the active members of an organization who
 * hold a permission (e.g. billing:manage for a payment due).
 */
export type Recipients =
  | { userIds: string[] }
  | { orgAdmins: string }
  | { emails: string[] }
  | { org: string; permission: string };

export type NotificationsOptions = {
  db: Database;
  mailer: Mailer;
  directory: Directory;
  log: Logger;
  now: () => number;
  /** The API's public URL: the unsubscribe link's origin. */
  publicUrl: string;
  /** Where links in emails point (console paths are made absolute on it). */
  consoleUrl: string;
  /** The API key peppers: the unsubscribe token's key (token.ts). */
  peppers: Peppers;
};

/** A failed email is tried again after this long, for this long after the notice. */
export const EMAIL_RETRY_MS = 60_000;
export const EMAIL_GIVE_UP_MS = 24 * 3_600_000;
/** A claim (emailedAt) older than this without "sent" or "failed" was lost with its replica. */
const EMAIL_CLAIM_MS = 5 * 60_000;

/**
 * Whether a notice's email may be claimed now: never tried, a claim lost with its replica, or a
 * failure old enough to try again. A claim just taken (emailedAt recent, not yet "sent") is none
 * of these, so a replica that reads the row between another's claim and its "sent" leaves it.
 */
export function emailClaimable(row: { emailState: string; emailedAt: Date | null }, now: number): boolean {
  const age = row.emailedAt ? now - row.emailedAt.getTime() : Number.POSITIVE_INFINITY;
  if (row.emailState === "pending") return row.emailedAt === null || age >= EMAIL_CLAIM_MS;
  if (row.emailState === "failed") return age >= EMAIL_RETRY_MS;
  return false;
}
/** App transitions older than this when first seen are history, not news (an API restart). */
const APP_NEWS_MS = 10 * 60_000;
/** Two times of the same transition kind this close are one transition written twice. */
const APP_RESTATED_MS = 60_000;

type Recipient = { id: string; email: string };

export class Notifications {
  private readonly o: NotificationsOptions;
  /** org → digest period already handled by this replica (saves the audit query each pass). */
  private readonly digestsDone = new Map<string, string>();
  private readonly pending = new Set<Promise<unknown>>();

  constructor(options: NotificationsOptions) {
    this.o = options;
  }

  private get prisma() {
    return this.o.db.prisma;
  }

  /**
   * Stores one Notification per recipient (feed/email per preferences) and sends the emails;
   * never throws to the caller (logs instead), so callers need no try/catch.
   */
  async publish(notice: Notice, to: Recipients): Promise<void> {
    try {
      await this.deliver(notice, to);
    } catch (error) {
      this.o.log("Notice not delivered", { key: notice.key, event: notice.event, error: errorMessage(error) }, "error");
    }
  }

  /** publish() without waiting (hooks in request handlers); idle() waits for these. */
  publishLater(notice: Notice, to: Recipients): void {
    const p = this.publish(notice, to).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Waits for the notices published with publishLater (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  /** Like publish, but throws: the Outbox pass gives a row back when its delivery failed. */
  async deliver(notice: Notice, to: Recipients): Promise<number> {
    const recipients = await this.resolve(to);
    const orgEmail = notice.org ? this.o.directory.organization(notice.org)?.spec.notifications?.email !== false : true;
    let created = 0;
    for (const user of recipients) {
      const rows = await this.prisma.notificationPreference.findMany({
        where: { userId: user.id, org: { in: notice.org ? ["", notice.org] : [""] }, event: notice.event },
      });
      const channels = channelsFor(rows, notice.event, notice.org);
      const email = channels.email && orgEmail;
      try {
        const row = await this.prisma.notification.create({
          data: {
            userId: user.id,
            org: notice.org,
            event: notice.event,
            key: notice.key,
            title: notice.title,
            body: notice.body,
            link: notice.link ?? null,
            inFeed: channels.feed,
            emailState: email ? "pending" : "none",
            createdAt: new Date(this.o.now()),
          },
        });
        created++;
        if (email) await this.sendEmail(row.id);
      } catch (error) {
        // The unique (userId, key): this user already has this notice, from this call or another replica.
        if (isUniqueViolation(error)) continue;
        throw error;
      }
    }
    return created;
  }

  /** The people behind Recipients, each once; who has no User row (never logged in) is skipped. */
  private async resolve(to: Recipients): Promise<Recipient[]> {
    const select = { id: true, email: true } as const;
    if ("userIds" in to) return this.prisma.user.findMany({ where: { id: { in: [...new Set(to.userIds)] } }, select });
    let emails: string[];
    if ("emails" in to) emails = to.emails.map((e) => e.trim().toLowerCase());
    else {
      const org = "orgAdmins" in to ? to.orgAdmins : to.org;
      const permission = "permission" in to ? to.permission : undefined;
      emails = this.o.directory
        .membersOf(org)
        .filter(mayAct)
        .filter((m) =>
          permission === undefined
            ? (this.o.directory.role(org, m.spec.role)?.spec.level ?? 0) >= 100
            : this.o.directory.authorizer.can(m.spec.email, org, permission),
        )
        .map((m) => m.spec.email);
    }
    if (!emails.length) return [];
    return this.prisma.user.findMany({ where: { email: { in: [...new Set(emails)] } }, select });
  }

  /**
   * Sends one notice's email if it is claimable (emailClaimable) and this replica wins its claim
   * (emailedAt set where it still holds the value read): two replicas never both send it. "sent"
   * after the mailer accepted it; "failed" otherwise, tried again by runDue after EMAIL_RETRY_MS.
   */
  private async sendEmail(id: string): Promise<boolean> {
    const now = new Date(this.o.now());
    const row = await this.prisma.notification.findUnique({ where: { id } });
    if (!row || !emailClaimable(row, now.getTime())) return false;
    const claimed = await this.prisma.notification.updateMany({
      where: { id, emailState: row.emailState, emailedAt: row.emailedAt },
      data: { emailedAt: now },
    });
    if (claimed.count !== 1) return false;
    const user = await this.prisma.user.findUnique({ where: { id: row.userId } });
    if (!user) {
      await this.prisma.notification.update({ where: { id }, data: { emailState: "none" } });
      return false;
    }
    try {
      const message = noticeEmail({
        to: user.email,
        event: row.event as NoticeEvent,
        org: row.org,
        title: row.title,
        body: row.body,
        link: row.link,
        consoleUrl: this.o.consoleUrl,
        unsubscribeUrl: this.unsubscribeUrl(row.userId, row.event as NoticeEvent, row.org),
      });
      await this.o.mailer.send(message);
      await this.prisma.notification.update({ where: { id }, data: { emailState: "sent" } });
      return true;
    } catch (error) {
      await this.prisma.notification.update({ where: { id }, data: { emailState: "failed" } });
      this.o.log(
        "Notice email failed; it is tried again",
        { id, event: row.event, error: errorMessage(error) },
        "warn",
      );
      return false;
    }
  }

  unsubscribeUrl(userId: string, event: NoticeEvent, org: string | null): string {
    const token = signUnsubscribe(this.o.peppers, { userId, event, org });
    return `${this.o.publicUrl}/api/unsubscribe?token=${encodeURIComponent(token)}`;
  }

  // ---- Scheduled work (the scheduler's pass; safe on every replica) ----

  /** One pass: billing's Outbox, emails to try again, activity digests. */
  async runDue(): Promise<{ outbox: number; retried: number; digests: number }> {
    const outbox = await this.deliverOutbox();
    const retried = await this.retryEmails();
    const digests = await this.sendDigests();
    return { outbox, retried, digests };
  }

  /**
   * Delivers the Outbox rows billing wrote: each row is claimed first (deliveredAt set where it
   * was null: one replica wins), then published; if publishing fails the claim is given back so
   * the next pass tries again (the notice keys make a repeat harmless).
   */
  async deliverOutbox(limit = 100): Promise<number> {
    const rows = await this.prisma.outbox.findMany({
      where: { deliveredAt: null },
      orderBy: { createdAt: "asc" },
      take: limit,
    });
    let delivered = 0;
    for (const row of rows) {
      const claimedAt = new Date(this.o.now());
      const { count } = await this.prisma.outbox.updateMany({
        where: { id: row.id, deliveredAt: null },
        data: { deliveredAt: claimedAt },
      });
      if (count !== 1) continue;
      const notice = outboxNotice(row);
      if (!notice) continue; // an event nobody is told about (payment.recorded)
      try {
        await this.deliver(notice.notice, notice.to);
        delivered++;
      } catch (error) {
        await this.prisma.outbox.updateMany({
          where: { id: row.id, deliveredAt: claimedAt },
          data: { deliveredAt: null },
        });
        this.o.log(
          "Outbox event not delivered; tried again next pass",
          { key: row.key, error: errorMessage(error) },
          "error",
        );
      }
    }
    return delivered;
  }

  /** Emails that failed (or whose replica died while sending), tried again until EMAIL_GIVE_UP_MS. */
  async retryEmails(): Promise<number> {
    const now = this.o.now();
    const rows = await this.prisma.notification.findMany({
      where: {
        createdAt: { gte: new Date(now - EMAIL_GIVE_UP_MS) },
        OR: [
          { emailState: "failed", emailedAt: { lte: new Date(now - EMAIL_RETRY_MS) } },
          { emailState: "pending", emailedAt: null, createdAt: { lte: new Date(now - EMAIL_RETRY_MS) } },
          { emailState: "pending", emailedAt: { lte: new Date(now - EMAIL_CLAIM_MS) } },
        ],
      },
      select: { id: true },
      orderBy: { createdAt: "asc" },
      take: 100,
    });
    let sent = 0;
    for (const { id } of rows) if (await this.sendEmail(id)) sent++;
    return sent;
  }

  /** Each organization's digest for the period that just ended (daily or weekly), to its Admins, once. */
  async sendDigests(): Promise<number> {
    const now = this.o.now();
    let sent = 0;
    for (const org of this.o.directory.organizations.list()) {
      const name = org.metadata.name;
      const period = digestPeriod(org.spec.notifications?.digest ?? "weekly", now);
      if (!period || this.digestsDone.get(name) === period.key) continue;
      const entries = await this.prisma.auditEvent.groupBy({
        by: ["action", "result"],
        where: { org: name, at: { gte: period.from, lt: period.to } },
        _count: { _all: true },
      });
      const notice = digestNotice(
        name,
        org.spec.displayName,
        period,
        entries.map((e) => ({ action: e.action, result: e.result, count: e._count._all })),
      );
      if (notice) sent += await this.deliver(notice, { orgAdmins: name });
      this.digestsDone.set(name, period.key);
    }
    return sent;
  }

  // ---- The Installs watch: app failed, stopped, woken ----

  /** Listens to app changes; returns the function that stops listening. */
  follow(installs: { onChange(listener: (type: string, app: AppInstance) => void): () => void }): () => void {
    // The key this replica last handled per app (status updates repeat it: no database work for
    // those), and one queue per app, so that its transitions are looked at in order.
    const handled = new Map<string, string>();
    const queues = new Map<string, Promise<void>>();
    return installs.onChange((type, app) => {
      const uid = app.metadata.uid ?? `${app.metadata.namespace}/${app.metadata.name}`;
      if (type === "deleted") {
        handled.delete(uid);
        return;
      }
      const org = orgOfNamespace(app.metadata.namespace);
      if (!org) return;
      const news = appTransitionNotice(org, app, this.o.now(), APP_NEWS_MS);
      if (!news || handled.get(uid) === news.key) return;
      handled.set(uid, news.key);
      const next = (queues.get(uid) ?? Promise.resolve())
        .then(() => this.publishAppNews(org, uid, news))
        .catch((error) =>
          this.o.log("App notice not delivered", { key: news.key, error: errorMessage(error) }, "error"),
        )
        .finally(() => {
          this.pending.delete(next);
          if (queues.get(uid) === next) queues.delete(uid);
        });
      queues.set(uid, next);
      this.pending.add(next);
    });
  }

  /**
   * One app transition to whoever may restart the app, unless their latest notice about the app
   * already told it (restatesTransition: the operator may write a transition's time twice).
   */
  private async publishAppNews(org: string, uid: string, news: Notice): Promise<void> {
    const recipients = await this.resolve({ org, permission: "apps:restart" });
    if (!recipients.length) return;
    const userIds = recipients.map((r) => r.id);
    const latest = await this.prisma.notification.findFirst({
      where: { userId: { in: userIds }, key: { startsWith: `app:${uid}:` } },
      orderBy: { createdAt: "desc" },
      select: { key: true },
    });
    if (restatesTransition(latest?.key, news.key, APP_RESTATED_MS)) return;
    await this.deliver(news, { userIds });
  }
}
