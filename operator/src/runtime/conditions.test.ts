import { describe, expect, it } from "vitest";
import { isSubset, jsonEqual, setCondition } from "./conditions.ts";

const t0 = new Date("2026-01-01T00:00:00Z");
const t1 = new Date("2026-01-01T01:00:00Z");

describe("setCondition", () => {
  it("keeps lastTransitionTime while the status stays, moves it when the status flips", () => {
    const a = setCondition([], { type: "Ready", status: "False", reason: "Deploying", message: "0 of 1" }, 1, t0);
    const b = setCondition(a, { type: "Ready", status: "False", reason: "Deploying", message: "still 0 of 1" }, 2, t1);
    expect(b[0]?.lastTransitionTime).toBe("2026-01-01T00:00:00Z");
    expect(b[0]?.observedGeneration).toBe(2);
    const c = setCondition(b, { type: "Ready", status: "True", reason: "Running", message: "1 of 1" }, 2, t1);
    expect(c[0]?.lastTransitionTime).toBe("2026-01-01T01:00:00Z");
    expect(c).toHaveLength(1);
  });

  it("leaves other condition types alone", () => {
    const a = setCondition([], { type: "Ready", status: "True", reason: "R", message: "" }, 1, t0);
    const b = setCondition(a, { type: "Degraded", status: "False", reason: "AsExpected", message: "" }, 1, t1);
    expect(b.map((c) => c.type)).toEqual(["Ready", "Degraded"]);
    expect(jsonEqual(setCondition(b, { type: "Ready", status: "True", reason: "R", message: "" }, 1, t1), b)).toBe(
      true,
    );
  });
});

describe("isSubset", () => {
  it("accepts fields the server added (defaults), rejects any changed field", () => {
    const desired = { spec: { replicas: 1, template: { containers: [{ name: "app", image: "x:1" }] } } };
    const live = {
      metadata: { uid: "u" },
      spec: {
        replicas: 1,
        strategy: { type: "RollingUpdate" },
        template: { containers: [{ name: "app", image: "x:1", imagePullPolicy: "IfNotPresent" }] },
      },
    };
    expect(isSubset(desired, live)).toBe(true);
    expect(isSubset({ spec: { replicas: 0 } }, live)).toBe(false);
    expect(isSubset({ spec: { template: { containers: [{ name: "app", image: "x:2" }] } } }, live)).toBe(false);
  });

  it("treats a list as a whole: an extra or missing element is a difference", () => {
    expect(isSubset({ env: [{ name: "A" }] }, { env: [{ name: "A" }, { name: "B" }] })).toBe(false);
    expect(isSubset({ env: [{ name: "A" }, { name: "B" }] }, { env: [{ name: "A" }] })).toBe(false);
  });
});
