import { describe, expect, it } from "vitest";
import { appPassLine } from "./operator.ts";

describe("which line an app's pass waits in", () => {
  const app = (status?: object) => ({ metadata: { name: "web", namespace: "org-acme" }, status });

  it("puts a new app (added, never reported on) in the later line, behind apps under way", () => {
    expect(appPassLine({ type: "added", object: app() })).toBe("later");
    // The API's entitlement may come before the operator's first word: still new.
    expect(appPassLine({ type: "added", object: app({ entitlement: { state: "Trial" } }) })).toBe("later");
  });

  it("puts an app the operator has reported on in the ordinary line, even when first seen", () => {
    // A restarted operator lists every app as added: those running are not new.
    expect(appPassLine({ type: "added", object: app({ phase: "Running" }) })).toBe("now");
    expect(appPassLine({ type: "added", object: app({ phase: "Stopped" }) })).toBe("now");
  });

  it("puts every later change of an app in the ordinary line, reported on or not", () => {
    // An edit, or the API's word, before the operator's first report: acted on now.
    expect(appPassLine({ type: "updated", object: app() })).toBe("now");
    expect(appPassLine({ type: "updated", object: app({ phase: "Deploying" }) })).toBe("now");
    expect(appPassLine({ type: "resync", object: app({ phase: "Running" }) })).toBe("now");
  });
});
