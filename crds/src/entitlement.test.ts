import { describe, expect, it } from "vitest";
import { decideEntitlement } from "./entitlement.ts";
import type { Entitlement } from "./kinds/appinstance.ts";

const paid = { spec: { pricing: { plans: [{ id: "monthly", interval: "monthly", amount: 900, currency: "USD" }] } } };
const free = { spec: {} };
const NOW = Date.parse("2026-12-01T12:00:00Z");
const app = (entitlement?: Entitlement) => ({ status: entitlement ? { entitlement } : {} });

describe("decideEntitlement", () => {
  it.each([
    ["a free template runs whatever was published", free, undefined, true, "Free"],
    ["a paid template waits for the API's decision", paid, undefined, false, "AwaitingSubscription"],
    [
      "a trial runs until its end",
      paid,
      { allowed: true, reason: "Trialing", until: "2026-12-01T12:00:01Z" },
      true,
      "Trialing",
    ],
    [
      "a trial past its end has ended, even before the API says so",
      paid,
      { allowed: true, reason: "Trialing", until: "2026-12-01T12:00:00Z" },
      false,
      "TrialEnded",
    ],
    [
      "a paid period past its end needs payment",
      paid,
      { allowed: true, reason: "Active", until: "2026-11-30T00:00:00Z" },
      false,
      "PaymentRequired",
    ],
    ["a lifetime purchase has no end", paid, { allowed: true, reason: "Lifetime" }, true, "Lifetime"],
    ["a refusal stands", paid, { allowed: false, reason: "Paused", until: "2027-01-01T00:00:00Z" }, false, "Paused"],
  ] as const)("%s", (_name, template, published, allowed, reason) => {
    const d = decideEntitlement(app(published as Entitlement | undefined), template as never, NOW);
    expect(d.allowed).toBe(allowed);
    expect(d.reason).toBe(reason);
  });

  it("a missing template runs nothing (fail closed)", () => {
    expect(decideEntitlement(app({ allowed: true, reason: "Lifetime" }), undefined, NOW)).toMatchObject({
      allowed: false,
      reason: "TemplateMissing",
    });
  });
});
