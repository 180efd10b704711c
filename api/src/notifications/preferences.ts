// Which channels a notice goes to, per user, event and organization: pure rules, no database.
// Resolution order: the user's override for that organization > the user's own default (org "")
// > the default in code (CODE_DEFAULTS). app.stopped and app.woken never go by email: they happen
// many times a day for an app that scales to zero, so email is not even offered for them.

export const NOTICE_EVENTS = [
  "trial.ending",
  "payment.due",
  "app.failed",
  "role.changed",
  "invitation.accepted",
  "key.created",
  "key.revoked",
  "export.ready",
  "deletion.scheduled",
  "app.stopped",
  "app.woken",
  "digest",
] as const;
export type NoticeEvent = (typeof NOTICE_EVENTS)[number];

export const CHANNELS = ["feed", "email"] as const;
export type Channel = (typeof CHANNELS)[number];

export const isNoticeEvent = (value: string): value is NoticeEvent =>
  (NOTICE_EVENTS as readonly string[]).includes(value);

/** Labels the console shows next to each event. */
export const EVENT_LABELS: Record<NoticeEvent, string> = {
  "trial.ending": "A trial is ending",
  "payment.due": "A payment is due",
  "app.failed": "An app failed",
  "role.changed": "Your role changed",
  "invitation.accepted": "An invitation was accepted",
  "key.created": "An API key was created",
  "key.revoked": "An API key was revoked",
  "export.ready": "A data export is ready",
  "deletion.scheduled": "The organization is scheduled for deletion",
  "app.stopped": "An app stopped",
  "app.woken": "An app woke up",
  digest: "Activity digest",
};

/**
 * Defaults when the user chose nothing: everything in the feed; email for what needs action or
 * concerns money, access or the account (trial ending, payment due, app failed, role changed,
 * keys, export ready, deletion, digest); no email for an accepted invitation (feed only, it needs
 * no action); never email for app.stopped / app.woken.
 */
export const CODE_DEFAULTS: Record<NoticeEvent, Record<Channel, boolean>> = {
  "trial.ending": { feed: true, email: true },
  "payment.due": { feed: true, email: true },
  "app.failed": { feed: true, email: true },
  "role.changed": { feed: true, email: true },
  "invitation.accepted": { feed: true, email: false },
  "key.created": { feed: true, email: true },
  "key.revoked": { feed: true, email: true },
  "export.ready": { feed: true, email: true },
  "deletion.scheduled": { feed: true, email: true },
  "app.stopped": { feed: true, email: false },
  "app.woken": { feed: true, email: false },
  digest: { feed: false, email: true },
};

const FEED_ONLY: ReadonlySet<NoticeEvent> = new Set(["app.stopped", "app.woken"]);

/** Whether a channel can be chosen at all for an event (email is not offered for feed-only events). */
export const channelAvailable = (event: NoticeEvent, channel: Channel): boolean =>
  channel === "feed" || !FEED_ONLY.has(event);

/** A stored choice (NotificationPreference): org "" is the user's default. */
export type PreferenceRow = { org: string; event: string; channel: string; enabled: boolean };

export type Pref = { enabled: boolean; default: boolean; overridden: boolean; available: boolean };

/**
 * The effective choice for one event and channel in `org` (null: the user's account-wide
 * default). `default` is what applies without a choice at this level (the user default for an
 * org, the code default for the user level); `overridden` says a choice at this level exists.
 */
export function resolvePreference(
  rows: readonly PreferenceRow[],
  event: NoticeEvent,
  channel: Channel,
  org: string | null,
): Pref {
  if (!channelAvailable(event, channel)) return { enabled: false, default: false, overridden: false, available: false };
  const find = (level: string) => rows.find((r) => r.org === level && r.event === event && r.channel === channel);
  const code = CODE_DEFAULTS[event][channel];
  const userDefault = find("")?.enabled ?? code;
  if (org === null || org === "")
    return { enabled: userDefault, default: code, overridden: find("") !== undefined, available: true };
  const override = find(org);
  return {
    enabled: override?.enabled ?? userDefault,
    default: userDefault,
    overridden: override !== undefined,
    available: true,
  };
}

/** Both channels for a notice to one user. */
export function channelsFor(
  rows: readonly PreferenceRow[],
  event: NoticeEvent,
  org: string | null,
): Record<Channel, boolean> {
  return {
    feed: resolvePreference(rows, event, "feed", org).enabled,
    email: resolvePreference(rows, event, "email", org).enabled,
  };
}
