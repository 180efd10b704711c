import { describe, expect, it } from "vitest";
import { batchSums } from "./usage.ts";

describe("batchSums", () => {
  it("gives one entry per app with its three counts, an app listed twice added up, idle apps left out", () => {
    const apps = [
      { org: "o", app: "a", requests: 3, errors5xx: 1, wakes: 0 },
      { org: "o", app: "b", requests: 0, errors5xx: 0, wakes: 0 },
      { org: "p", app: "a", requests: 0, errors5xx: 0, wakes: 1 },
      { org: "o", app: "a", requests: 4, errors5xx: 0, wakes: 2 },
    ];
    expect(batchSums({ apps })).toEqual([
      { org: "o", app: "a", requests: 7, errors5xx: 1, wakes: 2 },
      { org: "p", app: "a", requests: 0, errors5xx: 0, wakes: 1 },
    ]);
  });
});
