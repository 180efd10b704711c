// What the API returns for members and roles: the custom resources flattened into the shapes
// the console and API clients use, with their schemas for validation and OpenAPI.
import { createHash } from "node:crypto";
import {
  EMAIL_INPUT_MESSAGE,
  EMAIL_INPUT_PATTERN,
  MEMBER_PHASES,
  memberPhase,
  normalizeEmail,
  PERMISSIONS,
} from "@atrium/crds";
import { Type } from "@sinclair/typebox";
import type { Directory, MemberObj, RoleObj } from "../authz/directory.ts";

export const Name = (description: string) =>
  Type.String({ pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", minLength: 1, maxLength: 63, description });

export const OrgParams = Type.Object({ org: Name("Organization name") });
export const MemberParams = Type.Object({ org: Name("Organization name"), member: Name("Member name") });
export const RoleParams = Type.Object({ org: Name("Organization name"), role: Name("Role name") });

/**
 * An address as a form sends it: any case, surrounding spaces allowed (no display-name forms or
 * quoting). Handlers store parseEmail()'s canonical form (@atrium/crds), as the CRD demands.
 */
export const Email = Type.String({
  pattern: EMAIL_INPUT_PATTERN,
  maxLength: 320,
  description: "An email address; surrounding spaces are dropped and it is stored in lower case",
  errorMessage: EMAIL_INPUT_MESSAGE,
});
export const DisplayName = Type.String({ minLength: 1, maxLength: 100, pattern: "\\S" });
export const Permission = Type.Union(PERMISSIONS.map((p) => Type.Literal(p)));
export const Timestamp = Type.String({ format: "date-time" });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const MemberView = Type.Object({
  name: Type.String(),
  email: Type.String(),
  displayName: Type.String(),
  role: Type.String(),
  roleDisplayName: Type.String(),
  level: Type.Integer(),
  status: Type.Union(MEMBER_PHASES.map((p) => Type.Literal(p))),
  active: Type.Boolean(),
  invitedAt: Nullable(Timestamp),
  invitationExpiresAt: Nullable(Timestamp),
  joinedAt: Nullable(Timestamp),
  lastLoginAt: Nullable(Timestamp),
});

export const RoleView = Type.Object({
  name: Type.String(),
  displayName: Type.String(),
  description: Type.String(),
  level: Type.Integer(),
  builtIn: Type.Boolean(),
  permissions: Type.Array(Type.String()),
  memberCount: Type.Integer(),
});

export function memberView(directory: Directory, org: string, m: MemberObj, now: Date) {
  const role = directory.role(org, m.spec.role);
  return {
    name: m.metadata.name,
    email: m.spec.email,
    displayName: m.spec.displayName ?? m.spec.email.split("@")[0] ?? m.spec.email,
    role: m.spec.role,
    roleDisplayName: role?.spec.displayName ?? m.spec.role,
    level: role?.spec.level ?? 0,
    status: memberPhase(m, now),
    active: m.spec.active !== false,
    invitedAt: m.status?.invitedAt ?? null,
    invitationExpiresAt: m.status?.invitationExpiresAt ?? null,
    joinedAt: m.status?.joinedAt ?? null,
    lastLoginAt: m.status?.lastLoginAt ?? null,
  };
}

export function roleView(r: RoleObj, memberCount: number) {
  return {
    name: r.metadata.name,
    displayName: r.spec.displayName,
    description: r.spec.description ?? "",
    level: r.spec.level,
    builtIn: r.spec.builtIn === true,
    permissions: [...r.spec.permissions],
    memberCount,
  };
}

/**
 * A Member's object name from its email: readable, and the same for the same address, so
 * two invitations of one person collide (409) instead of making two members.
 */
export function memberNameFor(email: string): string {
  const normalized = normalizeEmail(email);
  const local = (normalized.split("@")[0] ?? "member")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40);
  const hash = createHash("sha256").update(normalized).digest("hex").slice(0, 8);
  return `${local || "member"}-${hash}`;
}
