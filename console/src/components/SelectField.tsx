// A select on react-aria-components (listbox in a popover, disabled options with their reason),
// apart from ui.tsx so that the layout, on every first visit, does not carry its code.
import {
  Button as AriaButton,
  FieldError,
  Label,
  ListBox,
  ListBoxItem,
  Popover,
  Select,
  SelectValue,
  Text,
} from "react-aria-components";
import s from "./ui.module.css";

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
