// The rules of GDPR exports, as pure functions with table tests (domain.test.ts): what a job
// looks like to its caller, when a new one is refused (one at a time, three a UTC day), when an
// archive dies, what a replica does with a job another replica left running, and the manifest.
import { DAY_MS } from "../billing/domain.ts";

export const EXPORT_STATES = ["queued", "running", "succeeded", "failed", "expired"] as const;
export type ExportState = (typeof EXPORT_STATES)[number];
export type ExportKind = "org" | "person";

/** An archive is downloadable this long after it was written; then its chunks are deleted. */
export const EXPORT_TTL_MS = 7 * DAY_MS;
/** Exports a scope (an organization, or a person) may request per UTC day, whatever became of them. */
export const EXPORTS_PER_DAY = 3;
/** The archive is stored in rows of this size (the last one smaller), written in order. */
export const CHUNK_BYTES = 1024 * 1024;
/** Rows read per query from the big tables (keyset pagination: memory stays bounded). */
export const BATCH_ROWS = 1000;
/**
 * Audit entries per page (about 240 KB of CSV, a tenth of it deflated): on SQLite each page is a
 * message from the reader's thread and a turn of the event loop, and on a busy replica every turn
 * waits behind requests, so a million entries go in 500 turns rather than 1,000.
 */
export const AUDIT_BATCH_ROWS = 2000;
/** Usage rows per page: short lines (about 40 bytes), so five times BATCH_ROWS. */
export const USAGE_BATCH_ROWS = 5000;
/**
 * Pieces the API's thread may send an export's worker before it takes them (its first credits,
 * then one for each piece taken): it makes the next files' pieces while the worker writes the big
 * tables, rather than when the worker reaches them and waits for a thread busy with requests. A
 * piece is a page (at most BATCH_ROWS rows), so a few hundred KB.
 */
export const PREFETCH = 8;
/** A running job proves it is alive this often (its `startedAt`, see staleAction)... */
export const HEARTBEAT_MS = 20_000;
/** ...and one not heard from this long was left by a replica that stopped or crashed. */
export const STALE_MS = 2 * 60_000;
/** The `error` a job restarted after a replica stopped carries, so a second loss fails it. */
export const RESTARTED = "Restarted: the replica writing it stopped";
/** Bumped when a file's shape changes, so readers of archives can tell. */
export const ARCHIVE_SCHEMA_VERSION = 1;

export type JobRow = {
  id: string;
  kind: string;
  org: string | null;
  requestedBy: string;
  state: string;
  step: string | null;
  done: number;
  total: number;
  error: string | null;
  sizeBytes: number | null;
  sha256: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  expiresAt: Date | null;
};

export type ExportJobView = {
  id: string;
  kind: ExportKind;
  org: string | null;
  state: ExportState;
  progress: { step: string | null; done: number; total: number };
  error: string | null;
  sizeBytes: number | null;
  sha256: string | null;
  createdAt: string;
  finishedAt: string | null;
  expiresAt: string | null;
  downloadUrl: string | null;
};

/** The state a caller sees: a succeeded archive past its expiry is expired even before the sweep ran. */
export function effectiveState(job: Pick<JobRow, "state" | "expiresAt">, now: number): ExportState {
  if (job.state === "succeeded" && job.expiresAt && job.expiresAt.getTime() <= now) return "expired";
  return job.state as ExportState;
}

/** Where a job lives in the API: /api/orgs/<org>/exports/<id> or /api/me/exports/<id>. */
export const jobPath = (job: Pick<JobRow, "id" | "org" | "kind">) =>
  job.kind === "org" && job.org
    ? `/api/orgs/${encodeURIComponent(job.org)}/exports/${job.id}`
    : `/api/me/exports/${job.id}`;

export function jobView(job: JobRow, now: number): ExportJobView {
  const state = effectiveState(job, now);
  return {
    id: job.id,
    kind: job.kind as ExportKind,
    org: job.org,
    state,
    progress: { step: job.step, done: job.done, total: job.total },
    error: job.error && state !== "queued" && state !== "running" ? job.error : null,
    sizeBytes: job.sizeBytes,
    sha256: job.sha256,
    createdAt: job.createdAt.toISOString(),
    finishedAt: job.finishedAt?.toISOString() ?? null,
    expiresAt: job.expiresAt?.toISOString() ?? null,
    // A path that needs the caller's session, never a bearer URL.
    downloadUrl: state === "succeeded" ? `${jobPath(job)}/download` : null,
  };
}

export const utcDayStart = (now: number) => Math.floor(now / DAY_MS) * DAY_MS;

export type Refusal = { status: 409 | 429; message: string; retryAfterS?: number };

/**
 * Why a new export of a scope is refused, given the scope's jobs that are unfinished or were
 * requested today (UTC): one queued or running at a time (409), EXPORTS_PER_DAY a day (429,
 * until the next UTC midnight).
 */
export function refusal(
  jobs: readonly Pick<JobRow, "state" | "createdAt">[],
  now: number,
  scope: string,
): Refusal | undefined {
  if (jobs.some((j) => j.state === "queued" || j.state === "running"))
    return { status: 409, message: `An export of ${scope} is already under way; wait for it to finish` };
  const dayStart = utcDayStart(now);
  const today = jobs.filter((j) => j.createdAt.getTime() >= dayStart).length;
  if (today >= EXPORTS_PER_DAY)
    return {
      status: 429,
      message: `${scope} may request ${EXPORTS_PER_DAY} exports a day (UTC); the next one from midnight UTC`,
      retryAfterS: Math.max(1, Math.ceil((dayStart + DAY_MS - now) / 1000)),
    };
  return undefined;
}

/**
 * What to do with a running job: nothing while its writer proves alive (or it is ours); a job
 * whose writer went silent is restarted once from the start (the archive cannot be continued:
 * its ZIP and hash state died with the replica), and fails the second time.
 */
export function staleAction(
  job: Pick<JobRow, "state" | "startedAt" | "error">,
  now: number,
  ours: boolean,
): "none" | "requeue" | "fail" {
  if (job.state !== "running" || ours) return "none";
  if (job.startedAt && now - job.startedAt.getTime() < STALE_MS) return "none";
  return job.error === RESTARTED ? "fail" : "requeue";
}

export type ManifestFile = { name: string; records: number; bytes: number; sha256: string };

export type Manifest = {
  schemaVersion: number;
  kind: ExportKind;
  /** The organization's name, or the person's email. */
  subject: string;
  generatedAt: string;
  counts: Record<string, number>;
  files: ManifestFile[];
  notes: string[];
};

export function manifest(input: {
  kind: ExportKind;
  subject: string;
  generatedAt: number;
  files: readonly ManifestFile[];
}): Manifest {
  return {
    schemaVersion: ARCHIVE_SCHEMA_VERSION,
    kind: input.kind,
    subject: input.subject,
    generatedAt: new Date(input.generatedAt).toISOString(),
    counts: Object.fromEntries(input.files.map((f) => [f.name.replace(/\.(json|csv)$/, ""), f.records])),
    files: [...input.files],
    notes: [
      "Secret settings of apps appear only as set or not set; their values are never read.",
      "API keys appear as metadata only: never their secrets or hashes.",
      "CSV cells starting with = + - @ carry a leading apostrophe, so spreadsheets do not run them as formulas.",
    ],
  };
}

/** A JSON array written a record a line, so it streams: `[`, records joined by `,`, `]`. */
export function jsonArrayPiece(records: readonly unknown[], first: boolean): string {
  if (records.length === 0) return "";
  const body = records.map((r) => JSON.stringify(r)).join(",\n");
  return first ? body : `,\n${body}`;
}
