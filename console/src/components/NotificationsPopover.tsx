// The bell's list: the newest notifications, each marked read when opened (or with "Mark read",
// "Mark all read"), with a link to the page it is about. Loaded on the bell's first press.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useRouter } from "@tanstack/react-router";
import type { RefObject } from "react";
import { Dialog, Heading, Popover } from "react-aria-components";
import { api, type NotificationItem, type NotificationPage, unwrap } from "../api/client.ts";
import { formatDateTime, formatRelative } from "../lib/format.ts";
import { workspaceKeys } from "../lib/workspace.ts";
import s from "./layout.module.css";
import { Button, ui } from "./ui.tsx";

export function NotificationsPopover(props: {
  triggerRef: RefObject<HTMLButtonElement | null>;
  page: NotificationPage;
  onClose(): void;
}) {
  const queryClient = useQueryClient();
  const router = useRouter();
  const { items, unread } = props.page;
  const markRead = useMutation({
    mutationFn: (body: { ids: string[] } | { all: true }) => unwrap(api.POST("/api/me/notifications/read", { body })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: workspaceKeys.notifications }),
  });
  const open = (n: NotificationItem) => {
    if (!n.readAt) markRead.mutate({ ids: [n.id] });
    props.onClose();
    if (n.link) void router.navigate({ href: n.link });
  };
  return (
    <Popover
      className={`${ui.popover} ${s.bellPopover}`}
      placement="bottom start"
      triggerRef={props.triggerRef}
      isOpen
      onOpenChange={(o) => !o && props.onClose()}
    >
      <Dialog className={s.bellDialog} aria-labelledby="notifications-title">
        <div className={s.bellHead}>
          <Heading slot="title" id="notifications-title" className={s.bellTitle}>
            Notifications
          </Heading>
          {unread > 0 && (
            <Button small variant="quiet" onPress={() => markRead.mutate({ all: true })}>
              Mark all read
            </Button>
          )}
        </div>
        {items.length ? (
          <ul className={s.bellList}>
            {items.slice(0, 20).map((n) => (
              <li key={n.id} className={n.readAt ? undefined : s.bellUnread}>
                {/* Console paths only (the API never links elsewhere); anything else stays text. */}
                {n.link?.startsWith("/") ? (
                  <a
                    href={n.link}
                    className={s.bellItemTitle}
                    onClick={(e) => {
                      e.preventDefault();
                      open(n);
                    }}
                  >
                    {n.title}
                    {!n.readAt && <span className="visually-hidden"> (unread)</span>}
                  </a>
                ) : (
                  <span className={s.bellItemTitle}>
                    {n.title}
                    {!n.readAt && <span className="visually-hidden"> (unread)</span>}
                  </span>
                )}
                <span className={s.bellBody}>{n.body}</span>
                <span className={s.bellMeta}>
                  <time dateTime={n.createdAt} title={formatDateTime(n.createdAt)}>
                    {formatRelative(n.createdAt)}
                  </time>
                  {!n.readAt && (
                    <Button
                      small
                      variant="quiet"
                      aria-label={`Mark read: ${n.title}`}
                      onPress={() => markRead.mutate({ ids: [n.id] })}
                    >
                      Mark read
                    </Button>
                  )}
                </span>
              </li>
            ))}
          </ul>
        ) : (
          <p className={ui.description}>Nothing new. Role changes, keys, exports and trials ending show up here.</p>
        )}
      </Dialog>
    </Popover>
  );
}
