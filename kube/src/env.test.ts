import { describe, expect, it } from "vitest";
import { envNumber, envUrl } from "./env.ts";

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

describe("envUrl", () => {
  it("reads http(s) URLs and gives undefined when unset", () => {
    expect(envUrl({ U: "https://api.example:8443/api/auth/login" }, "U")?.href).toBe(
      "https://api.example:8443/api/auth/login",
    );
    expect(envUrl({ U: "" }, "U")).toBeUndefined();
    expect(envUrl({}, "U")).toBeUndefined();
  });
  it("refuses what is not an http(s) URL, naming the variable", () => {
    expect(() => envUrl({ U: "api.example/login" }, "U")).toThrow('U: "api.example/login" is not an http(s) URL');
    expect(() => envUrl({ U: "ftp://api.example/" }, "U")).toThrow("U:");
  });
});
