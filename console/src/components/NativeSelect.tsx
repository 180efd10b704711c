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
