// Erasing a person (GDPR Art. 17): their account goes (User, and with it their identities and
// sessions), their memberships go (the Member resources, their keys revoked), and where the
// organizations' records must keep what happened (the audit log, who created a key or paid an
// invoice) they are replaced by a pseudonym: the same for every entry of that person, so the
// entries stay linkable to each other without naming anyone. The pseudonym is an HMAC of the
// email under ATRIUM_PSEUDONYM_KEY: stable (a second erasure of the same address, or an entry
// written a moment after, gets the same one), and not reversible without the key.
import { namespaceFor, removesLastAdmin } from "@atrium/crds";
import { R } from "@atrium/kube";
import type { Services } from "../app.ts";
import { AdminGuard } from "../authz/admin-guard.ts";
import type { MemberObj } from "../authz/directory.ts";
import { ApiError, conflict } from "../http/errors.ts";
import { activeAdmins, adminsAmong } from "../routes/members.ts";
import { pseudonymOf } from "./pseudonym.ts";

export type Erasure = {
  pseudonym: string;
  /** Organizations the person was removed from. */
  organizations: string[];
  accountDeleted: boolean;
  auditEntries: number;
};

const levelIn = (s: Services, org: string) => (role: string) => s.directory.role(org, role)?.spec.level ?? 0;

/** The organizations where removing these members would leave no active Admin. */
export function lastAdminOf(s: Services, memberships: ReadonlyArray<{ org: string; member: MemberObj }>): string[] {
  return memberships
    .filter(({ org, member }) => removesLastAdmin(activeAdmins(s.directory, org), member.metadata.name))
    .map(({ org }) => org);
}

export async function erasePerson(s: Services, email: string, erasedBy: string): Promise<Erasure> {
  const key = s.config.pseudonymKey;
  if (!key)
    throw new ApiError(
      503,
      "unavailable",
      "Erasing a person needs ATRIUM_PSEUDONYM_KEY (the key of the audit log's pseudonyms), which is not set",
    );
  const pseudonym = pseudonymOf(key, email);
  const memberships = s.directory
    .orgsOf(email)
    .map((org) => ({ org, member: s.directory.memberByEmail(org, email) }))
    .filter((m): m is { org: string; member: MemberObj } => !!m.member);
  const user = await s.db.prisma.user.findUnique({ where: { email } });
  const audited = await s.db.prisma.auditEvent.count({ where: { actor: email } });
  if (!user && !memberships.length && !audited)
    throw new ApiError(404, "not_found", "No person with that email is known");
  const last = lastAdminOf(s, memberships);
  if (last.length)
    throw conflict(
      `${email} is the last Admin of ${last.join(", ")}: make someone else Admin there first (or delete the organization)`,
    );

  // Memberships first: once the Member is gone the person holds nothing, even if what follows fails.
  const guard = new AdminGuard(s.kube, { log: s.log });
  const now = new Date(s.now());
  for (const { org, member } of memberships) {
    const name = member.metadata.name;
    await guard.serialize(
      org,
      (live) => {
        if (removesLastAdmin(adminsAmong(live, levelIn(s, org)), name))
          throw conflict(`${email} is the last Admin of ${org}: make someone else Admin there first`);
      },
      () => s.kube.delete(R.member, name, namespaceFor(org)),
    );
    await s.db.prisma.apiKey.updateMany({
      where: { org, memberName: name, revokedAt: null },
      data: { revokedAt: now, revokedBy: erasedBy },
    });
  }

  const p = s.db.prisma;
  const auditEntries = await p.$transaction(async (tx) => {
    // The actor becomes the pseudonym; the address the requests came from goes (it identifies too).
    const byActor = await tx.auditEvent.updateMany({ where: { actor: email }, data: { actor: pseudonym, ip: null } });
    for (const { org, member } of memberships)
      await tx.auditEvent.updateMany({
        where: { org, target: `member/${member.metadata.name}` },
        data: { target: `member/${pseudonym}` },
      });
    // Their logins (target user/<email>, from their address) and any other mention of the email.
    await tx.auditEvent.updateMany({
      where: { target: `user/${email}` },
      data: { target: `user/${pseudonym}`, ip: null },
    });
    const mentions = await tx.auditEvent.findMany({
      where: { OR: [{ target: { contains: email } }, { detail: { contains: email } }] },
      select: { id: true, target: true, detail: true },
    });
    for (const e of mentions)
      await tx.auditEvent.update({
        where: { id: e.id },
        data: {
          target: e.target?.replaceAll(email, pseudonym) ?? null,
          detail: e.detail?.replaceAll(email, pseudonym) ?? null,
        },
      });
    await tx.apiKey.updateMany({ where: { createdBy: email }, data: { createdBy: pseudonym } });
    await tx.apiKey.updateMany({ where: { revokedBy: email }, data: { revokedBy: pseudonym } });
    await tx.invitation.deleteMany({ where: { email } });
    await tx.invitation.updateMany({ where: { createdBy: email }, data: { createdBy: pseudonym } });
    await tx.billingDetails.updateMany({ where: { updatedBy: email }, data: { updatedBy: pseudonym } });
    await tx.orgLogo.updateMany({ where: { updatedBy: email }, data: { updatedBy: pseudonym } });
    await tx.invoice.updateMany({ where: { paidBy: email }, data: { paidBy: pseudonym } });
    await tx.activeMember.updateMany({ where: { user: email }, data: { user: pseudonym } });
    if (user) {
      await tx.notification.deleteMany({ where: { userId: user.id } });
      await tx.notificationPreference.deleteMany({ where: { userId: user.id } });
      await tx.exportJob.deleteMany({ where: { requestedBy: user.id } });
      // Identities and sessions go with the user (onDelete Cascade): logged out everywhere.
      await tx.user.delete({ where: { id: user.id } });
    }
    return byActor.count;
  });
  return { pseudonym, organizations: memberships.map((m) => m.org), accountDeleted: !!user, auditEntries };
}
