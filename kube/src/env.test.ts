import { describe, expect, it } from "vitest";
import { envNumber } from "./env.ts";

describe("envNumber", () => {
  it("reads numbers and falls back when unset", () => {
    expect(envNumber({ X: "250" }, "X", 1)).toBe(250);
    expect(envNumber({}, "X", 7)).toBe(7);
  });
  it("refuses what is not a number in range, naming the variable", () => {
    expect(() => envNumber({ X: "5s" }, "X", 1)).toThrow('X must be a number >= 0, got "5s"');
    expect(() => envNumber({ X: "0" }, "X", 1, 1)).toThrow("X must be a number >= 1");
  });
});
