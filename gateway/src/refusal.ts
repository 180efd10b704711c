// The answer to an upgrade (a WebSocket) the gateway refuses. Once the server hands an upgrade
// over, the socket is raw: no Response frames what is written on it, so the refusal is framed
// here, whole, as a client's HTTP parser expects it (RFC 9112): a status line with the status's
// own reason phrase, Content-Type, Content-Length, Date, and Connection: close, since nothing
// may follow it on that connection. Pure but for the date it is given.
import { STATUS_CODES } from "node:http";

export type RefusalBody = { type: string; text: string };

/** A field value the gateway made, kept only if it cannot split the head (no CR, LF or NUL). */
const safeValue = (value: string) => !/[\r\n\0]/.test(value);

/** The whole answer (head and body) for a refused upgrade, to write and then end the socket. */
export function closingAnswer(
  status: number,
  body: RefusalBody,
  headers: Record<string, string> = {},
  now: Date = new Date(),
): Buffer {
  const text = Buffer.from(body.text, "utf8");
  const fields: [string, string][] = [
    ["content-type", body.type],
    ["content-length", String(text.length)],
    ["date", now.toUTCString()],
    ...Object.entries(headers).filter(
      ([name, value]) =>
        !["content-type", "content-length", "date", "connection"].includes(name.toLowerCase()) && safeValue(value),
    ),
    ["connection", "close"],
  ];
  const head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Unknown"}\r\n${fields.map(([n, v]) => `${n}: ${v}\r\n`).join("")}\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), text]);
}

/**
 * The status an app answered an upgrade with, from the first bytes it sent ("HTTP/1.1 101 …");
 * 502 when they are no HTTP answer (what the client got is then not the app's to name).
 */
export function statusOfAnswer(first: Buffer): number {
  const m = /^HTTP\/1\.[01] ([1-5]\d\d)[ \r]/.exec(first.subarray(0, 16).toString("latin1"));
  return m ? Number(m[1]) : 502;
}
