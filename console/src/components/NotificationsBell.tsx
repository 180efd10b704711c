// The notifications bell of the layout: the unread count on the button; the list opens in a
// popover whose code loads on the first press (NotificationsPopover.tsx), keeping the first
// visit light. It polls every half minute; without the notifications API it stays out of the way.
import { useQuery } from "@tanstack/react-query";
import { lazy, Suspense, useRef, useState } from "react";
import { Button as AriaButton } from "react-aria-components";
import { notificationsQuery } from "../lib/workspace.ts";
import s from "./layout.module.css";
import { ui } from "./ui.tsx";

const NotificationsPopover = lazy(() =>
  import("./NotificationsPopover.tsx").then((m) => ({ default: m.NotificationsPopover })),
);

export function NotificationsBell({ className }: { className?: string }) {
  const feed = useQuery(notificationsQuery);
  const trigger = useRef<HTMLButtonElement>(null);
  const [open, setOpen] = useState(false);
  if (!feed.data) return null;
  const { unread } = feed.data;
  return (
    <>
      <AriaButton
        ref={trigger}
        className={`${ui.button} ${ui.small} ${ui.quiet} ${s.bell} ${className ?? ""}`}
        aria-label={unread ? `Notifications, ${unread} unread` : "Notifications"}
        aria-expanded={open}
        aria-haspopup="dialog"
        onPress={() => setOpen(!open)}
      >
        <svg className={s.bellIcon} viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">
          <path
            d="M12 3a6 6 0 0 0-6 6v3.6l-1.7 2.9A1 1 0 0 0 5.2 17h13.6a1 1 0 0 0 .9-1.5L18 12.6V9a6 6 0 0 0-6-6Zm-2.5 15.5a2.5 2.5 0 0 0 5 0"
            fill="none"
            stroke="currentColor"
            strokeWidth="1.8"
            strokeLinecap="round"
            strokeLinejoin="round"
          />
        </svg>
        {unread > 0 && (
          <span className={s.bellCount} aria-hidden="true">
            {unread > 99 ? "99+" : unread}
          </span>
        )}
      </AriaButton>
      {open && (
        <Suspense fallback={null}>
          <NotificationsPopover triggerRef={trigger} page={feed.data} onClose={() => setOpen(false)} />
        </Suspense>
      )}
    </>
  );
}
