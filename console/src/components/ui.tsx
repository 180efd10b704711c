// The console's building blocks on react-aria-components: what is focusable, labelled and
// announced comes from there; how it looks from ui.module.css.
import type { ReactNode } from "react";
import {
  Button as AriaButton,
  type ButtonProps,
  FieldError,
  Label,
  ListBox,
  ListBoxItem,
  Popover,
  Select,
  SelectValue,
  Text,
} from "react-aria-components";
import type { ApiProblem } from "../api/client.ts";
import s from "./ui.module.css";

type Variant = "primary" | "danger" | "quiet" | "default";
const variantClass = (v: Variant = "default") => (v === "default" ? "" : (s[v] ?? ""));

export function Button({
  variant,
  small,
  className,
  ...props
}: ButtonProps & { variant?: Variant; small?: boolean; className?: string }) {
  return (
    <AriaButton
      {...props}
      className={[s.button, variantClass(variant), small ? s.small : "", className ?? ""].join(" ")}
    />
  );
}

export const buttonClass = (variant?: Variant, small?: boolean) =>
  [s.button, variantClass(variant), small ? s.small : ""].join(" ");

export type Choice = { id: string; label: string; hint?: string; disabledReason?: string | undefined };

export function SelectField(props: {
  label: string;
  choices: readonly Choice[];
  value: string | null;
  onChange(value: string): void;
  error?: string | undefined;
  description?: string;
  placeholder?: string;
  className?: string;
}) {
  const disabled = props.choices.filter((c) => c.disabledReason).map((c) => c.id);
  return (
    <Select
      className={props.className ?? s.field}
      selectedKey={props.value}
      onSelectionChange={(key) => key !== null && props.onChange(String(key))}
      disabledKeys={disabled}
      isInvalid={!!props.error}
      placeholder={props.placeholder ?? "Choose…"}
      validationBehavior="aria"
    >
      <Label className={s.label}>{props.label}</Label>
      <AriaButton className={s.selectButton}>
        <SelectValue />
        <span aria-hidden="true">▾</span>
      </AriaButton>
      {props.description && (
        <Text slot="description" className={s.description}>
          {props.description}
        </Text>
      )}
      <FieldError className={s.fieldError}>{props.error}</FieldError>
      <Popover className={s.popover}>
        <ListBox className={s.listBox} items={props.choices}>
          {(c) => (
            // One text, so the accessible name holds all that is visible (axe: label-content-name-mismatch).
            <ListBoxItem id={c.id} textValue={c.label} className={s.option}>
              <span>{c.label}</span>
              {(c.hint || c.disabledReason) && <span className={s.optionHint}> {c.disabledReason ?? c.hint}</span>}
            </ListBoxItem>
          )}
        </ListBox>
      </Popover>
    </Select>
  );
}

/** The API's refusal: its message as the title of the form (field messages go beside fields). */
export function ProblemBanner({ problem, title }: { problem: unknown; title?: string }) {
  if (!problem) return null;
  // The API names fields by JSON pointer ("/body/env/API_TOKEN: is required"); a person reads the name.
  const message = (problem instanceof Error ? problem.message : String(problem)).replace(/\/body\/(env\/)?/g, "");
  const fields = (problem as Partial<ApiProblem>).fields ?? [];
  return (
    <div className={`${s.banner} ${s.bannerError}`} role="alert">
      <strong className={s.bannerTitle}>{title ?? "That did not work"}</strong>
      {message}
      {fields.length > 1 && " (see the fields below)"}
    </div>
  );
}

export function Banner({ tone, children }: { tone: "info" | "warning"; children: ReactNode }) {
  return (
    <div className={`${s.banner} ${tone === "info" ? s.bannerInfo : s.bannerWarning}`} role="status">
      {children}
    </div>
  );
}

const BADGE_TONES = { green: s.badgeGreen, blue: s.badgeBlue, amber: s.badgeAmber, red: s.badgeRed, grey: "" };
export const Badge = ({ tone, children }: { tone: keyof typeof BADGE_TONES; children: ReactNode }) => (
  <span className={`${s.badge} ${BADGE_TONES[tone]}`}>{children}</span>
);

export function PageHeader(props: { title: string; lead?: ReactNode; actions?: ReactNode }) {
  return (
    <header className={s.pageHeader}>
      <div>
        <h1 className={s.pageTitle}>{props.title}</h1>
        {props.lead && <p className={s.pageLead}>{props.lead}</p>}
      </div>
      {props.actions && <div>{props.actions}</div>}
    </header>
  );
}

export const Card = ({ children, className }: { children: ReactNode; className?: string }) => (
  <section className={`${s.card} ${className ?? ""}`}>{children}</section>
);

export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className={s.empty}>
      <p className={s.emptyTitle}>{title}</p>
      {children}
    </div>
  );
}

export const Loading = ({ what }: { what: string }) => (
  <p className={s.loading} role="status" aria-live="polite">
    Loading {what}…
  </p>
);

export { s as ui };
