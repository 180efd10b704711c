// Form fields and dialogs, apart from ui.tsx so that their react-aria code loads with the
// pages that use them, not with the layout on first visit.
import type { ReactNode } from "react";
import {
  Checkbox,
  Dialog,
  FieldError,
  Heading,
  Input,
  Label,
  Modal,
  ModalOverlay,
  Text,
  TextField,
} from "react-aria-components";
import s from "./ui.module.css";

export function Field(props: {
  label: string;
  value: string;
  onChange(value: string): void;
  error?: string | undefined;
  description?: string;
  type?: "text" | "email" | "password";
  autoFocus?: boolean;
  placeholder?: string;
  autoComplete?: string;
  isRequired?: boolean;
  maxLength?: number;
  name?: string;
}) {
  return (
    <TextField
      className={s.field}
      value={props.value}
      onChange={props.onChange}
      isInvalid={!!props.error}
      type={props.type ?? "text"}
      autoFocus={props.autoFocus}
      isRequired={props.isRequired}
      maxLength={props.maxLength}
      name={props.name}
      validationBehavior="aria"
    >
      <Label className={s.label}>{props.label}</Label>
      <Input className={s.input} placeholder={props.placeholder} autoComplete={props.autoComplete} />
      {props.description && (
        <Text slot="description" className={s.description}>
          {props.description}
        </Text>
      )}
      <FieldError className={s.fieldError}>{props.error}</FieldError>
    </TextField>
  );
}

export function CheckboxItem(props: {
  value: string;
  children: ReactNode;
  isDisabled?: boolean;
  description?: string | undefined;
}) {
  return (
    <Checkbox value={props.value} className={s.checkbox} isDisabled={props.isDisabled}>
      {({ isSelected }) => (
        <>
          <span className={s.checkboxBox} aria-hidden="true">
            {isSelected ? "✓" : ""}
          </span>
          <span>
            {props.children}
            {props.description && <span className={`${s.optionHint} ${s.muted}`}> — {props.description}</span>}
          </span>
        </>
      )}
    </Checkbox>
  );
}

/** A modal dialog: focus moves in, Escape and the close buttons leave, focus returns. */
export function ModalDialog(props: {
  title: string;
  isOpen: boolean;
  onOpenChange(open: boolean): void;
  children: ReactNode;
  wide?: boolean;
  role?: "dialog" | "alertdialog";
  isDismissable?: boolean;
}) {
  return (
    <ModalOverlay
      className={s.overlay}
      isOpen={props.isOpen}
      onOpenChange={props.onOpenChange}
      isDismissable={props.isDismissable ?? true}
    >
      <Modal className={`${s.modal} ${props.wide ? s.wide : ""}`}>
        <Dialog className={s.dialog} role={props.role ?? "dialog"}>
          <Heading slot="title" className={s.dialogTitle}>
            {props.title}
          </Heading>
          {props.children}
        </Dialog>
      </Modal>
    </ModalOverlay>
  );
}

export const DialogActions = ({ children }: { children: ReactNode }) => (
  <div className={s.dialogActions}>{children}</div>
);
