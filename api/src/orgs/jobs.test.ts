import { describe, expect, it } from "vitest";
import { deletionNoticeKey, deletionNoticesDue } from "./jobs.ts";

const DAY = 24 * 3_600_000;
const asked = Date.parse("2026-01-01T00:00:00Z");

describe("deletionNoticesDue", () => {
  const grace30 = asked + 30 * DAY;
  it.each([
    ["at the request", asked, ["start"]],
    ["a week before is not yet reached", grace30 - 7 * DAY - 1, ["start"]],
    ["7 days before", grace30 - 7 * DAY, ["start", "7d"]],
    ["between the reminders", grace30 - 2 * DAY, ["start", "7d"]],
    ["1 day before: only the nearer reminder", grace30 - DAY, ["start", "1d"]],
    ["an hour before", grace30 - 3_600_000, ["start", "1d"]],
    ["at the deadline: nothing (the operator deletes it)", grace30, []],
  ])("30 days of grace, %s", (_, now, due) => {
    expect(deletionNoticesDue(asked, grace30, now)).toEqual(due);
  });

  it("sends no reminder whose moment had passed when the deletion was asked for (short grace)", () => {
    const grace3 = asked + 3 * DAY;
    expect(deletionNoticesDue(asked, grace3, asked)).toEqual(["start"]);
    expect(deletionNoticesDue(asked, grace3, grace3 - DAY)).toEqual(["start", "1d"]);
    const grace45s = asked + 45_000;
    expect(deletionNoticesDue(asked, grace45s, asked + 44_000)).toEqual(["start"]);
  });

  it("keys each notice by organization, deadline and stage: a new deletion gets new notices", () => {
    expect(deletionNoticeKey("acme", "2026-01-31T00:00:00Z", "7d")).toBe("deletion:acme:2026-01-31T00:00:00Z:7d");
  });
});
