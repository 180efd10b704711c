// CSV lines for the export's worker thread (tables.ts, export-worker.ts): no imports, erasable
// types only, as Node runs the worker's files as they are (billing's csv.ts would bring
// @atrium/crds into the worker). reader.test.ts holds these lines to billing's csvRow, byte for byte.

/** A cell as billing's csvCell writes it: empty for NULL, an apostrophe before a formula, quoted when needed. */
export function csvCell(value: string | null): string {
  if (value === null) return "";
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** A line of cells as billing's csvRow writes it (no CRLF): numbers as JavaScript writes them. */
export function csvLine(cells: readonly (string | number | null)[]): string {
  return cells.map((c) => (typeof c === "number" ? String(c) : csvCell(c))).join(",");
}

/** Anything that makes a cell need quoting or an apostrophe (the first cell, `at`, is never escaped). */
const SUSPECT = /["\r\n]|,[=+\-@\t]/;

/**
 * The CSV line of an audit entry when it is the common, plain kind, or undefined. `prefix` is
 * at,org,actor,actor_type,action,target,result,status,ip as SQLite concatenated them (NULL when a
 * NOT NULL column is). It is the line as is when `at` is Prisma's "…+00:00" (written with Z),
 * there are exactly 8 commas (no cell holds one) and no cell needs quoting or an apostrophe;
 * then only `detail` is escaped here. Anything else is left to SQLite's own expression for the
 * row (AUDIT_LINE_SQL), which is rarer and slower.
 */
export function plainLine(prefix: string | null, detail: string | null): string | undefined {
  if (prefix === null || !prefix.startsWith("+00:00,", 23) || SUSPECT.test(prefix)) return undefined;
  let commas = 0;
  for (let i = prefix.indexOf(","); i !== -1; i = prefix.indexOf(",", i + 1)) commas++;
  if (commas !== 8) return undefined;
  return `${prefix.slice(0, 23)}Z${prefix.slice(29)},${csvCell(detail)}`;
}
