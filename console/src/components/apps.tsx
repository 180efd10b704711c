// Pieces the marketplace, the install wizard and the apps pages share.
import type { ReactNode } from "react";
import { FieldError, Label, Radio, RadioGroup } from "react-aria-components";
import p from "../pages/apps.module.css";
import { ui } from "./ui.tsx";

const ICON_COLOURS = ["#1f4bb3", "#1b7a3d", "#8a5300", "#6b2fa3", "#0f6e7a", "#a3302f"];

/**
 * An app's icon. Template icons are URLs on other sites, which the console's CSP (img-src
 * 'self') does not load; a same-origin icon is shown, any other becomes a lettered tile.
 */
export function AppIcon({ name, icon, large }: { name: string; icon?: string | null; large?: boolean }) {
  const className = large ? p.iconLarge : p.icon;
  if (icon?.startsWith(`${window.location.origin}/`))
    return <img className={className} src={icon} alt="" width={large ? 64 : 44} height={large ? 64 : 44} />;
  let hash = 0;
  for (const c of name) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return (
    <span className={className} aria-hidden="true" style={{ background: ICON_COLOURS[hash % ICON_COLOURS.length] }}>
      {name.slice(0, 1).toUpperCase()}
    </span>
  );
}

export type RadioChoice = { id: string; label: ReactNode; hint?: string | undefined; disabled?: boolean };

export function RadioField(props: {
  label: string;
  value: string;
  onChange(value: string): void;
  choices: readonly RadioChoice[];
  error?: string | undefined;
  row?: boolean;
}) {
  return (
    <RadioGroup
      className={p.radioGroup}
      value={props.value}
      onChange={props.onChange}
      isInvalid={!!props.error}
      validationBehavior="aria"
    >
      <Label className={ui.label}>{props.label}</Label>
      <div className={props.row ? p.radioRow : undefined}>
        {props.choices.map((c) => (
          <Radio key={c.id} value={c.id} className={p.radio} isDisabled={c.disabled}>
            <span className={p.radioDot} aria-hidden="true" />
            <span>
              {c.label}
              {c.hint && <span className={`${ui.optionHint} ${ui.muted}`}> — {c.hint}</span>}
            </span>
          </Radio>
        ))}
      </div>
      <FieldError className={ui.fieldError}>{props.error}</FieldError>
    </RadioGroup>
  );
}
