// Invitations: a Member in phase Invited plus a single-use token (stored as a hash) that is
// bound to the invited email, expires after 7 days and is mailed as an accept link. Accepting
// means opening the link and logging in with that same verified email.
import { createHash, randomBytes } from "node:crypto";
import {
  DEFAULT_ROLE,
  isCanonicalEmail,
  type Member,
  mayInvite,
  memberPhase,
  namespaceFor,
  normalizeEmail,
  parseEmail,
} from "@atrium/crds";
import { isConflict, KubeError, R } from "@atrium/kube";
import { Type } from "@sinclair/typebox";
import type { Services } from "../app.ts";
import type { Actor } from "../auth/principal.ts";
import type { MemberObj } from "../authz/directory.ts";
import { ApiError, conflict, forbidden, invalidField, tooManyRequests } from "../http/errors.ts";
import { route } from "../http/route.ts";
import { invitationEmail } from "../mail/mailer.ts";
import { invitationAcceptedNotice } from "../notifications/events.ts";
import { applyMemberStatus } from "./member-status.ts";
import { assertMayActOn, targetMember } from "./members.ts";
import {
  DisplayName,
  Email,
  MemberParams,
  MemberView,
  memberNameFor,
  memberView,
  OrgParams,
  Timestamp,
} from "./views.ts";

const InviteBody = Type.Object(
  {
    email: Email,
    displayName: Type.Optional(DisplayName),
    role: Type.Optional(Type.String({ minLength: 1, maxLength: 63, description: `Defaults to "${DEFAULT_ROLE}"` })),
  },
  { additionalProperties: false },
);

export const InvitationResult = Type.Object({
  member: MemberView,
  expiresAt: Timestamp,
  emailSent: Type.Boolean({ description: "False when the mail server refused; resend later" }),
});

export const hashToken = (token: string) => createHash("sha256").update(token).digest("hex");

/** Who sends an invitation: a member of the org, or a platform administrator creating it. */
export type Inviter = { email: string; name: string };

export const inviterOf = (actor: Actor): Inviter => ({
  email: actor.email,
  name: actor.member.spec.displayName ?? actor.email,
});

/** Creates a fresh token (the previous ones die), records it and mails the accept link. */
export async function issueInvitation(s: Services, org: string, member: MemberObj, inviter: Inviter) {
  const token = randomBytes(32).toString("base64url");
  const now = new Date(s.now());
  const expiresAt = new Date(now.getTime() + s.config.invitationTtlMs);
  await s.db.prisma.$transaction([
    s.db.prisma.invitation.updateMany({
      where: { org, memberName: member.metadata.name, acceptedAt: null, revokedAt: null },
      data: { revokedAt: now },
    }),
    s.db.prisma.invitation.create({
      data: {
        org,
        memberName: member.metadata.name,
        email: member.spec.email.toLowerCase(),
        tokenHash: hashToken(token),
        createdBy: inviter.email,
        createdAt: now,
        expiresAt,
      },
    }),
  ]);
  const updated = await applyMemberStatus(s, member, {
    invitedAt: now.toISOString(),
    invitationExpiresAt: expiresAt.toISOString(),
  });
  const role = s.directory.role(org, member.spec.role);
  const mail = invitationEmail({
    orgName: s.directory.organization(org)?.spec.displayName ?? org,
    inviterName: inviter.name,
    roleName: role?.spec.displayName ?? member.spec.role,
    acceptUrl: `${s.config.publicUrl}/api/invitations/accept?token=${token}`,
    expiresAt,
  });
  let emailSent = true;
  try {
    await s.mailer.send({ to: member.spec.email, ...mail });
  } catch (e) {
    emailSent = false;
    s.log("Invitation email failed", { org, member: member.metadata.name, error: String(e) }, "error");
  }
  const view = memberView(s.directory, org, s.directory.member(org, member.metadata.name) ?? updated, now);
  return { member: view, expiresAt: expiresAt.toISOString(), emailSent };
}

/** The invited Member (phase Invited until accepted); `email` in canonical form (parseEmail). */
export async function createInvitedMember(
  s: Services,
  org: string,
  invite: { email: string; role: string; invitedBy: string; displayName?: string },
): Promise<MemberObj> {
  const { email } = invite;
  const spec: Member["spec"] = { email, role: invite.role };
  const inviter = normalizeEmail(invite.invitedBy);
  if (isCanonicalEmail(inviter)) spec.invitedBy = inviter;
  if (invite.displayName) spec.displayName = invite.displayName;
  try {
    return await s.kube.create<MemberObj>(R.member, {
      metadata: { name: memberNameFor(email), namespace: namespaceFor(org) },
      spec,
    } as MemberObj);
  } catch (e) {
    if (isConflict(e)) throw conflict(`${email} is already a member or invited`);
    // The CRD runs the same rule (crds/src/email.ts); should they ever differ, a 422, not a 500.
    const refusal = e instanceof KubeError && e.code === 422 ? (e.details as { causes?: { field?: string }[] }) : {};
    if (refusal?.causes?.some((c) => c.field === "spec.email"))
      throw invalidField("/body/email", "must be an email address");
    throw e;
  }
}

async function takeInvitationBudget(s: Services, org: string) {
  const d = await s.limiter.take(`invitations:${org}`, s.config.invitationLimit);
  if (!d.allowed) {
    s.metrics.rateLimited.inc({ limit: "invitations" });
    throw tooManyRequests(
      d.retryAfterS,
      `This organization sent too many invitations; try again in ${d.retryAfterS} s`,
    );
  }
}

export const invitationRoutes = (s: Services) => [
  route({
    method: "post",
    path: "/api/orgs/:org/members",
    summary: "Invite someone by email: a Member in phase Invited and an emailed accept link",
    tag: "members",
    auth: "session",
    permission: "members:invite",
    params: OrgParams,
    body: InviteBody,
    response: { status: 201, schema: InvitationResult },
    errors: [409, 429],
    audit: "members.invite",
    handler: async ({ params, body, actor, setTarget }) => {
      const { org } = params;
      const roleName = body.role ?? DEFAULT_ROLE;
      const role = s.directory.role(org, roleName);
      if (!role) throw invalidField("/body/role", `Role "${roleName}" does not exist in this organization`);
      const verdict = mayInvite(actor, { name: roleName, ...role.spec }, DEFAULT_ROLE);
      if (!verdict.ok) throw forbidden(verdict.reason);
      // Stored and compared in canonical form only: "Bob@Example.com " is bob@example.com.
      const parsed = parseEmail(body.email);
      if (!parsed.ok) throw invalidField("/body/email", parsed.message);
      const email = parsed.email;
      if (s.directory.memberByEmail(org, email)) throw conflict(`${email} is already a member or invited`);
      await takeInvitationBudget(s, org);
      setTarget(`member/${memberNameFor(email)}`);
      const created = await createInvitedMember(s, org, {
        email,
        role: roleName,
        invitedBy: actor.email,
        ...(body.displayName ? { displayName: body.displayName } : {}),
      });
      return issueInvitation(s, org, created, inviterOf(actor));
    },
  }),
  route({
    method: "post",
    path: "/api/orgs/:org/members/:member/invitation",
    summary: "Resend an invitation: a new link and expiry; the old link stops working",
    tag: "members",
    auth: "session",
    permission: "members:invite",
    params: MemberParams,
    response: { status: 200, schema: InvitationResult },
    errors: [409, 429],
    audit: "members.resend-invitation",
    handler: async ({ params, actor, setTarget }) => {
      const m = targetMember(s, params.org, params.member);
      setTarget(`member/${m.metadata.name}`);
      assertPending(s, m);
      assertMayActOn(actor, s, params.org, m);
      await takeInvitationBudget(s, params.org);
      return issueInvitation(s, params.org, m, inviterOf(actor));
    },
  }),
  route({
    method: "delete",
    path: "/api/orgs/:org/members/:member/invitation",
    summary: "Cancel a pending invitation (removes the invited member)",
    tag: "members",
    auth: "session",
    permission: "members:invite",
    params: MemberParams,
    response: { status: 204, schema: null },
    errors: [409],
    audit: "members.cancel-invitation",
    handler: async ({ params, actor, setTarget }) => {
      const m = targetMember(s, params.org, params.member);
      setTarget(`member/${m.metadata.name}`);
      assertPending(s, m);
      assertMayActOn(actor, s, params.org, m);
      await s.db.prisma.invitation.updateMany({
        where: { org: params.org, memberName: m.metadata.name, acceptedAt: null, revokedAt: null },
        data: { revokedAt: new Date(s.now()) },
      });
      await s.kube.delete(R.member, m.metadata.name, namespaceFor(params.org));
      await s.directory.forgotten(m);
    },
  }),
  route({
    method: "get",
    path: "/api/invitations/accept",
    summary: "Accept an invitation: log in (if needed) with the invited email, then join",
    tag: "members",
    auth: "public",
    query: Type.Object({ token: Type.String({ minLength: 20, maxLength: 100 }) }),
    response: { status: 302, schema: null, description: "To the login, then to the organization in the console" },
    errors: [403, 410],
    audit: "members.accept-invitation",
    handler: async ({ query, principal, req, res, setTarget, skipAudit }) => {
      if (principal?.kind !== "session") {
        skipAudit();
        res.redirect(302, `/api/auth/login?returnTo=${encodeURIComponent(req.originalUrl)}`);
        return;
      }
      const invitation = await s.db.prisma.invitation.findUnique({ where: { tokenHash: hashToken(query.token) } });
      const now = s.now();
      if (!invitation || invitation.revokedAt || invitation.acceptedAt || invitation.expiresAt.getTime() <= now)
        throw new ApiError(410, "invitation_invalid", "This invitation link is no longer valid: ask for a new one");
      setTarget(`member/${invitation.memberName}`);
      if (invitation.email !== principal.email.toLowerCase())
        throw forbidden(`This invitation is for another email address; log in as ${invitation.email}`);
      const user = await s.db.prisma.user.findUnique({ where: { id: principal.userId } });
      if (!user?.emailVerified) throw forbidden("Your identity provider has not verified your email address");
      const member = s.directory.member(invitation.org, invitation.memberName);
      if (!member) throw new ApiError(410, "invitation_invalid", "The invited member was removed");
      // Single use: only the first accept of this token wins.
      const claimed = await s.db.prisma.invitation.updateMany({
        where: { id: invitation.id, acceptedAt: null, revokedAt: null },
        data: { acceptedAt: new Date(now) },
      });
      if (claimed.count !== 1) throw new ApiError(410, "invitation_invalid", "This invitation was already used");
      const at = new Date(now).toISOString();
      await applyMemberStatus(s, member, { joinedAt: at, lastLoginAt: at });
      // To who invited and to the Admins; one key, so someone who is both hears it once.
      const accepted = invitationAcceptedNotice({
        org: invitation.org,
        invitation: invitation.id,
        email: invitation.email,
        member: invitation.memberName,
      });
      s.notifications.publishLater(accepted, { emails: [invitation.createdBy] });
      s.notifications.publishLater(accepted, { orgAdmins: invitation.org });
      res.redirect(302, `${s.config.consoleUrl}/orgs/${invitation.org}`);
    },
  }),
];

function assertPending(s: Services, m: MemberObj) {
  const phase = memberPhase(m, new Date(s.now()));
  if (phase !== "Invited" && phase !== "Expired")
    throw conflict(`${m.spec.email} has already joined (status ${phase})`);
}
