// @atrium/crds: the vocabulary every Atrium component shares. It imports none of them.
import { crdManifest, type KindDefinition } from "./crd.ts";
import { appInstanceKind } from "./kinds/appinstance.ts";
import { appTemplateKind } from "./kinds/apptemplate.ts";
import { memberKind } from "./kinds/member.ts";
import { organizationKind } from "./kinds/organization.ts";
import { orgRoleKind } from "./kinds/orgrole.ts";

export * from "./crd.ts";
export * from "./currency.ts";
export * from "./email.ts";
export * from "./entitlement.ts";
export * from "./kinds/appinstance.ts";
export * from "./kinds/apptemplate.ts";
export * from "./kinds/member.ts";
export * from "./kinds/organization.ts";
export * from "./kinds/orgrole.ts";
export * from "./permissions.ts";
export * from "./rank.ts";
export * from "./roles.ts";
export * from "./routing.ts";
export type { Condition, ObjectMeta } from "./schema.ts";

export const KINDS: readonly KindDefinition[] = [
  organizationKind,
  orgRoleKind,
  memberKind,
  appTemplateKind,
  appInstanceKind,
];

export const crdManifests = () => KINDS.map(crdManifest);
