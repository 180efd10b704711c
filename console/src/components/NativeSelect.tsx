// A labelled native select for list filters: the browser's own control, accessible and light
// (react-aria's Select, for dialogs and choices with reasons, is SelectField.tsx).
import { useId } from "react";
import { ui } from "./ui.tsx";

export function NativeSelect(props: {
  label: string;
  value: string;
  choices: readonly { id: string; label: string }[];
  onChange(value: string): void;
  className?: string;
}) {
  const id = useId();
  return (
    <div className={props.className}>
      <label className={ui.label} htmlFor={id}>
        {props.label}
      </label>
      <select
        id={id}
        className={`${ui.input} ${ui.nativeSelect}`}
        value={props.value}
        onChange={(e) => props.onChange(e.currentTarget.value)}
      >
        {props.choices.map((c) => (
          <option key={c.id} value={c.id}>
            {c.label}
          </option>
        ))}
      </select>
    </div>
  );
}

/** The "no filter" choice: no value of a filter is empty. */
const ALL = "";

/**
 * A list's filter kept in the URL: the first choice ("All statuses") clears it (undefined), the
 * others are the values themselves. The page decides what a change does (its search, page 1).
 */
export function FilterSelect<T extends string>(props: {
  label: string;
  all: string;
  value: T | undefined;
  choices: readonly T[] | readonly { id: T; label: string }[];
  onChange(value: T | undefined): void;
  className?: string;
}) {
  const choices = props.choices.map((c) => (typeof c === "string" ? { id: c, label: c } : c));
  return (
    <NativeSelect
      {...(props.className ? { className: props.className } : {})}
      label={props.label}
      value={props.value ?? ALL}
      choices={[{ id: ALL, label: props.all }, ...choices]}
      onChange={(v) => props.onChange(v === ALL ? undefined : (v as T))}
    />
  );
}
