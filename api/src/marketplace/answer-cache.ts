// Whole marketplace answers as bytes, per organization and query, kept while nothing they were
// built from has changed. A page depends on the catalog (the search index: a new object after
// every catalog change), on the installs (the org's counts on the cards, everyone's for the
// popularity order: one counter bumped on every AppInstance change), and, when a card offers
// a trial, on the trials the org used (recentReads' kept read: a new promise after every read
// or forget). The first two are the cache's generation: a change drops every answer at once.
// The third is checked per answer, by identity. Measured in `marketplace-search` (ADR 0012):
// a repeated search no longer walks its matches, encodes a cursor or assembles 10 KB per request.

/** What every kept answer was built from; any change of either drops them all. */
export type Generation = { catalog: object; installs: number };

/** One kept answer: its bytes and the trials read it used (undefined: no card offered a trial). */
export type Answer = { body: Buffer; trials: unknown };

/** The key of an answer: the organization and the validated query, unambiguous. */
export function answerKey(org: string, query: Record<string, unknown>, fields: readonly string[]): string {
  // Length-prefixed text ("-" for an absent field): no two queries share a key, nothing to escape.
  let key = `${org.length}:${org}`;
  for (const f of fields) {
    const v = query[f];
    key += v === undefined || v === null ? "-" : `${String(v).length}:${String(v)}`;
  }
  return key;
}

export class AnswerCache {
  private readonly answers = new Map<string, Answer>();
  private generation: Generation = { catalog: {}, installs: Number.NaN };
  private bytes = 0;
  private readonly maxBytes: number;

  constructor(options: { maxBytes: number }) {
    this.maxBytes = options.maxBytes;
  }

  /** The answer kept for key, if it was built in this generation. */
  get(key: string, now: Generation): Answer | undefined {
    if (!this.current(now)) {
      this.clear(now);
      return undefined;
    }
    return this.answers.get(key);
  }

  /**
   * Keeps an answer built in `builtIn` (read before building it: the build may have waited for
   * the database meanwhile) unless the generation has moved on since.
   */
  set(key: string, answer: Answer, builtIn: Generation, now: Generation): void {
    if (!sameGeneration(builtIn, now)) return;
    if (!this.current(now)) this.clear(now);
    if (answer.body.length > this.maxBytes) return;
    const old = this.answers.get(key);
    if (old) {
      this.bytes -= old.body.length;
      this.answers.delete(key);
    }
    // Oldest first out (the map keeps insertion order) until the new one fits.
    while (this.bytes + answer.body.length > this.maxBytes) {
      const [oldestKey, oldest] = this.answers.entries().next().value as [string, Answer];
      this.answers.delete(oldestKey);
      this.bytes -= oldest.body.length;
    }
    this.answers.set(key, answer);
    this.bytes += answer.body.length;
  }

  /** How many answers and bytes are kept (for tests and the ADR's memory figure). */
  size(): { answers: number; bytes: number } {
    return { answers: this.answers.size, bytes: this.bytes };
  }

  private current(g: Generation): boolean {
    return sameGeneration(this.generation, g);
  }

  private clear(now: Generation): void {
    this.answers.clear();
    this.bytes = 0;
    this.generation = { catalog: now.catalog, installs: now.installs };
  }
}

const sameGeneration = (a: Generation, b: Generation) => a.catalog === b.catalog && a.installs === b.installs;
