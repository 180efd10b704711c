// A row's menu of actions, each with the reason when the caller may not take it, in a popover
// beside the row's button. Loaded on the first press (the members page's first visit stays
// light): the button lives in the page, this list here.
import type { RefObject } from "react";
import { Menu, MenuItem, Popover, Text } from "react-aria-components";
import type { MemberAction, Offer } from "../lib/offers.ts";
import { ui } from "./ui.tsx";

export function RowMenu(props: {
  label: string;
  offers: readonly Offer[];
  triggerRef: RefObject<HTMLButtonElement | null>;
  onAction(action: MemberAction): void;
  onClose(): void;
}) {
  const disabled = props.offers.filter((o) => o.reason).map((o) => o.action);
  return (
    <Popover
      className={ui.popover}
      placement="bottom end"
      triggerRef={props.triggerRef}
      isOpen
      onOpenChange={(open) => !open && props.onClose()}
    >
      <Menu
        className={ui.menu}
        autoFocus="first"
        disabledKeys={disabled}
        onAction={(key) => {
          props.onClose();
          props.onAction(key as MemberAction);
        }}
        aria-label={props.label}
      >
        {props.offers.map((o) => (
          <MenuItem
            key={o.action}
            id={o.action}
            textValue={o.label}
            className={`${ui.menuItem} ${o.action === "deactivate" || o.action === "cancel" ? ui.menuItemDanger : ""}`}
          >
            <Text slot="label">{o.label}</Text>
            {o.reason && (
              <Text slot="description" className={ui.optionHint}>
                {o.reason}
              </Text>
            )}
          </MenuItem>
        ))}
      </Menu>
    </Popover>
  );
}
