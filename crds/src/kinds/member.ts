import type { KindDefinition } from "../crd.ts";
import { normalizeEmail } from "../email.ts";
import { MAX_LEVEL } from "../roles.ts";
import {
  Conditions,
  cel,
  DisplayName,
  Email,
  immutable,
  Name,
  type ObjectMeta,
  ObservedGeneration,
  type Static,
  StringEnum,
  Timestamp,
  Type,
} from "../schema.ts";

export const MEMBER_PHASES = ["Invited", "Active", "Deactivated", "Expired"] as const;
export type MemberPhase = (typeof MEMBER_PHASES)[number];

export const MemberSpec = Type.Object({
  email: Email("The address the member logs in with; identities link to members by verified email.", {
    ...cel(immutable("email")),
  }),
  displayName: Type.Optional(DisplayName()),
  role: Name("The OrgRole (by name, in the same namespace) that the member holds."),
  active: Type.Optional(
    Type.Boolean({ description: "False deactivates the member and disables their API keys.", default: true }),
  ),
  invitedBy: Type.Optional(Email("Who sent the invitation.")),
});

export const MemberStatus = Type.Object({
  phase: Type.Optional(StringEnum(MEMBER_PHASES)),
  invitedAt: Type.Optional(Timestamp("When the invitation was sent.")),
  invitationExpiresAt: Type.Optional(Timestamp("When the pending invitation stops working.")),
  joinedAt: Type.Optional(Timestamp("When the invitation was accepted.")),
  lastLoginAt: Type.Optional(Timestamp("Most recent login.")),
  observedGeneration: Type.Optional(ObservedGeneration),
  conditions: Type.Optional(Conditions),
});

export type MemberSpec = Static<typeof MemberSpec>;
export type MemberStatus = Static<typeof MemberStatus>;
export type Member = {
  apiVersion: "atrium.dev/v1alpha1";
  kind: "Member";
  metadata: ObjectMeta;
  spec: MemberSpec;
  status?: MemberStatus;
};

/**
 * A member's phase from what the API records: deactivated wins; joined means active; an
 * invitation past its expiry is expired; anything else is still invited.
 */
export function memberPhase(member: Member, now: Date): MemberPhase {
  if (member.spec.active === false) return "Deactivated";
  if (member.status?.joinedAt) return "Active";
  const expires = member.status?.invitationExpiresAt;
  if (expires && Date.parse(expires) <= now.getTime()) return "Expired";
  return "Invited";
}

/** Older first: by creationTimestamp, then by name (the order is total, so every reader agrees). */
export function olderFirst(a: Pick<Member, "metadata">, b: Pick<Member, "metadata">): number {
  const at = (m: Pick<Member, "metadata">) => m.metadata.creationTimestamp ?? "";
  return at(a) < at(b) ? -1 : at(a) > at(b) ? 1 : a.metadata.name < b.metadata.name ? -1 : 1;
}

/**
 * One organization's members by address: an address belongs to the oldest Member holding it
 * (apart from case and surrounding spaces, which older objects may still carry). The others
 * are duplicates: they grant nothing, and the operator says so in their status.
 */
export function membersByEmail<M extends Pick<Member, "metadata" | "spec">>(
  members: readonly M[],
): { owners: Map<string, M>; duplicates: Map<string, M> } {
  const owners = new Map<string, M>();
  /** Duplicate member name -> the member the address belongs to. */
  const duplicates = new Map<string, M>();
  for (const m of [...members].sort(olderFirst)) {
    const email = normalizeEmail(m.spec.email);
    const owner = owners.get(email);
    if (owner) duplicates.set(m.metadata.name, owner);
    else owners.set(email, m);
  }
  return { owners, duplicates };
}

/** A member may act once they joined and while they are active. */
export const mayAct = (m: Pick<Member, "spec" | "status">) => m.spec.active !== false && Boolean(m.status?.joinedAt);

/**
 * The active Admins among one organization's members: each address's owner (a duplicate grants
 * nothing) who may act, holds a role at the Admin level and is not being deleted. The API's
 * last-Admin rule and the operator's AdminPresent condition count the same members.
 */
export function activeAdminsAmong<M extends Pick<Member, "metadata" | "spec" | "status">>(
  members: readonly M[],
  levelOf: (role: string) => number | undefined,
): M[] {
  return [...membersByEmail(members).owners.values()].filter(
    (m) => mayAct(m) && !m.metadata.deletionTimestamp && (levelOf(m.spec.role) ?? 0) >= MAX_LEVEL,
  );
}

export const memberKind: KindDefinition = {
  kind: "Member",
  plural: "members",
  singular: "member",
  shortNames: ["mbr"],
  scope: "Namespaced",
  description: "A person in an organization, with one role.",
  spec: MemberSpec,
  status: MemberStatus,
  printerColumns: [
    { name: "Email", type: "string", jsonPath: ".spec.email" },
    { name: "Role", type: "string", jsonPath: ".spec.role" },
    { name: "Phase", type: "string", jsonPath: ".status.phase" },
    { name: "Last Login", type: "date", jsonPath: ".status.lastLoginAt" },
  ],
};
