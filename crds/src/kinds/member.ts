import type { KindDefinition } from "../crd.ts";
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
