import { Type } from "@sinclair/typebox";
import { describe, expect, it } from "vitest";
import { validate } from "../http/validate.ts";
import { safeReturnTo } from "./auth.ts";
import { accessDecision } from "./forward-auth.ts";
import { Email, memberNameFor } from "./views.ts";

describe("safeReturnTo", () => {
  it.each([
    [undefined, "/"],
    ["/orgs/acme", "/orgs/acme"],
    ["/api/invitations/accept?token=x", "/api/invitations/accept?token=x"],
    ["https://evil.example/", "/"],
    ["//evil.example/", "/"],
    ["/\\evil.example", "/"],
    ["javascript:alert(1)", "/"],
  ])("%s → %s", (input, expected) => expect(safeReturnTo(input)).toBe(expected));

  const apps = { gatewayUrl: "http://127.0.0.1:8081", baseDomain: "atrium.example" };
  it.each([
    ["http://127.0.0.1:8081/apps/acme/wiki/page?x=1", "http://127.0.0.1:8081/apps/acme/wiki/page?x=1"],
    ["https://wiki.acme.atrium.example/page", "https://wiki.acme.atrium.example/page"],
    ["/orgs/acme", "/orgs/acme"],
    ["http://127.0.0.1:8082/apps/acme/wiki/", "/"],
    ["https://127.0.0.1:8081/", "/"],
    ["https://acme.atrium.example/", "/"],
    ["https://x.wiki.acme.atrium.example/", "/"],
    ["https://wiki.acme.atrium.example.evil.example/", "/"],
    ["https://wiki.acme.atrium.example@evil.example/", "/"],
    ["https://user:pw@wiki.acme.atrium.example/", "/"],
    ["https://evilatrium.example/", "/"],
    ["javascript://wiki.acme.atrium.example/%0aalert(1)", "/"],
  ])("with app locations: %s → %s", (input, expected) => expect(safeReturnTo(input, apps)).toBe(expected));
  it("accepts no app URL when no app locations are configured", () =>
    expect(safeReturnTo("https://wiki.acme.atrium.example/")).toBe("/"));
});

describe("accessDecision", () => {
  const member = { role: "member", canAccess: true };
  it.each([
    ["Public", undefined, undefined, true],
    ["Members", undefined, undefined, false],
    ["Members", undefined, member, true],
    ["Members", undefined, { role: "viewer", canAccess: false }, false],
    ["Roles", ["manager"], member, false],
    ["Roles", ["manager", "member"], member, true],
  ] as const)("%s %j for %j → %s", (policy, roles, caller, allowed) => {
    const access = { policy, ...(roles ? { roles: [...roles] } : {}) };
    expect(accessDecision(access, caller).allowed).toBe(allowed);
  });
  it("defaults to Members when the app names no policy", () => {
    expect(accessDecision(undefined, undefined).allowed).toBe(false);
  });
});

describe("memberNameFor", () => {
  it("is readable, valid as a Kubernetes name, and the same for the same address", () => {
    const name = memberNameFor("Jane.Doe+work@Example.com");
    expect(name).toMatch(/^jane-doe-work-[0-9a-f]{8}$/);
    expect(memberNameFor(" jane.doe+work@example.com ")).toBe(name);
    expect(memberNameFor("jane.doe+work@example.org")).not.toBe(name);
    expect(memberNameFor("___@x.example")).toMatch(/^member-[0-9a-f]{8}$/);
  });
});

describe("Email", () => {
  const body = Type.Object({ email: Email });
  it.each(["a@b.example", "first.last+tag@sub.example.org"])("accepts %s", (email) => {
    expect(validate("body", body, { email })).toEqual({ email });
  });
  it.each(["<a@b.com>", "Ann <a@b.com>", "a@b", "a b@c.com", '"a"@b.com', "a@b,c.com"])("refuses %s", (email) => {
    expect(() => validate("body", body, { email })).toThrow(/email/);
  });
});
