// Outgoing mail (invitations). With an SMTP URL it sends over a pooled nodemailer SMTP transport;
// without one (dev without a mail server) it writes each message to stderr as one JSON line,
//   {"time":"…","level":"info","msg":"mail not sent: no SMTP configured","from":…,"to":…,"subject":…,"text":…,"html":…}
// so the accept link of an invitation can be copied from the API's log.
//
// URL forms: smtp://host:port (STARTTLS when the server offers it), smtps://host:465 (TLS from the
// start), credentials as smtp://user:pass@host:587; nodemailer's query options also work
// (smtp://host:25?ignoreTLS=true).
import { createTransport } from "nodemailer";

export type MailMessage = {
  to: string;
  subject: string;
  text: string;
  html?: string;
  /** Extra headers, e.g. List-Unsubscribe (notifications). */
  headers?: Record<string, string>;
};

export type Mailer = {
  send(message: MailMessage): Promise<void>;
  /** Closes the pooled connections (a no-op for the logging mailer). */
  close(): Promise<void>;
  /** "smtp" or "log": where messages go. */
  readonly kind: "smtp" | "log";
};

export type MailerOptions = {
  /** smtp://host:port or smtps://host:port; unset means the logging mailer. */
  url?: string | undefined;
  /** The From header, e.g. "Atrium <noreply@atrium.example>". */
  from: string;
  /** Where the logging mailer writes its lines (default: stderr). */
  log?: (line: string) => void;
};

export function createMailer(opts: MailerOptions): Mailer {
  if (!opts.url) {
    const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    return {
      kind: "log",
      async send(message) {
        log(
          JSON.stringify({
            time: new Date().toISOString(),
            level: "info",
            msg: "mail not sent: no SMTP configured",
            from: opts.from,
            ...message,
          }),
        );
      },
      async close() {},
    };
  }

  let url: URL;
  try {
    url = new URL(opts.url);
  } catch {
    throw new TypeError("mail URL is not a URL (expected smtp://host:port)");
  }
  if (url.protocol !== "smtp:" && url.protocol !== "smtps:") {
    throw new TypeError(`mail URL must be smtp:// or smtps://, not ${url.protocol}//`);
  }
  const transport = createTransport({
    url: opts.url,
    pool: true,
    maxConnections: 2,
    maxMessages: 100,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
    dnsTimeout: 10_000,
  });
  // Where it goes, for messages: never the credentials of the URL.
  const target = `${url.protocol}//${url.host}`;

  return {
    kind: "smtp",
    async send(message) {
      try {
        await transport.sendMail({
          from: opts.from,
          to: message.to,
          subject: message.subject,
          text: message.text,
          ...(message.html === undefined ? {} : { html: message.html }),
          ...(message.headers === undefined ? {} : { headers: message.headers }),
        });
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new Error(`sending mail to ${message.to} via ${target} failed: ${reason}`, { cause: error });
      }
    },
    async close() {
      transport.close();
    },
  };
}

export type InvitationParams = {
  orgName: string;
  inviterName: string;
  roleName: string;
  acceptUrl: string;
  expiresAt: Date;
};

/** The invitation mail; pure. Every interpolated value is HTML-escaped in `html`. */
export function invitationEmail(params: InvitationParams): { subject: string; text: string; html: string } {
  const url = new URL(params.acceptUrl);
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new TypeError(`acceptUrl must be http(s), not ${url.protocol}`);
  }
  if (Number.isNaN(params.expiresAt.getTime())) throw new TypeError("expiresAt is not a valid date");
  const org = oneLine(params.orgName);
  const inviter = oneLine(params.inviterName);
  const role = oneLine(params.roleName);
  const acceptUrl = url.href;
  const expires = `${params.expiresAt.toISOString().slice(0, 16).replace("T", " ")} UTC`;

  const subject = `${inviter} invited you to ${org} on Atrium`;
  const text = [
    "Hello,",
    "",
    `${inviter} invited you to join the organization "${org}" on Atrium as ${role}.`,
    "",
    "Accept the invitation:",
    acceptUrl,
    "",
    `The invitation expires on ${expires}. If you did not expect it, you can ignore this email.`,
    "",
  ].join("\n");
  const e = escapeHtml;
  const html = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${e(subject)}</title></head>
<body style="font-family: sans-serif; line-height: 1.5">
<p>Hello,</p>
<p><strong>${e(inviter)}</strong> invited you to join the organization <strong>${e(org)}</strong> on Atrium as <strong>${e(role)}</strong>.</p>
<p><a href="${e(acceptUrl)}">Accept the invitation</a></p>
<p style="color: #555">Or open this link: ${e(acceptUrl)}<br>
The invitation expires on ${e(expires)}. If you did not expect it, you can ignore this email.</p>
</body>
</html>
`;
  return { subject, text, html };
}

/** Collapses line breaks and runs of whitespace: names end up in a header (Subject). */
function oneLine(value: string): string {
  return value.replace(/\s+/g, " ").trim();
}

export function escapeHtml(value: string): string {
  return value
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}
