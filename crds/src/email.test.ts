import { describe, expect, it } from "vitest";
import { celString, EMAIL_INPUT_PATTERN, isCanonicalEmail, normalizeEmail, parseEmail } from "./email.ts";
import { EMAIL_VECTORS } from "./email-vectors.ts";
import { membersByEmail } from "./kinds/member.ts";

describe("parseEmail", () => {
  it.each(EMAIL_VECTORS)("%j → %j", (raw, canonical) => {
    const parsed = parseEmail(raw);
    expect(parsed.ok ? parsed.email : null).toBe(canonical);
    // What the CRD stores is exactly what parsing yields, and only that.
    expect(isCanonicalEmail(raw)).toBe(raw === canonical);
    if (canonical) expect(isCanonicalEmail(canonical)).toBe(true);
  });

  it("the input pattern (the API's schema) admits exactly what normalizes to an address", () => {
    const input = new RegExp(EMAIL_INPUT_PATTERN);
    for (const [raw, canonical] of EMAIL_VECTORS)
      if (raw.length <= 254) expect(input.test(raw), raw).toBe(canonical !== null);
  });

  it("quotes a pattern for CEL", () => {
    expect(celString(`a'b\\.c`)).toBe(`'a\\'b\\\\.c'`);
  });
});

describe("membersByEmail", () => {
  const member = (name: string, email: string, created: string) => ({
    metadata: { name, creationTimestamp: created },
    spec: { email, role: "member" },
  });

  it("gives an address to its oldest member (then by name); newer ones are duplicates", () => {
    const alice = member("alice", "alice@example.com", "2026-01-01T00:00:00Z");
    const shout = member("alice-2", "ALICE@example.com ", "2026-02-01T00:00:00Z");
    const twinA = member("b-twin", "bob@example.com", "2026-01-05T00:00:00Z");
    const twinB = member("a-twin", "bob@example.com", "2026-01-05T00:00:00Z");
    const { owners, duplicates } = membersByEmail([shout, twinA, alice, twinB]);
    expect(owners.get("alice@example.com")).toBe(alice);
    expect(owners.get("bob@example.com")).toBe(twinB);
    expect([...duplicates].map(([name, owner]) => [name, owner.metadata.name])).toEqual([
      ["b-twin", "a-twin"],
      ["alice-2", "alice"],
    ]);
    expect(normalizeEmail(" X@Y.Z ")).toBe("x@y.z");
  });
});
