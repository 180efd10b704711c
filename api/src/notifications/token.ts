// The unsubscribe token: a signed statement "user U no longer wants event E by email (in org O)",
// so a link in an email works without a login and cannot be altered to unsubscribe someone else.
// The key is derived from the API's key pepper (ATRIUM_KEY_PEPPERS, the same on every replica:
// a token made by one replica is honoured by all), labelled so a pepper's HMAC of an API key and
// of a token can never be confused; the pepper version travels in the token, so rotating the
// peppers keeps old links working while the old pepper stays configured. No pepper: no token
// is made and none is accepted (fail closed).
import { createHmac, timingSafeEqual } from "node:crypto";
import type { Peppers } from "../auth/keyformat.ts";
import { isNoticeEvent, type NoticeEvent } from "./preferences.ts";

export type Unsubscribe = { userId: string; event: NoticeEvent; org: string | null };

const LABEL = "atrium:notifications:unsubscribe:v1";

function keyFor(peppers: Peppers, version: number): Buffer | undefined {
  const pepper = peppers.byVersion.get(version);
  return pepper ? createHmac("sha256", pepper).update(LABEL).digest() : undefined;
}

const mac = (key: Buffer, text: string) => createHmac("sha256", key).update(text).digest();

/** `<version>.<payload base64url>.<HMAC base64url>`; throws without a current pepper. */
export function signUnsubscribe(peppers: Peppers, statement: Unsubscribe): string {
  const key = keyFor(peppers, peppers.current);
  if (!key) throw new Error("no current key pepper: unsubscribe links cannot be signed");
  const payload = Buffer.from(
    JSON.stringify({ u: statement.userId, e: statement.event, o: statement.org ?? "" }),
  ).toString("base64url");
  const signed = `${peppers.current}.${payload}`;
  return `${signed}.${mac(key, signed).toString("base64url")}`;
}

/** The statement of a genuine token, or undefined for anything forged, altered or malformed. */
export function verifyUnsubscribe(peppers: Peppers, token: string): Unsubscribe | undefined {
  const m = /^([1-9][0-9]{0,5})\.([A-Za-z0-9_-]{1,400})\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!m) return undefined;
  const [, version, payload, signature] = m as unknown as [string, string, string, string];
  const key = keyFor(peppers, Number(version));
  if (!key) return undefined;
  const expected = mac(key, `${version}.${payload}`);
  const given = Buffer.from(signature, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
    const { u, e, o } = parsed;
    if (typeof u !== "string" || !u || typeof e !== "string" || !isNoticeEvent(e) || typeof o !== "string")
      return undefined;
    return { userId: u, event: e, org: o === "" ? null : o };
  } catch {
    return undefined;
  }
}
