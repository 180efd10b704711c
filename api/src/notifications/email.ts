// A notice as an email: plain text and HTML (every interpolated value escaped), with the one-click
// unsubscribe headers of RFC 2369 / RFC 8058. Pure.
import { escapeHtml, type MailMessage } from "../mail/mailer.ts";
import { EVENT_LABELS, type NoticeEvent } from "./preferences.ts";

export type NoticeEmailParams = {
  to: string;
  event: NoticeEvent;
  org: string | null;
  title: string;
  body: string;
  /** A console path ("/orgs/acme/apps/wiki"); made absolute on the console's origin. */
  link: string | null;
  consoleUrl: string;
  /** https://<API>/api/unsubscribe?token=… */
  unsubscribeUrl: string;
};

/** Collapses line breaks: the title ends up in the Subject header. */
const oneLine = (value: string) => value.replace(/\s+/g, " ").trim();

/** Only a path on the console: a notice never carries a link elsewhere (nor a bearer URL). */
export function consoleLink(consoleUrl: string, link: string | null): string | null {
  if (!link?.startsWith("/") || link.startsWith("//")) return null;
  return new URL(link, `${consoleUrl}/`).href;
}

export function noticeEmail(p: NoticeEmailParams): MailMessage {
  const subject = oneLine(p.title);
  const open = consoleLink(p.consoleUrl, p.link);
  const about = `${EVENT_LABELS[p.event]}${p.org ? ` (organization ${p.org})` : ""}`;
  const text = [
    p.body,
    "",
    ...(open ? ["Open in Atrium:", open, ""] : []),
    "--",
    `You get this email because of your notification preferences: ${about}.`,
    "Stop these emails:",
    p.unsubscribeUrl,
    "",
  ].join("\n");
  const e = escapeHtml;
  const paragraphs = p.body
    .split(/\n{2,}/)
    .map((para) => `<p>${e(para).replace(/\n/g, "<br>")}</p>`)
    .join("\n");
  const html = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${e(subject)}</title></head>
<body style="font-family: sans-serif; line-height: 1.5">
<h1 style="font-size: 1.2em">${e(subject)}</h1>
${paragraphs}
${open ? `<p><a href="${e(open)}">Open in Atrium</a></p>\n` : ""}<p style="color: #555; font-size: 0.9em">You get this email because of your notification preferences: ${e(about)}.
<a href="${e(p.unsubscribeUrl)}">Stop these emails</a>.</p>
</body>
</html>
`;
  return {
    to: p.to,
    subject,
    text,
    html,
    headers: {
      "List-Unsubscribe": `<${p.unsubscribeUrl}>`,
      "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    },
  };
}
