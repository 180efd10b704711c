import { describe, expect, it } from "vitest";
import { createMailer, invitationEmail } from "./mailer.ts";

const params = {
  orgName: "Acme",
  inviterName: "Ada Admin",
  roleName: "Member",
  acceptUrl: "https://atrium.example/api/invitations/accept?token=abc&x=1",
  expiresAt: new Date("2026-03-04T05:06:07Z"),
};

describe("invitationEmail", () => {
  it("names the inviter, organization, role, link and expiry", () => {
    const mail = invitationEmail(params);
    expect(mail.subject).toBe("Ada Admin invited you to Acme on Atrium");
    expect(mail.text).toContain('Ada Admin invited you to join the organization "Acme" on Atrium as Member.');
    expect(mail.text).toContain("\nhttps://atrium.example/api/invitations/accept?token=abc&x=1\n");
    expect(mail.text).toContain("expires on 2026-03-04 05:06 UTC");
    expect(mail.html).toContain('<a href="https://atrium.example/api/invitations/accept?token=abc&amp;x=1">');
    expect(mail.html).toContain("2026-03-04 05:06 UTC");
  });

  it("HTML-escapes every interpolated value", () => {
    const mail = invitationEmail({
      ...params,
      orgName: "<script>alert(1)</script>",
      inviterName: 'Eve "the" <b>',
      roleName: "R&D's <i>",
      acceptUrl: 'https://atrium.example/accept?t="><img src=x>',
    });
    expect(mail.html).not.toMatch(/<script|<b>|<i>|<img/);
    expect(mail.html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(mail.html).toContain("Eve &quot;the&quot; &lt;b&gt;");
    expect(mail.html).toContain("R&amp;D&#39;s &lt;i&gt;");
    // The URL parser percent-encodes what would break out of the attribute.
    expect(mail.html).toContain('href="https://atrium.example/accept?t=%22%3E%3Cimg%20src=x%3E"');
    expect(mail.text).toContain("<script>alert(1)</script>"); // plain text stays as typed
  });

  it("keeps the subject on one line and refuses links that are not http(s)", () => {
    expect(invitationEmail({ ...params, orgName: "Acme\r\nBcc: x@evil.example" }).subject).toBe(
      "Ada Admin invited you to Acme Bcc: x@evil.example on Atrium",
    );
    expect(() => invitationEmail({ ...params, acceptUrl: "javascript:alert(1)" })).toThrow("must be http(s)");
    expect(() => invitationEmail({ ...params, expiresAt: new Date("nope") })).toThrow("not a valid date");
  });
});

describe("createMailer", () => {
  it("without a URL writes each message as one JSON line", async () => {
    const lines: string[] = [];
    const mailer = createMailer({ from: "Atrium <noreply@atrium.example>", log: (l) => lines.push(l) });
    expect(mailer.kind).toBe("log");
    await mailer.send({ to: "bob@example.com", subject: "Hi", text: "line 1\nline 2", html: "<p>x</p>" });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain("\n");
    expect(JSON.parse(lines[0] ?? "")).toMatchObject({
      level: "info",
      from: "Atrium <noreply@atrium.example>",
      to: "bob@example.com",
      subject: "Hi",
      text: "line 1\nline 2",
      html: "<p>x</p>",
    });
  });

  it("refuses URLs that are not smtp(s)", () => {
    expect(() => createMailer({ url: "http://mail.example", from: "a@b.example" })).toThrow("smtp://");
    expect(() => createMailer({ url: "mail.example:25", from: "a@b.example" })).toThrow();
  });

  it("reports a failed delivery without the URL's credentials", async () => {
    const mailer = createMailer({ url: "smtp://user:hunter2@127.0.0.1:9", from: "a@b.example" });
    const error = await mailer.send({ to: "x@y.example", subject: "s", text: "t" }).catch((e: Error) => e);
    await mailer.close();
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain("sending mail to x@y.example via smtp://127.0.0.1:9 failed");
    expect((error as Error).message).not.toContain("hunter2");
  });
});
