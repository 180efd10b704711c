// Pieces the marketplace, the install wizard and the apps pages share.
import type { ReactNode } from "react";
import { FieldError, Label, Radio, RadioGroup } from "react-aria-components";
import p from "../pages/apps.module.css";
import { Field } from "./forms.tsx";
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

export type IdlePolicy = "Auto" | "AlwaysOn";

/**
 * When the app stops: "Stop when idle" with its timeout, or "Always on" (the install wizard's and
 * the settings dialog's choice). The timeout field shows only for Auto; `defaultTimeout` is what
 * applies when it is left empty (at install).
 */
export function IdlePolicyFields(props: {
  policy: IdlePolicy;
  onPolicyChange(policy: IdlePolicy): void;
  timeout: string;
  onTimeoutChange(timeout: string): void;
  defaultTimeout?: string;
  policyError?: string | undefined;
  timeoutError?: string | undefined;
}) {
  return (
    <div>
      <RadioField
        label="When idle"
        value={props.policy}
        onChange={(v) => props.onPolicyChange(v as IdlePolicy)}
        error={props.policyError}
        choices={[
          { id: "Auto", label: "Stop when idle", hint: "wakes on the next visit" },
          { id: "AlwaysOn", label: "Always on" },
        ]}
      />
      {props.policy === "Auto" && (
        <Field
          label="Idle timeout"
          value={props.timeout}
          onChange={props.onTimeoutChange}
          {...(props.defaultTimeout ? { placeholder: props.defaultTimeout } : {})}
          error={props.timeoutError}
          description={`Stops after this long without a request: 90s, 30m, 12h (1s to 720h${props.defaultTimeout ? `; default ${props.defaultTimeout}` : ""}).`}
        />
      )}
    </div>
  );
}
