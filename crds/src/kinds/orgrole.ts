import type { KindDefinition } from "../crd.ts";
import { PERMISSION_PATTERN, PERMISSIONS } from "../permissions.ts";
import { MAX_LEVEL } from "../roles.ts";
import {
  Conditions,
  cel,
  Description,
  DisplayName,
  immutable,
  type ObjectMeta,
  ObservedGeneration,
  type Static,
  Type,
} from "../schema.ts";

export const OrgRoleSpec = Type.Object(
  {
    displayName: DisplayName(),
    description: Type.Optional(Description()),
    level: Type.Integer({
      description: `Rank, 1 to ${MAX_LEVEL}: members act only on members of a lower level. Admin is ${MAX_LEVEL}.`,
      minimum: 1,
      maximum: MAX_LEVEL,
    }),
    permissions: Type.Array(Type.String({ maxLength: 64, pattern: PERMISSION_PATTERN }), {
      description: "What the role allows, from the permission catalog (area:action).",
      maxItems: PERMISSIONS.length * 2,
      "x-kubernetes-list-type": "set",
    }),
    builtIn: Type.Optional(
      Type.Boolean({
        description: "Created by the operator for every org; restored when changed.",
        default: false,
        ...cel(immutable("builtIn")),
      }),
    ),
  },
  {
    ...cel({
      rule: `self.level < ${MAX_LEVEL} || (has(self.builtIn) && self.builtIn)`,
      message: `only the built-in Admin role has level ${MAX_LEVEL}`,
      fieldPath: ".level",
    }),
  },
);

export const OrgRoleStatus = Type.Object({
  memberCount: Type.Optional(Type.Integer({ minimum: 0 })),
  unknownPermissions: Type.Optional(
    Type.Array(Type.String({ maxLength: 64 }), {
      description: "Permissions not in this version's catalog; they grant nothing.",
      maxItems: 64,
    }),
  ),
  observedGeneration: Type.Optional(ObservedGeneration),
  conditions: Type.Optional(Conditions),
});

export type OrgRoleSpec = Static<typeof OrgRoleSpec>;
export type OrgRoleStatus = Static<typeof OrgRoleStatus>;
export type OrgRole = {
  apiVersion: "atrium.dev/v1alpha1";
  kind: "OrgRole";
  metadata: ObjectMeta;
  spec: OrgRoleSpec;
  status?: OrgRoleStatus;
};

export const orgRoleKind: KindDefinition = {
  kind: "OrgRole",
  plural: "orgroles",
  singular: "orgrole",
  shortNames: ["orole"],
  scope: "Namespaced",
  description: "A role in an organization: a rank and a set of permissions from the catalog.",
  spec: OrgRoleSpec,
  status: OrgRoleStatus,
  printerColumns: [
    { name: "Display Name", type: "string", jsonPath: ".spec.displayName" },
    { name: "Level", type: "integer", jsonPath: ".spec.level" },
    { name: "Built-In", type: "boolean", jsonPath: ".spec.builtIn" },
    { name: "Members", type: "integer", jsonPath: ".status.memberCount" },
  ],
};
