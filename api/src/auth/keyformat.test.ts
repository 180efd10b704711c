import { describe, expect, it } from "vitest";
import { generateKey, hashKey, parseKey, parsePeppers } from "./keyformat.ts";

describe("API key format", () => {
  it("makes keys scanners can recognise: prefix, id, 160-bit secret, checksum", () => {
    const std = generateKey("STANDARD");
    const ai = generateKey("AI_AGENT");
    expect(std.secret).toMatch(/^atr_sk_[a-z2-7]{12}_[a-z2-7]{38}$/);
    expect(ai.secret).toMatch(/^atr_ai_[a-z2-7]{12}_[a-z2-7]{38}$/);
    expect(std.display).toBe(`atr_sk_${std.id}`);
    expect(parseKey(std.secret)).toEqual({ type: "STANDARD", id: std.id });
    expect(parseKey(ai.secret)).toEqual({ type: "AI_AGENT", id: ai.id });
  });

  it("rejects a key with one character changed (checksum)", () => {
    const { secret } = generateKey("STANDARD");
    const i = 30;
    const changed = secret.slice(0, i) + (secret[i] === "a" ? "b" : "a") + secret.slice(i + 1);
    expect(parseKey(changed)).toBeUndefined();
    expect(parseKey(`${secret}x`)).toBeUndefined();
    expect(parseKey("atr_sk_short")).toBeUndefined();
  });

  it("keys never repeat", () => {
    const ids = new Set(Array.from({ length: 500 }, () => generateKey("STANDARD").id));
    expect(ids.size).toBe(500);
  });

  it("hashes with the pepper of the stored version", () => {
    const peppers = parsePeppers("1:first-pepper-0123456789,2:second-pepper-0123456789");
    expect(peppers.current).toBe(2);
    const { secret } = generateKey("STANDARD");
    expect(hashKey(peppers, 1, secret)).not.toBe(hashKey(peppers, 2, secret));
    expect(hashKey(peppers, 1, secret)).toMatch(/^[0-9a-f]{64}$/);
    expect(() => hashKey(peppers, 3, secret)).toThrow(/version 3/);
  });

  it("refuses short or malformed peppers", () => {
    expect(() => parsePeppers("1:short")).toThrow(/ATRIUM_KEY_PEPPERS/);
    expect(() => parsePeppers("x:aaaaaaaaaaaaaaaaaaaa")).toThrow(/ATRIUM_KEY_PEPPERS/);
    expect(() => parsePeppers("")).toThrow(/no pepper/);
  });
});
