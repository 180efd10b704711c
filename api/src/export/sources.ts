// What an archive holds, file by file, read as it is written: small things (settings, roles,
// apps) whole; members, keys, invoices and notifications by pages of BATCH_ROWS, each page a
// piece of the file, made on the API's thread and pulled by the export's worker a piece at a
// time; the tables that grow without bound (audit log, usage) as plans the worker reads itself
// through its own connection (reader.ts, tables.ts). Everything is an allow-list of
// fields: a column added to a table later stays out of exports until someone adds it here.
import type { AppInstance } from "@atrium/crds";
import type { Installs } from "../apps/installs.ts";
import { settingsView } from "../apps/settings.ts";
import type { Directory } from "../authz/directory.ts";
import { toInvoiceView, toView } from "../billing/billing.ts";
import { csvRow, formatMinor } from "../billing/csv.ts";
import type { Database } from "../db/index.ts";
import type { Catalog } from "../marketplace/catalog.ts";
import { memberView, roleView } from "../routes/views.ts";
import type { ArchiveFile } from "./archive.ts";
import { AUDIT_BATCH_ROWS, BATCH_ROWS, jsonArrayPiece, USAGE_BATCH_ROWS } from "./domain.ts";
import { auditPlan, usagePlan } from "./reader.ts";
import type { PlannedFile } from "./thread.ts";

export type SourceDeps = {
  db: Database;
  directory: Directory;
  installs: Installs;
  catalog: Catalog;
  now: () => number;
};

type Cell = Parameters<typeof csvRow>[0][number];
const iso = (d: Date | null | undefined) => d?.toISOString() ?? null;

/** A file of one JSON document. */
const jsonFile = (name: string, make: () => Promise<{ value: unknown; records: number }>): ArchiveFile => ({
  name,
  async *content(count) {
    const { value, records } = await make();
    count(records);
    yield `${JSON.stringify(value, null, 2)}\n`;
  },
});

/** A JSON array written page by page. */
const jsonArrayFile = (name: string, pages: () => AsyncIterable<unknown[]>): ArchiveFile => ({
  name,
  async *content(count) {
    yield "[\n";
    let first = true;
    for await (const records of pages()) {
      count(records.length);
      yield jsonArrayPiece(records, first);
      first &&= records.length === 0;
    }
    yield "\n]\n";
  },
});

/** A CSV (RFC 4180, formula cells escaped by billing's csvRow) written page by page. */
const csvFile = (name: string, header: readonly string[], pages: () => AsyncIterable<Cell[][]>): ArchiveFile => ({
  name,
  async *content(count) {
    yield `${csvRow(header)}\r\n`;
    for await (const rows of pages()) {
      count(rows.length);
      if (rows.length) yield `${rows.map(csvRow).join("\r\n")}\r\n`;
    }
  },
});

/** Keyset pagination: `page(after)` returns up to BATCH_ROWS rows following the last one given. */
async function* keyset<T>(page: (after: T | undefined) => Promise<T[]>): AsyncGenerator<T[]> {
  let after: T | undefined;
  for (;;) {
    const rows = await page(after);
    if (rows.length) yield rows;
    if (rows.length < BATCH_ROWS) return;
    after = rows.at(-1);
  }
}

async function* mapped<T, U>(pages: AsyncIterable<T[]>, f: (row: T) => U): AsyncGenerator<U[]> {
  for await (const rows of pages) yield rows.map(f);
}

type KeyRow = {
  id: string;
  org: string;
  name: string;
  type: string;
  prefix: string;
  scopes: string;
  createdBy: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  revokedBy: string | null;
};

/** Never `hash` or `hashVersion`: only what the key list shows. */
const KEY_SELECT = {
  id: true,
  org: true,
  name: true,
  type: true,
  prefix: true,
  scopes: true,
  createdBy: true,
  createdAt: true,
  lastUsedAt: true,
  expiresAt: true,
  revokedAt: true,
  revokedBy: true,
} as const;

const keyRecord = (k: KeyRow) => ({
  id: k.id,
  org: k.org,
  name: k.name,
  type: k.type,
  prefix: k.prefix,
  scopes: JSON.parse(k.scopes) as string[],
  createdBy: k.createdBy,
  createdAt: k.createdAt.toISOString(),
  lastUsedAt: iso(k.lastUsedAt),
  expiresAt: iso(k.expiresAt),
  revokedAt: iso(k.revokedAt),
  revokedBy: k.revokedBy,
});

function keyPages(db: Database, where: { org: string } | { createdBy: string }) {
  return keyset<KeyRow>((after) =>
    db.prisma.apiKey.findMany({
      where: after ? { ...where, id: { gt: after.id } } : where,
      orderBy: { id: "asc" },
      take: BATCH_ROWS,
      select: KEY_SELECT,
    }),
  );
}

/** An app as the apps API shows it, settings included: secret settings as set or not, never a value. */
export function appRecord(app: AppInstance, catalog: Pick<Catalog, "get">) {
  const template = catalog.get(app.spec.template);
  return {
    name: app.metadata.name,
    template: app.spec.template,
    version: app.status?.version ?? app.spec.version ?? null,
    plan: app.spec.plan ?? null,
    createdAt: app.metadata.creationTimestamp ?? null,
    phase: app.status?.phase ?? "Pending",
    access: { policy: app.spec.access?.policy ?? "Members", roles: [...(app.spec.access?.roles ?? [])] },
    idle: { policy: app.spec.idle?.policy ?? "Auto", timeout: app.spec.idle?.timeout ?? "12h" },
    storage: { deletionPolicy: app.spec.storage?.deletionPolicy ?? "Retain" },
    lastActivity: app.status?.lastActivity ?? null,
    settings: settingsView(template, app),
  };
}

/**
 * Rough record counts for progress (done / total), read before writing: the files made on the
 * API's thread (the worker counts the audit log and usage itself, off this thread).
 */
export async function orgTotals(deps: SourceDeps, org: string): Promise<number> {
  const p = deps.db.prisma;
  const [keys, subscriptions, invoices] = await Promise.all([
    p.apiKey.count({ where: { org } }),
    p.subscription.count({ where: { org } }),
    p.invoice.count({ where: { org } }),
  ]);
  return (
    1 +
    deps.directory.membersOf(org).length +
    deps.directory.rolesOf(org).length +
    deps.installs.inOrg(org).length +
    keys +
    subscriptions +
    invoices
  );
}

/** An organization's archive: settings, members, roles, apps, keys, audit log, billing, usage. */
export function orgFiles(deps: SourceDeps, org: string): PlannedFile[] {
  const { db, directory } = deps;
  const p = db.prisma;
  return [
    jsonFile("settings.json", async () => {
      const o = directory.organization(org);
      const details = await p.billingDetails.findUnique({ where: { org } });
      return {
        records: 1,
        value: {
          name: org,
          displayName: o?.spec.displayName ?? org,
          description: o?.spec.description ?? null,
          createdAt: o?.metadata.creationTimestamp ?? null,
          quotas: o?.spec.quotas ?? null,
          notifications: o?.spec.notifications ?? null,
          deletion: o?.spec.deletion ?? null,
          status: {
            memberCount: o?.status?.memberCount ?? null,
            appCount: o?.status?.appCount ?? null,
            runningAppCount: o?.status?.runningAppCount ?? null,
            deletesAt: o?.status?.deletesAt ?? null,
          },
          billingDetails: details
            ? {
                contactName: details.contactName,
                email: details.email,
                addressLine1: details.addressLine1,
                addressLine2: details.addressLine2,
                city: details.city,
                postalCode: details.postalCode,
                region: details.region,
                country: details.country,
                taxId: details.taxId,
                updatedAt: details.updatedAt.toISOString(),
                updatedBy: details.updatedBy,
              }
            : null,
        },
      };
    }),
    // Members are Member resources, in the API's watch cache already: read from memory in pages.
    csvFile(
      "members.csv",
      [
        "name",
        "email",
        "display_name",
        "role",
        "status",
        "active",
        "invited_at",
        "invitation_expires_at",
        "joined_at",
        "last_login_at",
        "invited_by",
      ],
      async function* () {
        const members = directory.membersOf(org);
        const now = new Date(deps.now());
        for (let i = 0; i < members.length; i += BATCH_ROWS) {
          yield members.slice(i, i + BATCH_ROWS).map((m) => {
            const v = memberView(directory, org, m, now);
            return [
              v.name,
              v.email,
              v.displayName,
              v.role,
              v.status,
              v.active ? "true" : "false",
              v.invitedAt,
              v.invitationExpiresAt,
              v.joinedAt,
              v.lastLoginAt,
              m.spec.invitedBy ?? null,
            ];
          });
          // Let requests in between pages of a big organization.
          await new Promise((resolve) => setImmediate(resolve));
        }
      },
    ),
    jsonFile("roles.json", async () => {
      const roles = directory.rolesOf(org);
      const members = directory.membersOf(org);
      return {
        records: roles.length,
        value: roles.map((r) => roleView(r, members.filter((m) => m.spec.role === r.metadata.name).length)),
      };
    }),
    jsonFile("apps.json", async () => {
      const apps = deps.installs.inOrg(org);
      return { records: apps.length, value: apps.map((a) => appRecord(a, deps.catalog)) };
    }),
    jsonArrayFile("api-keys.json", () => mapped(keyPages(db, { org }), keyRecord)),
    auditPlan({ org }, AUDIT_BATCH_ROWS),
    jsonArrayFile("subscriptions.json", () =>
      mapped(
        keyset<Awaited<ReturnType<typeof p.subscription.findMany>>[number]>((after) =>
          p.subscription.findMany({
            where: after ? { org, id: { gt: after.id } } : { org },
            orderBy: { id: "asc" },
            take: BATCH_ROWS,
          }),
        ),
        (s) => ({ ...toView(s), createdAt: s.createdAt.toISOString(), endedAt: iso(s.endedAt) }),
      ),
    ),
    jsonArrayFile("invoices.json", () => mapped(invoicePages(db, org), toInvoiceView)),
    csvFile(
      "invoice-lines.csv",
      [
        "invoice",
        "status",
        "issued_at",
        "line",
        "description",
        "quantity",
        "unit_amount_minor",
        "amount_minor",
        "amount",
        "currency",
      ],
      async function* () {
        for await (const invoices of invoicePages(db, org))
          yield invoices.flatMap((i) =>
            [...i.lines]
              .sort((a, b) => a.position - b.position)
              .map((l): Cell[] => [
                i.id,
                i.status,
                i.issuedAt.toISOString(),
                l.position,
                l.description,
                l.quantity,
                l.unitAmount,
                l.amount,
                { decimal: formatMinor(l.amount, i.currency) },
                i.currency,
              ]),
          );
      },
    ),
    usagePlan(org, USAGE_BATCH_ROWS),
  ];
}

function invoicePages(db: Database, org: string) {
  return keyset<Awaited<ReturnType<typeof findInvoices>>[number]>((after) => findInvoices(db, org, after?.id));
}

const findInvoices = (db: Database, org: string, after: string | undefined) =>
  db.prisma.invoice.findMany({
    where: after ? { org, id: { gt: after } } : { org },
    orderBy: { id: "asc" },
    take: BATCH_ROWS,
    include: { lines: true },
  });

export type Person = { userId: string; email: string };

export async function personTotals(deps: SourceDeps, person: Person): Promise<number> {
  const p = deps.db.prisma;
  const [keys, notifications, sessions] = await Promise.all([
    p.apiKey.count({ where: { createdBy: person.email } }),
    p.notification.count({ where: { userId: person.userId } }),
    p.session.count({ where: { userId: person.userId } }),
  ]);
  return 1 + deps.directory.orgsOf(person.email).length + keys + notifications + sessions;
}

/**
 * A person's own data across organizations: profile and identities, memberships, sessions
 * (never their token hashes or CSRF tokens), what they did (audit entries as actor), their
 * notifications and the keys they created (metadata).
 */
export function personFiles(deps: SourceDeps, person: Person): PlannedFile[] {
  const { db, directory } = deps;
  const p = db.prisma;
  return [
    jsonFile("profile.json", async () => {
      const user = await p.user.findUnique({ where: { id: person.userId }, include: { identities: true } });
      return {
        records: 1,
        value: user && {
          email: user.email,
          name: user.name,
          emailVerified: user.emailVerified,
          createdAt: user.createdAt.toISOString(),
          lastLoginAt: iso(user.lastLoginAt),
          identities: user.identities.map((i) => ({
            issuer: i.issuer,
            subject: i.subject,
            createdAt: i.createdAt.toISOString(),
          })),
        },
      };
    }),
    jsonFile("memberships.json", async () => {
      const now = new Date(deps.now());
      const memberships = directory.orgsOf(person.email).flatMap((org) => {
        const m = directory.memberByEmail(org, person.email);
        return m ? [{ org, ...memberView(directory, org, m, now) }] : [];
      });
      return { records: memberships.length, value: memberships };
    }),
    jsonFile("sessions.json", async () => {
      const sessions = await p.session.findMany({
        where: { userId: person.userId },
        orderBy: { createdAt: "asc" },
        select: { createdAt: true, expiresAt: true, lastSeenAt: true, ip: true, userAgent: true },
      });
      return {
        records: sessions.length,
        value: sessions.map((s) => ({
          createdAt: s.createdAt.toISOString(),
          expiresAt: s.expiresAt.toISOString(),
          lastSeenAt: s.lastSeenAt.toISOString(),
          ip: s.ip,
          userAgent: s.userAgent,
        })),
      };
    }),
    auditPlan({ actor: person.email }, AUDIT_BATCH_ROWS),
    jsonArrayFile("notifications.json", () =>
      mapped(
        keyset<Awaited<ReturnType<typeof p.notification.findMany>>[number]>((after) =>
          p.notification.findMany({
            where: after ? { userId: person.userId, id: { gt: after.id } } : { userId: person.userId },
            orderBy: { id: "asc" },
            take: BATCH_ROWS,
          }),
        ),
        (n) => ({
          org: n.org,
          event: n.event,
          title: n.title,
          body: n.body,
          link: n.link,
          createdAt: n.createdAt.toISOString(),
          readAt: iso(n.readAt),
          emailedAt: iso(n.emailedAt),
        }),
      ),
    ),
    jsonArrayFile("api-keys.json", () => mapped(keyPages(db, { createdBy: person.email }), keyRecord)),
  ];
}
