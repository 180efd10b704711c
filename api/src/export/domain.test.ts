import { describe, expect, it } from "vitest";
import {
  EXPORTS_PER_DAY,
  effectiveState,
  type JobRow,
  jobView,
  jsonArrayPiece,
  manifest,
  RESTARTED,
  refusal,
  STALE_MS,
  staleAction,
  utcDayStart,
} from "./domain.ts";

const T = Date.parse("2026-12-01T15:00:00Z");
const at = (iso: string) => new Date(iso);

const job = (over: Partial<JobRow> = {}): JobRow => ({
  id: "j1",
  kind: "org",
  org: "acme",
  requestedBy: "u1",
  state: "succeeded",
  step: "done",
  done: 10,
  total: 10,
  error: null,
  sizeBytes: 100,
  sha256: "ab",
  createdAt: at("2026-12-01T14:00:00Z"),
  startedAt: at("2026-12-01T14:00:01Z"),
  finishedAt: at("2026-12-01T14:00:05Z"),
  expiresAt: at("2026-12-08T14:00:05Z"),
  ...over,
});

describe("refusal: one at a time, three a UTC day", () => {
  const cases: [string, { state: string; createdAt: string }[], number | undefined][] = [
    ["nothing yet", [], undefined],
    ["one queued", [{ state: "queued", createdAt: "2026-11-30T10:00:00Z" }], 409],
    ["one running", [{ state: "running", createdAt: "2026-12-01T01:00:00Z" }], 409],
    [
      "two today, done",
      [
        { state: "succeeded", createdAt: "2026-12-01T01:00:00Z" },
        { state: "failed", createdAt: "2026-12-01T02:00:00Z" },
      ],
      undefined,
    ],
    [
      "three today, whatever became of them",
      [
        { state: "succeeded", createdAt: "2026-12-01T00:00:00Z" },
        { state: "failed", createdAt: "2026-12-01T02:00:00Z" },
        { state: "expired", createdAt: "2026-12-01T14:59:59Z" },
      ],
      429,
    ],
    [
      "three, one of them yesterday (UTC)",
      [
        { state: "succeeded", createdAt: "2026-11-30T23:59:59Z" },
        { state: "succeeded", createdAt: "2026-12-01T00:00:00Z" },
        { state: "succeeded", createdAt: "2026-12-01T12:00:00Z" },
      ],
      undefined,
    ],
  ];
  for (const [name, jobs, status] of cases)
    it(name, () => {
      const r = refusal(
        jobs.map((j) => ({ state: j.state, createdAt: at(j.createdAt) })),
        T,
        'organization "acme"',
      );
      expect(r?.status).toBe(status);
    });

  it("says when the next one is possible: midnight UTC", () => {
    const three = Array.from({ length: EXPORTS_PER_DAY }, () => ({
      state: "succeeded",
      createdAt: at("2026-12-01T01:00:00Z"),
    }));
    const r = refusal(three, T, "your account");
    expect(r).toEqual({
      status: 429,
      message: "your account may request 3 exports a day (UTC); the next one from midnight UTC",
      retryAfterS: 9 * 3600,
    });
    expect(refusal([{ state: "running", createdAt: at("2026-12-01T01:00:00Z") }], T, 'organization "acme"')).toEqual({
      status: 409,
      message: 'An export of organization "acme" is already under way; wait for it to finish',
    });
  });

  it("counts days from midnight UTC", () => {
    expect(new Date(utcDayStart(T)).toISOString()).toBe("2026-12-01T00:00:00.000Z");
    expect(utcDayStart(Date.parse("2026-12-01T00:00:00Z"))).toBe(Date.parse("2026-12-01T00:00:00Z"));
  });
});

describe("expiry", () => {
  it("a succeeded archive is expired from its expiry on, even before the sweep", () => {
    const j = job();
    expect(effectiveState(j, Date.parse("2026-12-08T14:00:04Z"))).toBe("succeeded");
    expect(effectiveState(j, Date.parse("2026-12-08T14:00:05Z"))).toBe("expired");
    expect(effectiveState(job({ state: "failed", expiresAt: null }), T + 30 * 86_400_000)).toBe("failed");
  });

  it("offers a download path (never a bearer URL) only while downloadable", () => {
    expect(jobView(job(), T).downloadUrl).toBe("/api/orgs/acme/exports/j1/download");
    expect(jobView(job({ kind: "person", org: null }), T).downloadUrl).toBe("/api/me/exports/j1/download");
    expect(jobView(job(), Date.parse("2026-12-09T00:00:00Z"))).toMatchObject({ state: "expired", downloadUrl: null });
    expect(jobView(job({ state: "running", finishedAt: null, expiresAt: null }), T).downloadUrl).toBeNull();
  });

  it("hides the restart note while a job is queued or running again", () => {
    expect(jobView(job({ state: "queued", error: RESTARTED }), T).error).toBeNull();
    expect(jobView(job({ state: "failed", error: "boom" }), T).error).toBe("boom");
  });
});

describe("staleAction: jobs a stopped replica left running", () => {
  const running = (startedAgoMs: number, error: string | null = null) =>
    job({ state: "running", startedAt: new Date(T - startedAgoMs), error });
  it.each([
    ["alive (heard from recently)", running(STALE_MS - 1), false, "none"],
    ["ours", running(STALE_MS * 10), true, "none"],
    ["silent: started again", running(STALE_MS), false, "requeue"],
    ["silent a second time: failed", running(STALE_MS, RESTARTED), false, "fail"],
    ["not running", job(), false, "none"],
  ] as const)("%s", (_name, j, ours, action) => {
    expect(staleAction(j, T, ours)).toBe(action);
  });
});

describe("manifest", () => {
  it("counts each file's records under its name", () => {
    const m = manifest({
      kind: "org",
      subject: "acme",
      generatedAt: T,
      files: [
        { name: "members.csv", records: 3, bytes: 10, sha256: "a" },
        { name: "apps.json", records: 1, bytes: 5, sha256: "b" },
      ],
    });
    expect(m).toMatchObject({
      schemaVersion: 1,
      kind: "org",
      subject: "acme",
      generatedAt: "2026-12-01T15:00:00.000Z",
      counts: { members: 3, apps: 1 },
    });
    expect(m.files.map((f) => f.name)).toEqual(["members.csv", "apps.json"]);
  });

  it("writes a JSON array piece by piece", () => {
    const text = `[\n${jsonArrayPiece([{ a: 1 }, { a: 2 }], true)}${jsonArrayPiece([], false)}${jsonArrayPiece([{ a: 3 }], false)}\n]\n`;
    expect(JSON.parse(text)).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
  });
});
