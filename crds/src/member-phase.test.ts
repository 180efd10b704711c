import { describe, expect, it } from "vitest";
import { type Member, memberPhase } from "./kinds/member.ts";

const now = new Date("2026-06-01T00:00:00Z");
const member = (spec: Partial<Member["spec"]>, status: Member["status"] = {}): Member => ({
  apiVersion: "atrium.dev/v1alpha1",
  kind: "Member",
  metadata: { name: "m" },
  spec: { email: "m@example.com", role: "member", ...spec },
  status,
});

describe("memberPhase", () => {
  it.each([
    ["a pending invitation", member({}, { invitationExpiresAt: "2026-06-05T00:00:00Z" }), "Invited"],
    ["an invitation past its expiry", member({}, { invitationExpiresAt: "2026-05-01T00:00:00Z" }), "Expired"],
    ["a member who joined", member({}, { joinedAt: "2026-05-01T00:00:00Z" }), "Active"],
    [
      "a deactivated member, even if joined",
      member({ active: false }, { joinedAt: "2026-05-01T00:00:00Z" }),
      "Deactivated",
    ],
    ["a member declared without an invitation", member({}), "Invited"],
  ])("%s", (_name, m, phase) => expect(memberPhase(m, now)).toBe(phase));
});
