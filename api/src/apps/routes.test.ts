import { describe, expect, it } from "vitest";
import { bodyPointer } from "./routes.ts";

describe("bodyPointer: where the apiserver's refusal of an AppInstance field is in the install body", () => {
  it("puts spec's fields at the top and the object's name at name", () => {
    expect(bodyPointer("spec.idle.timeout")).toBe("/body/idle/timeout");
    expect(bodyPointer("spec.access.roles")).toBe("/body/access/roles");
    expect(bodyPointer("metadata.name")).toBe("/body/name");
  });
});
