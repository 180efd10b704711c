// Preference resolution, token signing, and the pure notice builders (email, outbox, apps, digest).
import { describe, expect, it } from "vitest";
import { parsePeppers } from "../auth/keyformat.ts";
import { appTransitionNotice, restatesTransition } from "./apps.ts";
import { digestNotice, digestPeriod, isoWeek } from "./digest.ts";
import { consoleLink, noticeEmail } from "./email.ts";
import { EMAIL_RETRY_MS, emailClaimable } from "./notifications.ts";
import { outboxNotice } from "./outbox.ts";
import { CODE_DEFAULTS, channelsFor, NOTICE_EVENTS, type PreferenceRow, resolvePreference } from "./preferences.ts";
import { signUnsubscribe, verifyUnsubscribe } from "./token.ts";

describe("resolvePreference", () => {
  const row = (org: string, event: string, channel: string, enabled: boolean): PreferenceRow => ({
    org,
    event,
    channel,
    enabled,
  });

  it("falls back to the code default without a choice", () => {
    for (const event of NOTICE_EVENTS)
      for (const channel of ["feed", "email"] as const) {
        const p = resolvePreference([], event, channel, "acme");
        const feedOnly = channel === "email" && (event === "app.stopped" || event === "app.woken");
        expect(p.enabled, `${event} ${channel}`).toBe(feedOnly ? false : CODE_DEFAULTS[event][channel]);
        expect(p.overridden).toBe(false);
      }
  });

  it("takes the user default over the code default, and the org override over both", () => {
    const rows = [row("", "key.created", "email", false), row("acme", "key.created", "email", true)];
    expect(resolvePreference(rows, "key.created", "email", null)).toEqual({
      enabled: false,
      default: true,
      overridden: true,
      available: true,
    });
    expect(resolvePreference(rows, "key.created", "email", "acme")).toEqual({
      enabled: true,
      default: false,
      overridden: true,
      available: true,
    });
    // Another org has no override: the user default holds there.
    expect(resolvePreference(rows, "key.created", "email", "other")).toEqual({
      enabled: false,
      default: false,
      overridden: false,
      available: true,
    });
    // An override off beats a user default on.
    const off = [row("", "role.changed", "feed", true), row("acme", "role.changed", "feed", false)];
    expect(channelsFor(off, "role.changed", "acme")).toEqual({ feed: false, email: true });
  });

  it("never offers email for app.stopped and app.woken, whatever is stored", () => {
    const rows = [row("", "app.stopped", "email", true), row("acme", "app.woken", "email", true)];
    expect(resolvePreference(rows, "app.stopped", "email", "acme")).toMatchObject({ enabled: false, available: false });
    expect(resolvePreference(rows, "app.woken", "email", "acme")).toMatchObject({ enabled: false, available: false });
    expect(resolvePreference(rows, "app.woken", "feed", "acme")).toMatchObject({ enabled: true, available: true });
  });

  it("ignores choices of other events and channels", () => {
    const rows = [row("acme", "key.revoked", "email", false), row("acme", "key.created", "feed", false)];
    expect(resolvePreference(rows, "key.created", "email", "acme").enabled).toBe(true);
  });
});

describe("unsubscribe tokens", () => {
  const peppers = parsePeppers("1:aaaaaaaaaaaaaaaaaaaa,2:bbbbbbbbbbbbbbbbbbbb");
  const statement = { userId: "u1", event: "key.created" as const, org: "acme" };

  it("verify what was signed, with an old pepper version too", () => {
    const token = signUnsubscribe(peppers, statement);
    expect(token.startsWith("2.")).toBe(true);
    expect(verifyUnsubscribe(peppers, token)).toEqual(statement);
    const old = signUnsubscribe(parsePeppers("1:aaaaaaaaaaaaaaaaaaaa"), { ...statement, org: null });
    expect(verifyUnsubscribe(peppers, old)).toEqual({ ...statement, org: null });
  });

  it("refuse an altered statement, a forged signature, another key, or garbage", () => {
    const token = signUnsubscribe(peppers, statement);
    const [v, payload, sig] = token.split(".") as [string, string, string];
    const other = Buffer.from(JSON.stringify({ u: "u2", e: "key.created", o: "acme" })).toString("base64url");
    expect(verifyUnsubscribe(peppers, `${v}.${other}.${sig}`)).toBeUndefined();
    const flipped = `${sig.slice(0, -2)}${sig.at(-2) === "A" ? "B" : "A"}${sig.at(-1)}`;
    expect(verifyUnsubscribe(peppers, `${v}.${payload}.${flipped}`)).toBeUndefined();
    expect(verifyUnsubscribe(parsePeppers("2:cccccccccccccccccccc"), token)).toBeUndefined();
    expect(verifyUnsubscribe(peppers, `1.${payload}.${sig}`)).toBeUndefined();
    for (const junk of ["", "x", "2..", `2.${payload}`, `${token}.x`])
      expect(verifyUnsubscribe(peppers, junk)).toBeUndefined();
  });

  it("fit the route's 512-character limit for the longest org name and event", () => {
    const longest = { userId: "c".repeat(30), event: "invitation.accepted" as const, org: "o".repeat(59) };
    const token = signUnsubscribe(peppers, longest);
    expect(token.length).toBeLessThan(512);
    expect(verifyUnsubscribe(peppers, token)).toEqual(longest);
  });

  it("are made only with a current pepper (fail closed)", () => {
    expect(() => signUnsubscribe({ current: 3, byVersion: new Map() }, statement)).toThrow(/pepper/);
  });
});

describe("noticeEmail", () => {
  it("escapes the HTML part, keeps the text plain, and carries both unsubscribe headers", () => {
    const m = noticeEmail({
      to: "ada@example.com",
      event: "app.failed",
      org: "acme",
      title: "App <b>x</b>\nfailed",
      body: "It said <script>alert(1)</script> & more",
      link: "/orgs/acme/apps/x",
      consoleUrl: "https://atrium.example",
      unsubscribeUrl: "https://api.atrium.example/api/unsubscribe?token=1.a.b",
    });
    expect(m.subject).toBe("App <b>x</b> failed");
    expect(m.text).toContain("It said <script>alert(1)</script> & more");
    expect(m.text).toContain("https://atrium.example/orgs/acme/apps/x");
    expect(m.html).not.toContain("<script>");
    expect(m.html).toContain("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more");
    expect(m.headers).toEqual({
      "List-Unsubscribe": "<https://api.atrium.example/api/unsubscribe?token=1.a.b>",
      "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    });
  });

  it("links only to console paths", () => {
    expect(consoleLink("https://c.example", "//evil.example/x")).toBeNull();
    expect(consoleLink("https://c.example", "https://evil.example/")).toBeNull();
    expect(consoleLink("https://c.example", "/orgs/a")).toBe("https://c.example/orgs/a");
  });
});

describe("outboxNotice", () => {
  it("turns billing's events into notices for billing managers, keyed by the outbox key", () => {
    const trial = outboxNotice({
      key: "trial-ending-1d:s1",
      type: "trial.ending",
      org: "acme",
      payload: JSON.stringify({ app: "wiki", template: "gitea", days: 1, trialEndsAt: "2026-12-02T00:00:00.000Z" }),
    });
    expect(trial?.to).toEqual({ org: "acme", permission: "billing:manage" });
    expect(trial?.notice).toMatchObject({ key: "outbox:trial-ending-1d:s1", event: "trial.ending", org: "acme" });
    expect(trial?.notice.title).toBe("The trial of wiki ends tomorrow");
    const due = outboxNotice({
      key: "invoice-due:i1",
      type: "invoice.due",
      org: "acme",
      payload: JSON.stringify({ total: 1234, currency: "EUR", dueAt: "2026-12-01T00:00:00.000Z" }),
    });
    expect(due?.notice).toMatchObject({ event: "payment.due", title: "Invoice of 12.34 EUR due" });
    expect(
      outboxNotice({ key: "payment-recorded:i1", type: "payment.recorded", org: "acme", payload: "{}" }),
    ).toBeUndefined();
  });
});

describe("appTransitionNotice", () => {
  const now = Date.parse("2026-12-01T12:00:00Z");
  const app = (status: Record<string, unknown>) =>
    ({ metadata: { name: "wiki", namespace: "org-acme", uid: "u-1" }, spec: {}, status }) as never;

  it("keys a transition by uid and its time, so every update showing it gives one key", () => {
    const stopped = appTransitionNotice(
      "acme",
      app({ phase: "Stopped", stoppedAt: "2026-12-01T11:59:00Z" }),
      now,
      600_000,
    );
    expect(stopped).toMatchObject({ key: "app:u-1:stopped:2026-12-01T11:59:00Z", event: "app.stopped" });
    const woken = appTransitionNotice(
      "acme",
      app({ phase: "Running", stoppedAt: "2026-12-01T11:59:00Z", wokenAt: "2026-12-01T11:59:30Z" }),
      now,
      600_000,
    );
    expect(woken).toMatchObject({ key: "app:u-1:woken:2026-12-01T11:59:30Z", event: "app.woken" });
    const failed = appTransitionNotice(
      "acme",
      app({
        phase: "Failed",
        conditions: [
          { type: "Ready", status: "False", lastTransitionTime: "2026-12-01T11:58:00Z", message: "CrashLoop" },
        ],
      }),
      now,
      600_000,
    );
    expect(failed).toMatchObject({ key: "app:u-1:failed:2026-12-01T11:58:00Z", event: "app.failed" });
    expect(failed?.body).toContain("CrashLoop");
  });

  it("ignores old transitions (an API restart) and running apps never woken", () => {
    expect(
      appTransitionNotice("acme", app({ phase: "Stopped", stoppedAt: "2026-12-01T10:00:00Z" }), now, 600_000),
    ).toBeUndefined();
    expect(appTransitionNotice("acme", app({ phase: "Running" }), now, 600_000)).toBeUndefined();
    // Woken before the last stop: that wake is history.
    expect(
      appTransitionNotice(
        "acme",
        app({ phase: "Running", stoppedAt: "2026-12-01T11:59:00Z", wokenAt: "2026-12-01T11:00:00Z" }),
        now,
        600_000,
      ),
    ).toBeUndefined();
  });
});

describe("restatesTransition", () => {
  it("takes the same kind within the window as the same transition, anything else as new", () => {
    const k = (kind: string, at: string, uid = "u-1") => `app:${uid}:${kind}:${at}`;
    const t = "2026-12-01T11:59:00Z";
    expect(restatesTransition(k("stopped", t), k("stopped", "2026-12-01T11:59:01Z"), 60_000)).toBe(true);
    expect(restatesTransition(k("stopped", t), k("stopped", "2026-12-01T12:05:00Z"), 60_000)).toBe(false);
    expect(restatesTransition(k("woken", t), k("stopped", "2026-12-01T11:59:01Z"), 60_000)).toBe(false);
    expect(restatesTransition(k("stopped", t, "u-2"), k("stopped", t), 60_000)).toBe(false);
    expect(restatesTransition(undefined, k("stopped", t), 60_000)).toBe(false);
  });
});

describe("emailClaimable", () => {
  const now = Date.parse("2026-12-01T12:00:00Z");
  const ago = (ms: number) => new Date(now - ms);
  it("takes a new email, a lost claim and an old failure; leaves a claim just taken, a recent failure and a sent one", () => {
    expect(emailClaimable({ emailState: "pending", emailedAt: null }, now)).toBe(true);
    expect(emailClaimable({ emailState: "pending", emailedAt: ago(10 * 60_000) }, now)).toBe(true);
    expect(emailClaimable({ emailState: "failed", emailedAt: ago(EMAIL_RETRY_MS) }, now)).toBe(true);
    // Another replica's claim, read before it wrote "sent": sending again would be a second email.
    expect(emailClaimable({ emailState: "pending", emailedAt: ago(10) }, now)).toBe(false);
    expect(emailClaimable({ emailState: "failed", emailedAt: ago(10) }, now)).toBe(false);
    expect(emailClaimable({ emailState: "sent", emailedAt: ago(EMAIL_RETRY_MS * 10) }, now)).toBe(false);
    expect(emailClaimable({ emailState: "none", emailedAt: null }, now)).toBe(false);
  });
});

describe("digest", () => {
  it("covers the last full UTC day or ISO week", () => {
    const now = Date.parse("2026-12-02T08:00:00Z"); // a Wednesday
    expect(digestPeriod("daily", now)).toMatchObject({
      key: "2026-12-01",
      from: new Date("2026-12-01T00:00:00Z"),
      to: new Date("2026-12-02T00:00:00Z"),
    });
    expect(digestPeriod("weekly", now)).toMatchObject({
      key: "2026-W48",
      from: new Date("2026-11-23T00:00:00Z"),
      to: new Date("2026-11-30T00:00:00Z"),
    });
    expect(digestPeriod("none", now)).toBeUndefined();
    expect(isoWeek(new Date("2026-12-28T00:00:00Z"))).toBe("2026-W53");
    expect(isoWeek(new Date("2024-12-30T00:00:00Z"))).toBe("2025-W01");
  });

  it("summarizes the audit counts, keyed by org and period; nothing when nothing happened", () => {
    const period = digestPeriod("daily", Date.parse("2026-12-02T08:00:00Z"));
    if (!period) throw new Error("no period");
    expect(digestNotice("acme", "Acme", period, [])).toBeUndefined();
    const n = digestNotice("acme", "Acme", period, [
      { action: "members.invite", result: "success", count: 3 },
      { action: "members.invite", result: "denied", count: 1 },
      { action: "apikeys.create", result: "error", count: 2 },
    ]);
    expect(n).toMatchObject({ key: "digest:acme:2026-12-01", event: "digest", org: "acme" });
    expect(n?.body).toContain("6 recorded actions, 1 refused, 2 failed");
    expect(n?.body).toContain("members.invite: 4");
  });
});
