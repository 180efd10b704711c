// Key-based page cursors, for every list that pages (the marketplace's search, the apps list):
// a cursor is the sort it belongs to and the sort key of the page's last item, opaque to
// clients (base64url JSON). Paging on the key rather than an offset means items added or
// removed between pages neither repeat nor skip any; a cursor of another sort, or one this API
// did not make, is refused (the routes answer 400 on /query/cursor).

export type Key = ReadonlyArray<string | number>;
/** The type of each element of a sort's key, to check cursors a client sends back. */
export type KeyShape = ReadonlyArray<"string" | "number">;

/** Lexicographic order of sort keys; strings by code unit, so the order never depends on locale. */
export function compareKeys(a: Key, b: Key): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

export class CursorError extends Error {}

const NOT_OURS = "is not a cursor this API returned";

/** Encoding and checked decoding of the cursors of one list, whose sorts have these key shapes. */
export function keyCursors<S extends string>(shapes: Readonly<Record<S, KeyShape>>) {
  const isSort = (s: unknown): s is S => typeof s === "string" && Object.hasOwn(shapes, s);
  return {
    encode: (sort: S, key: Key): string => Buffer.from(JSON.stringify({ s: sort, k: key })).toString("base64url"),
    /** The key after which the next page starts; throws CursorError for a cursor it cannot use. */
    decode(cursor: string, sort: S): Key {
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
      } catch {
        throw new CursorError(NOT_OURS);
      }
      const { s, k } = (parsed ?? {}) as { s?: unknown; k?: unknown };
      if (!isSort(s) || !Array.isArray(k)) throw new CursorError(NOT_OURS);
      if (s !== sort) throw new CursorError(`belongs to sort=${s}, not sort=${sort}: start again without a cursor`);
      const shape = shapes[sort];
      if (
        k.length !== shape.length ||
        k.some((v, i) => typeof v !== shape[i] || (typeof v === "number" && !Number.isFinite(v)))
      )
        throw new CursorError(NOT_OURS);
      return k as Key;
    },
  };
}

/** Binary search over items in key order: the position of the first whose key sorts after `after`. */
export function firstAfter<T>(sorted: ArrayLike<T>, keyOf: (item: T) => Key, after: Key): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(keyOf(sorted[mid] as T), after) > 0) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
