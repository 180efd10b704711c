// The permission catalog as checkboxes, grouped as the catalog groups them: what a role grants
// (roles page) and what a key may do (API keys page). A permission the caller lacks is shown
// disabled with the reason, since nobody hands out more than they hold (the API decides).
import { CheckboxGroup } from "react-aria-components";
import { PERMISSION_GROUPS } from "../../../crds/src/permissions.ts";
import p from "../pages/pages.module.css";
import { CheckboxItem } from "./forms.tsx";

export function PermissionPicker(props: {
  value: readonly string[];
  onChange(permissions: string[]): void;
  /** Whether the caller holds a permission (only those may be chosen). */
  mayGrant(permission: string): boolean;
}) {
  const { value, onChange, mayGrant } = props;
  return (
    <div className={p.permissionGroups}>
      {PERMISSION_GROUPS.map((g) => (
        <CheckboxGroup
          key={g.id}
          className={p.groupFieldset}
          value={value.filter((x) => x in g.permissions)}
          onChange={(chosen) => onChange([...value.filter((x) => !(x in g.permissions)), ...chosen])}
          aria-label={g.label}
        >
          <p className={p.groupTitle} aria-hidden="true">
            {g.label}
          </p>
          {Object.entries(g.permissions).map(([id, text]) => (
            <CheckboxItem
              key={id}
              value={id}
              isDisabled={!mayGrant(id)}
              description={mayGrant(id) ? undefined : "you lack it"}
            >
              {text}
            </CheckboxItem>
          ))}
        </CheckboxGroup>
      ))}
    </div>
  );
}
