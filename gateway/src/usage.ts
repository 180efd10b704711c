// Usage per app, counted on the request path and reported to the API in batches (issue 12):
// requests, 5xx answers and wakes. Counting is a Map lookup and an increment on a per-app
// object that lives as long as the app keeps traffic (no allocation per request); reporting is
// at most one batch per interval (default a minute) to POST /api/usage/batches with the shared
// ATRIUM_USAGE_TOKEN. Each batch has an id `<replica>:<seq>`; a failed send is sent again with
// the same id and the same counts (the API counts an id once), and what arrives meanwhile waits
// for the next batch, so nothing is counted twice or lost while the API is away.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { errorMessage, type Logger } from "@atrium/kube";

type Counts = { org: string; app: string; requests: number; errors5xx: number; wakes: number };

export type UsageBatch = {
  batch: string;
  from: string;
  to: string;
  apps: { org: string; app: string; requests: number; errors5xx: number; wakes: number }[];
};

/** The API's limit of apps per batch (api/src/usage/routes.ts); more are sent as several batches. */
export const MAX_APPS_PER_BATCH = 1000;

export class UsageCounter {
  /** org → app → counts since the last cut. */
  private readonly byOrg = new Map<string, Map<string, Counts>>();

  private entry(org: string, app: string): Counts {
    let apps = this.byOrg.get(org);
    if (!apps) {
      apps = new Map();
      this.byOrg.set(org, apps);
    }
    let c = apps.get(app);
    if (!c) {
      c = { org, app, requests: 0, errors5xx: 0, wakes: 0 };
      apps.set(app, c);
    }
    return c;
  }

  /**
   * One request for an existing app (any status; 5xx counted apart too). No status: its client
   * left before any answer (a load generator stopping, a closed tab), which is no 5xx answer.
   */
  request(org: string, app: string, status: number | undefined): void {
    const c = this.entry(org, app);
    c.requests++;
    if (status !== undefined && status >= 500) c.errors5xx++;
  }

  wake(org: string, app: string): void {
    this.entry(org, app).wakes++;
  }

  /**
   * Takes the counts so far (apps with any) and starts again from zero. Apps without counts
   * since the previous cut are forgotten, so deleted apps do not stay in the map.
   */
  cut(): UsageBatch["apps"] {
    const out: UsageBatch["apps"] = [];
    for (const [org, apps] of this.byOrg) {
      for (const [name, c] of apps) {
        if (!c.requests && !c.wakes) {
          apps.delete(name);
          continue;
        }
        out.push({ org, app: name, requests: c.requests, errors5xx: c.errors5xx, wakes: c.wakes });
        c.requests = 0;
        c.errors5xx = 0;
        c.wakes = 0;
      }
      if (apps.size === 0) this.byOrg.delete(org);
    }
    return out;
  }
}

export type UsageReporterOptions = {
  /** The API's base URL (the gateway's ATRIUM_GATEWAY_AUTH_URL). */
  apiUrl: string;
  token: string;
  intervalMs: number;
  log: Logger;
  /** Unique per process: a restarted gateway must not reuse its predecessor's ids. */
  replica?: string;
  fetch?: typeof fetch;
  now?: () => number;
  timeoutMs?: number;
};

/** Answers that no retry can change: the batch is dropped (and said so) rather than sent forever. */
const PERMANENT = new Set([400, 401, 403, 404, 413, 422]);

export class UsageReporter {
  readonly counter = new UsageCounter();
  readonly replica: string;
  private readonly o: Required<Omit<UsageReporterOptions, "replica">>;
  private seq = 0;
  private from: number;
  /** Cut but not yet accepted by the API: sent again, in order, before anything new. */
  private readonly unsent: UsageBatch[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;
  /** Batches the API took (accepted or already counted), for tests and logs. */
  sent = 0;

  constructor(options: UsageReporterOptions) {
    this.o = {
      fetch: globalThis.fetch,
      now: Date.now,
      timeoutMs: 10_000,
      ...options,
      apiUrl: options.apiUrl.replace(/\/$/, ""),
    };
    // The pod's name, and a random part: a restarted container keeps its hostname.
    this.replica =
      options.replica ??
      `${hostname()
        .replace(/[^A-Za-z0-9._-]/g, "-")
        .slice(0, 80)}.${randomBytes(4).toString("hex")}`;
    this.from = this.o.now();
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.o.intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and sends what was counted, once (a clean shutdown loses nothing). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sending;
    await this.tick();
  }

  /** One reporting round: the oldest unsent batches again, else a new one from the counts. */
  tick(): Promise<void> {
    if (this.sending) return this.sending;
    this.sending = this.round().finally(() => {
      this.sending = undefined;
    });
    return this.sending;
  }

  private async round(): Promise<void> {
    if (this.unsent.length === 0) this.cut();
    while (this.unsent.length) {
      const batch = this.unsent[0] as UsageBatch;
      if (!(await this.send(batch))) return; // the same batch next round
      this.unsent.shift();
    }
  }

  private cut(): void {
    const apps = this.counter.cut();
    const to = this.o.now();
    const from = this.from;
    this.from = to;
    for (let i = 0; i < apps.length; i += MAX_APPS_PER_BATCH)
      this.unsent.push({
        batch: `${this.replica}:${++this.seq}`,
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        apps: apps.slice(i, i + MAX_APPS_PER_BATCH),
      });
  }

  /** True when the API took the batch (or it can never take it: dropped, logged). */
  private async send(batch: UsageBatch): Promise<boolean> {
    try {
      const res = await this.o.fetch(`${this.o.apiUrl}/api/usage/batches`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${this.o.token}` },
        body: JSON.stringify(batch),
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
      const text = await res.text();
      if (res.ok) {
        this.sent++;
        return true;
      }
      if (PERMANENT.has(res.status)) {
        this.o.log(
          "Usage batch refused by the API; dropped",
          { batch: batch.batch, status: res.status, answer: text.slice(0, 300) },
          "error",
        );
        return true;
      }
      this.o.log("Usage batch not taken; sent again next round", { batch: batch.batch, status: res.status }, "warn");
    } catch (error) {
      this.o.log(
        "Usage batch not sent; sent again next round",
        { batch: batch.batch, error: errorMessage(error) },
        "warn",
      );
    }
    return false;
  }
}
