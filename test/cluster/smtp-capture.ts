// A real SMTP server (smtp-server) on a free loopback port that keeps every message it receives,
// for tests of mail the API sends. No auth, no TLS: point the mailer at smtp://127.0.0.1:<port>.
//
//   const smtp = await startSmtpCapture();
//   const mailer = createMailer({ url: smtp.url, from: "Atrium <noreply@atrium.example>" });
//   const message = await smtp.waitForMessage("bob@example.com");
//
// Messages are parsed just enough for tests: headers (encoded words decoded), the first text/plain
// and text/html part, quoted-printable and base64 transfer encodings, the charset of each part.
import { SMTPServer } from "smtp-server";

export type CapturedMessage = {
  /** The envelope sender (MAIL FROM). */
  from: string;
  /** The envelope recipients (RCPT TO), as sent. */
  to: string[];
  subject: string;
  text: string;
  html?: string;
  /** Header name (lowercase) -> decoded value; the first one when repeated. */
  headers: Map<string, string>;
  /** The message as received (CRLF line ends, dot-unstuffed). */
  raw: string;
};

export type SmtpCapture = {
  host: string;
  port: number;
  /** smtp://host:port, for createMailer. */
  url: string;
  /** Every message so far, oldest first. */
  messages: CapturedMessage[];
  /**
   * The oldest message to `to` (case-insensitive) that no earlier waitForMessage returned, waiting
   * for it up to timeoutMs (default 10 s).
   */
  waitForMessage(to: string, timeoutMs?: number): Promise<CapturedMessage>;
  stop(): Promise<void>;
};

export async function startSmtpCapture(opts: { host?: string } = {}): Promise<SmtpCapture> {
  const host = opts.host ?? "127.0.0.1";
  const messages: CapturedMessage[] = [];
  const taken = new Set<CapturedMessage>();
  const waiters = new Set<() => void>();

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["AUTH", "STARTTLS"],
    logger: false,
    size: 10 * 1024 * 1024,
    // stop() waits this long for clients that keep their connection (a pooled mailer not closed).
    closeTimeout: 2000,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", callback);
      stream.on("end", () => {
        const raw = Buffer.concat(chunks).toString("latin1"); // bytes kept as-is, decoded per part below
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : "";
        const to = session.envelope.rcptTo.map((r) => r.address);
        try {
          messages.push(parseMessage(raw, from, to));
        } catch (error) {
          callback(error as Error);
          return;
        }
        for (const wake of waiters) wake();
        callback(null);
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  const address = server.server.address();
  const port = typeof address === "object" && address ? address.port : 0;

  const find = (to: string) => {
    const wanted = to.trim().toLowerCase();
    return messages.find((m) => !taken.has(m) && m.to.some((r) => r.toLowerCase() === wanted));
  };

  return {
    host,
    port,
    url: `smtp://${host.includes(":") ? `[${host}]` : host}:${port}`,
    messages,
    waitForMessage(to, timeoutMs = 10_000) {
      return new Promise<CapturedMessage>((resolve, reject) => {
        const check = () => {
          const message = find(to);
          if (!message) return false;
          taken.add(message);
          waiters.delete(check);
          clearTimeout(timer);
          resolve(message);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          const seen = messages.map((m) => m.to.join(",")).join("; ") || "none";
          reject(new Error(`no mail to ${to} within ${timeoutMs} ms (received: ${seen})`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type Part = { headers: Map<string, string>; body: string };

/** Splits a message or MIME part at the first empty line; header lines are unfolded. */
function splitPart(raw: string): Part {
  const match = /\r?\n\r?\n/.exec(raw);
  const head = match ? raw.slice(0, match.index) : raw;
  const body = match ? raw.slice(match.index + match[0].length) : "";
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return { headers, body };
}

function parseMessage(raw: string, from: string, to: string[]): CapturedMessage {
  const root = splitPart(raw);
  const found: { text?: string; html?: string } = {};
  collectTextParts(root, found);
  const headers = new Map([...root.headers].map(([k, v]) => [k, decodeWords(v)]));
  const message: CapturedMessage = {
    from,
    to,
    subject: headers.get("subject") ?? "",
    text: found.text ?? "",
    headers,
    raw,
  };
  if (found.html !== undefined) message.html = found.html;
  return message;
}

function collectTextParts(part: Part, found: { text?: string; html?: string }, depth = 0) {
  const { type, params } = contentType(part.headers.get("content-type"));
  if (type.startsWith("multipart/") && params.boundary && depth < 10) {
    const delimiter = `--${params.boundary}`;
    const sections = part.body.split(new RegExp(`(?:^|\\r?\\n)${escapeRegExp(delimiter)}`));
    // sections[0] is the preamble; a section starting with "--" is the closing delimiter.
    for (const section of sections.slice(1)) {
      if (section.startsWith("--")) break;
      collectTextParts(splitPart(section.replace(/^[ \t]*\r?\n/, "")), found, depth + 1);
    }
    return;
  }
  const disposition = part.headers.get("content-disposition") ?? "";
  if (/^\s*attachment/i.test(disposition)) return;
  // A single-part message ends with the CRLF that SMTP's end of data needs; in a multipart one
  // the CRLF before a delimiter belongs to the delimiter (taken off by the split above).
  const body = depth === 0 ? part.body.replace(/\r?\n$/, "") : part.body;
  if (type === "text/plain" && found.text === undefined) found.text = decodeBody({ ...part, body }, params.charset);
  if (type === "text/html" && found.html === undefined) found.html = decodeBody({ ...part, body }, params.charset);
}

function contentType(value: string | undefined): { type: string; params: Record<string, string> } {
  const [type = "text/plain", ...rest] = (value ?? "text/plain").split(";");
  const params: Record<string, string> = {};
  for (const param of rest) {
    const eq = param.indexOf("=");
    if (eq > 0)
      params[param.slice(0, eq).trim().toLowerCase()] = param
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, "$1");
  }
  return { type: type.trim().toLowerCase(), params };
}

/** The body of a leaf part as text: transfer encoding undone, then decoded with its charset. */
function decodeBody(part: Part, charset = "utf-8"): string {
  const encoding = (part.headers.get("content-transfer-encoding") ?? "7bit").trim().toLowerCase();
  const body = part.body;
  let bytes: Buffer;
  if (encoding === "base64") bytes = Buffer.from(body.replace(/\s+/g, ""), "base64");
  else if (encoding === "quoted-printable") bytes = decodeQuotedPrintable(body);
  else bytes = Buffer.from(body, "latin1");
  return decodeCharset(bytes, charset).replace(/\r\n/g, "\n");
}

function decodeQuotedPrintable(text: string): Buffer {
  const unfolded = text.replace(/[ \t]+(?=\r?\n)/g, "").replace(/=\r?\n/g, "");
  const bytes: number[] = [];
  for (let i = 0; i < unfolded.length; i++) {
    const hex = unfolded.slice(i + 1, i + 3);
    if (unfolded[i] === "=" && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(unfolded.charCodeAt(i) & 0xff);
    }
  }
  return Buffer.from(bytes);
}

function decodeCharset(bytes: Buffer, charset: string): string {
  try {
    return new TextDecoder(charset).decode(bytes);
  } catch {
    return bytes.toString("utf8");
  }
}

/** RFC 2047 encoded words (=?charset?B|Q?...?=), as nodemailer writes non-ASCII headers. */
function decodeWords(value: string): string {
  return value
    .replace(/(=\?[^?]+\?[BbQq]\?[^?]*\?=)\s+(?==\?)/g, "$1") // whitespace between encoded words is dropped
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_word, charset: string, kind: string, data: string) => {
      const bytes =
        kind.toUpperCase() === "B" ? Buffer.from(data, "base64") : decodeQuotedPrintable(data.replace(/_/g, " "));
      return decodeCharset(bytes, charset.replace(/\*.*$/, ""));
    });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
