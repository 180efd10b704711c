// Organizations themselves: platform administrators create them (with their first Admin,
// invited through the members' invitation flow) and list them all; an organization's members
// read it, rename it, and delete it with a grace period (the operator holds its apps at zero and
// deletes it when the grace is over, operator/README.md) or restore it within that time.
import { BUILT_IN_ROLES, MAX_LEVEL, MAX_ORG_NAME, type Organization, parseEmail } from "@atrium/crds";
import { isConflict, R } from "@atrium/kube";
import { Type } from "@sinclair/typebox";
import type { Services } from "../app.ts";
import type { Principal } from "../auth/principal.ts";
import type { OrgObj } from "../authz/directory.ts";
import { ApiError, conflict, forbidden, invalidField, notFound } from "../http/errors.ts";
import { route } from "../http/route.ts";
import { createInvitedMember, InvitationResult, issueInvitation } from "../routes/invitations.ts";
import { DisplayName, Email, OrgParams, Timestamp } from "../routes/views.ts";
import { logoUrls } from "../settings/logo.ts";
import { erasePerson } from "./erase.ts";
import { restoredNotice } from "./jobs.ts";
import { confirmsDeletion, deletionRefusal, orgView } from "./lifecycle.ts";
import { isPlatformAdmin } from "./platform.ts";

/** The one role at the top rank: what an organization's first member gets. */
const ADMIN_ROLE = (BUILT_IN_ROLES.find((r) => r.level === MAX_LEVEL) ?? BUILT_IN_ROLES[0])?.name as string;

/** How long creating an organization waits for the operator to make its namespace and roles. */
const SETUP_TIMEOUT_MS = 30_000;

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
const Description = Type.String({ maxLength: 2000 });

export const OrgView = Type.Object({
  name: Type.String(),
  displayName: Type.String(),
  description: Nullable(Type.String()),
  logoUrl: Nullable(Type.String({ description: "/api/orgs/<org>/logo/<hash>, or null without a logo" })),
  createdAt: Nullable(Timestamp),
  ready: Type.Boolean({ description: "The operator has set up its namespace and roles" }),
  memberCount: Type.Integer(),
  appCount: Type.Integer(),
  runningAppCount: Type.Integer(),
  deletion: Type.Union([
    Type.Object({
      requestedAt: Timestamp,
      requestedBy: Type.String(),
      deletesAt: Nullable(Timestamp),
    }),
    Type.Null(),
  ]),
});

const CreateBody = Type.Object(
  {
    name: Type.String({
      pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
      minLength: 1,
      maxLength: MAX_ORG_NAME,
      description: `Lower-case letters, digits and '-', at most ${MAX_ORG_NAME} characters: it names the namespace org-<name>`,
    }),
    displayName: DisplayName,
    description: Type.Optional(Description),
    admin: Type.Object(
      { email: Email, displayName: Type.Optional(DisplayName) },
      { additionalProperties: false, description: "The first Admin, invited by email" },
    ),
  },
  { additionalProperties: false },
);

const UpdateBody = Type.Object(
  {
    displayName: Type.Optional(DisplayName),
    description: Type.Optional(Type.Union([Description, Type.Null()], { description: "null removes it" })),
  },
  { additionalProperties: false, minProperties: 1 },
);

const ErasureView = Type.Object({
  pseudonym: Type.String({ description: "What the audit log and other kept records now say instead of the person" }),
  organizations: Type.Array(Type.String(), { description: "Organizations the person was removed from" }),
  accountDeleted: Type.Boolean(),
  auditEntries: Type.Integer({ description: "Audit entries pseudonymized" }),
});

const DeleteBody = Type.Object(
  { confirm: Type.String({ maxLength: 100, description: "The organization's name, typed to confirm" }) },
  { additionalProperties: false },
);

/** Platform administrators only: a listed, verified email on a login session. */
export async function assertPlatformAdmin(s: Services, principal: Principal): Promise<Principal & { kind: "session" }> {
  if (principal.kind !== "session" || !isPlatformAdmin(s.config.platformAdmins, principal))
    throw forbidden("Only platform administrators may do this (ATRIUM_PLATFORM_ADMINS)");
  const user = await s.db.prisma.user.findUnique({ where: { id: principal.userId } });
  if (!user?.emailVerified) throw forbidden("Your identity provider has not verified your email address");
  return principal;
}

/** Waits for the operator's work on a new organization: its namespace and built-in roles. */
async function setUp(s: Services, org: string): Promise<void> {
  const deadline = Date.now() + SETUP_TIMEOUT_MS;
  while (!s.directory.role(org, ADMIN_ROLE)) {
    if (Date.now() > deadline)
      throw new ApiError(
        503,
        "unavailable",
        `Organization "${org}" was created, but the operator has not set it up within ${SETUP_TIMEOUT_MS / 1000} s; invite its first Admin once it is Ready (kubectl get org ${org})`,
      );
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const orgRoutes = (s: Services) => {
  const live = (org: string): OrgObj => {
    const o = s.directory.organization(org);
    if (!o) throw notFound(`Organization "${org}"`);
    return o;
  };
  const patch = async (org: string, spec: Record<string, unknown>) => {
    const updated = await s.kube.mergePatch<OrgObj>(R.organization, org, undefined, { spec });
    await s.directory.observed(updated);
    return updated;
  };
  /** The view with the logo's URL, which lives in the database, not on the resource. */
  const view = async (org: OrgObj) =>
    orgView(org, (await logoUrls(s.db, [org.metadata.name])).get(org.metadata.name) ?? null);
  return [
    route({
      method: "post",
      path: "/api/orgs",
      summary: "Create an organization and invite its first Admin (platform administrators)",
      tag: "orgs",
      auth: "session",
      body: CreateBody,
      response: { status: 201, schema: Type.Object({ organization: OrgView, admin: InvitationResult }) },
      errors: [409, 503],
      audit: "orgs.create",
      handler: async ({ body, principal, setTarget }) => {
        const admin = await assertPlatformAdmin(s, principal);
        const email = parseEmail(body.admin.email);
        if (!email.ok) throw invalidField("/body/admin/email", email.message);
        setTarget(`organization/${body.name}`);
        const spec: Organization["spec"] = { displayName: body.displayName };
        if (body.description) spec.description = body.description;
        let created: OrgObj;
        try {
          created = await s.kube.create<OrgObj>(R.organization, { metadata: { name: body.name }, spec } as OrgObj);
        } catch (e) {
          if (isConflict(e)) throw conflict(`Organization "${body.name}" already exists`);
          throw e;
        }
        await s.directory.observed(created);
        await setUp(s, body.name);
        const member = await createInvitedMember(s, body.name, {
          email: email.email,
          role: ADMIN_ROLE,
          invitedBy: admin.email,
          ...(body.admin.displayName ? { displayName: body.admin.displayName } : {}),
        });
        await s.directory.observed(member);
        const invitation = await issueInvitation(s, body.name, member, { email: admin.email, name: admin.name });
        return { organization: await view(s.directory.organization(body.name) ?? created), admin: invitation };
      },
    }),
    route({
      method: "get",
      path: "/api/platform/orgs",
      summary: "Every organization with its counts (platform administrators)",
      tag: "orgs",
      auth: "session",
      response: { status: 200, schema: Type.Object({ items: Type.Array(OrgView) }) },
      handler: async ({ principal }) => {
        await assertPlatformAdmin(s, principal);
        const logos = await logoUrls(s.db);
        const items = s.directory.organizations
          .list()
          .map((o) => orgView(o, logos.get(o.metadata.name) ?? null))
          .sort((a, b) => a.name.localeCompare(b.name));
        return { items };
      },
    }),
    route({
      method: "get",
      path: "/api/orgs/:org",
      summary: "The organization: name, description, counts and any scheduled deletion",
      tag: "orgs",
      auth: "any",
      permission: "org:view",
      params: OrgParams,
      response: { status: 200, schema: OrgView },
      handler: async ({ params }) => view(live(params.org)),
    }),
    route({
      method: "patch",
      path: "/api/orgs/:org",
      summary: "Rename the organization or change its description",
      tag: "orgs",
      auth: "any",
      permission: "org:update",
      params: OrgParams,
      body: UpdateBody,
      response: { status: 200, schema: OrgView },
      audit: "orgs.update",
      handler: async ({ params, body, setTarget }) => {
        setTarget(`organization/${params.org}`);
        live(params.org);
        const spec: Record<string, unknown> = {};
        if (body.displayName !== undefined) spec.displayName = body.displayName;
        // An empty description is no description: stored as absent, not as "".
        if (body.description !== undefined) spec.description = body.description || null;
        return view(await patch(params.org, spec));
      },
    }),
    route({
      method: "delete",
      path: "/api/orgs/:org",
      summary:
        "Schedule the organization's deletion: apps stop and API keys are refused at once; it is deleted after the grace period unless restored",
      tag: "orgs",
      auth: "session",
      permission: "org:delete",
      params: OrgParams,
      body: DeleteBody,
      response: { status: 202, schema: OrgView },
      errors: [409, 422],
      audit: "orgs.delete",
      handler: async ({ params, body, principal, setTarget }) => {
        setTarget(`organization/${params.org}`);
        if (!confirmsDeletion(params.org, body.confirm))
          throw invalidField("/body/confirm", `type the organization's name, "${params.org}", to confirm`);
        const refusal = deletionRefusal(live(params.org), "delete");
        if (refusal) throw conflict(refusal);
        const requestedAt = new Date(s.now()).toISOString().replace(/\.\d+Z$/, "Z");
        return view(await patch(params.org, { deletion: { requestedAt, requestedBy: principal.email } }));
      },
    }),
    route({
      method: "post",
      path: "/api/orgs/:org/restore",
      summary: "Take back a scheduled deletion during the grace period: apps may run and API keys work again",
      tag: "orgs",
      auth: "session",
      permission: "org:delete",
      params: OrgParams,
      response: { status: 200, schema: OrgView },
      errors: [409],
      audit: "orgs.restore",
      handler: async ({ params, principal, setTarget }) => {
        setTarget(`organization/${params.org}`);
        const org = live(params.org);
        const refusal = deletionRefusal(org, "restore");
        if (refusal) throw conflict(refusal);
        const requestedAt = org.spec.deletion?.requestedAt ?? "";
        // The grace period is not billed: its apps were held at zero (billing.ts). Before the
        // restore itself, so that no scheduler pass renews the org between the two.
        const since = Date.parse(requestedAt);
        if (Number.isFinite(since)) await s.billing.creditDeletionGrace(params.org, new Date(since), new Date(s.now()));
        const restored = await patch(params.org, { deletion: null });
        s.notifications.publishLater(restoredNotice(restored, requestedAt, principal.email), { orgAdmins: params.org });
        return view(restored);
      },
    }),
    route({
      method: "post",
      path: "/api/platform/users/erase",
      summary:
        "Erase a person (platform administrators): account, sessions, identities and memberships deleted, the audit log pseudonymized; refused while they are the last Admin of an organization",
      tag: "orgs",
      auth: "session",
      // The email is in the body, not the path: paths are written to the request log.
      body: Type.Object({ email: Email }, { additionalProperties: false }),
      response: { status: 200, schema: ErasureView },
      errors: [409, 503],
      audit: "users.erase",
      handler: async ({ body, principal, setTarget }) => {
        const admin = await assertPlatformAdmin(s, principal);
        const email = parseEmail(body.email);
        if (!email.ok) throw invalidField("/body/email", email.message);
        const erased = await erasePerson(s, email.email, admin.email);
        setTarget(`user/${erased.pseudonym}`);
        return erased;
      },
    }),
    route({
      method: "post",
      path: "/api/me/erase",
      summary:
        "Erase yourself: your account, sessions and memberships are deleted and the audit log names you by a pseudonym; refused while you are the last Admin of an organization",
      tag: "me",
      auth: "session",
      body: Type.Object(
        { confirm: Type.String({ maxLength: 320, description: "Your email address, typed to confirm" }) },
        { additionalProperties: false },
      ),
      response: { status: 200, schema: ErasureView },
      errors: [409, 422, 503],
      audit: "users.erase",
      handler: async ({ body, principal, skipAudit }) => {
        if (body.confirm.trim().toLowerCase() !== principal.email)
          throw invalidField("/body/confirm", `type your email address, "${principal.email}", to confirm`);
        const erased = await erasePerson(s, principal.email, principal.email);
        // The route's own entry would name the person again: this one names the pseudonym.
        skipAudit();
        await s.db.prisma.auditEvent.create({
          data: {
            actor: erased.pseudonym,
            actorType: "user",
            action: "users.erase",
            target: `user/${erased.pseudonym}`,
            result: "success",
            status: 200,
            ip: null,
            detail: JSON.stringify({ self: true, organizations: erased.organizations.length }),
          },
        });
        return erased;
      },
    }),
  ];
};
