// Who is calling (Principal: a login session or an API key) and what they are inside one
// organization (Actor: their Member, role and effective permissions).
import { mayAct, type Permission } from "@atrium/crds";
import type { Directory, MemberObj, RoleObj } from "../authz/directory.ts";

export type KeyType = "STANDARD" | "AI_AGENT";

export type Principal =
  | {
      kind: "session";
      sessionId: string;
      userId: string;
      email: string;
      name: string;
      csrfToken: string;
      /** The login carried the platform administrators' OIDC group (orgs/platform.ts). */
      platformGroup?: boolean;
    }
  | {
      kind: "apikey";
      keyId: string;
      keyType: KeyType;
      org: string;
      /** The creator: a key acts as its creator, never beyond them. */
      email: string;
      memberName: string;
      scopes: readonly string[];
    };

export type Actor = {
  org: string;
  email: string;
  member: MemberObj;
  role: RoleObj | undefined;
  /** The role's rank; 0 when the role is missing. */
  level: number;
  permissions: ReadonlySet<string>;
  can(permission: Permission): boolean;
};

/** Whom a request is recorded as in the audit log. */
export const actorName = (p: Principal | undefined) =>
  !p ? "anonymous" : p.kind === "session" ? p.email : `apikey:${p.keyId}`;

export function actorIn(directory: Directory, principal: Principal, org: string): Actor | undefined {
  if (principal.kind === "apikey" && principal.org !== org) return undefined;
  const member = directory.memberByEmail(org, principal.email);
  if (!member || !mayAct(member)) return undefined;
  if (principal.kind === "apikey" && member.metadata.name !== principal.memberName) return undefined;
  const role = directory.role(org, member.spec.role);
  const held = directory.authorizer.permissionsOf(principal.email, org);
  // An API key holds the intersection of its scopes and its creator's current permissions.
  const permissions = principal.kind === "apikey" ? new Set(principal.scopes.filter((s) => held.has(s))) : held;
  return {
    org,
    email: principal.email,
    member,
    role,
    level: role?.spec.level ?? 0,
    permissions,
    can: (p) => permissions.has(p),
  };
}
