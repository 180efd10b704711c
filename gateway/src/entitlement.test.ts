import type { AppInstance, AppTemplate, Entitlement } from "@atrium/crds";
import { describe, expect, it } from "vitest";
import { billingCheck, paymentRequiredBody, refusalMessage, WHO_CAN_SUBSCRIBE } from "./entitlement.ts";

const NOW = Date.parse("2026-12-01T12:00:00Z");
const template = (name: string, paid: boolean) =>
  ({
    metadata: { name },
    spec: paid ? { pricing: { plans: [{ id: "monthly", interval: "monthly", amount: 900, currency: "EUR" }] } } : {},
  }) as unknown as AppTemplate;
const templates = new Map([
  ["wiki", template("wiki", true)],
  ["echo", template("echo", false)],
]);
const app = (tpl: string, entitlement?: Entitlement) =>
  ({ metadata: { name: "docs" }, spec: { template: tpl }, status: entitlement ? { entitlement } : {} }) as AppInstance;
const check = billingCheck(templates);

describe("billingCheck", () => {
  it("lets free apps and allowed paid apps through", () => {
    expect(check(app("echo"), NOW)).toBeUndefined();
    expect(check(app("wiki", { allowed: true, reason: "Active" }), NOW)).toBeUndefined();
    expect(check(app("wiki", { allowed: true, reason: "Trialing", until: "2026-12-01T12:00:01Z" }), NOW)).toBe(
      undefined,
    );
  });

  it("refuses a paid app the API refused, or never decided on, or whose trial ended by the clock", () => {
    expect(check(app("wiki", { allowed: false, reason: "Canceled", message: "Canceled" }), NOW)).toMatchObject({
      allowed: false,
      reason: "Canceled",
    });
    expect(check(app("wiki"), NOW)?.reason).toBe("AwaitingSubscription");
    // The API may be down when the trial ends: the gateway's clock ends it.
    expect(check(app("wiki", { allowed: true, reason: "Trialing", until: "2026-12-01T12:00:00Z" }), NOW)?.reason).toBe(
      "TrialEnded",
    );
  });

  it("leaves an app whose template is missing to the operator's Failed status", () => {
    expect(check(app("gone"), NOW)).toBeUndefined();
  });
});

describe("the 402 answer", () => {
  const refusal = { reason: "TrialEnded" as const, message: "" };
  it("is JSON { error, reason, message } for API clients, saying who can subscribe", () => {
    const body = paymentRequiredBody("docs", "acme", refusal, "application/json");
    expect(body.type).toBe("application/json");
    expect(JSON.parse(body.text)).toEqual({
      error: "payment_required",
      reason: "TrialEnded",
      message: `The free trial of docs has ended. ${WHO_CAN_SUBSCRIBE}`,
    });
    expect(paymentRequiredBody("docs", "acme", refusal, undefined).type).toBe("application/json");
  });

  it("is a page for browsers, with the API's words escaped", () => {
    const body = paymentRequiredBody("docs", "acme", { reason: "PaymentRequired", message: "Pay <now>" }, "text/html");
    expect(body.type).toBe("text/html; charset=utf-8");
    expect(body.text).toContain("<h1>docs is paused</h1>");
    expect(body.text).toContain("Pay &#60;now&#62;");
    expect(body.text).toContain("billing:manage");
    expect(body.text).not.toContain("http-equiv"); // no reload: paying takes a person
  });

  it("links to the organization's billing in the console when the gateway knows where that is", () => {
    const page = paymentRequiredBody("docs", "acme", refusal, "text/html", "https://atrium.example/console/").text;
    expect(page).toContain('<a href="https://atrium.example/console/orgs/acme/billing">');
    const json = JSON.parse(paymentRequiredBody("docs", "acme", refusal, undefined, "https://atrium.example").text);
    expect(json.billingUrl).toBe("https://atrium.example/orgs/acme/billing");
    // Not told: no link at all rather than a guessed one.
    expect(paymentRequiredBody("docs", "acme", refusal, "text/html").text).not.toContain("<a ");
    expect(JSON.parse(paymentRequiredBody("docs", "acme", refusal, undefined).text)).not.toHaveProperty("billingUrl");
  });

  it("says something for every reason, the API's message first", () => {
    expect(refusalMessage("docs", { reason: "Paused", message: "Ask Ann" })).toBe("Ask Ann");
    for (const reason of ["AwaitingSubscription", "Canceled", "Expired", "Paused", "PastDue"] as const)
      expect(refusalMessage("docs", { reason, message: "" })).toContain("docs");
  });
});
