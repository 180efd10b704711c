// Invoices as CSV (RFC 4180: CRLF lines, a header row, fields quoted when they hold a comma,
// quote or line break). Spreadsheets run a cell that starts with = + - @ (or a tab or carriage
// return) as a formula, so text cells starting so get a leading apostrophe (OWASP's advice).
// Numbers Atrium computed itself are written as numbers: a credit of -500 stays numeric.
import { CURRENCY_MINOR_UNITS, isCurrency } from "@atrium/crds";
import type { InvoiceView } from "./billing.ts";

/** Text, a number, nothing, or a decimal Atrium formatted itself (written as is, like a number). */
type Cell = string | number | null | { decimal: string };

const FORMULA_START = /^[=+\-@\t\r]/;

export function csvCell(value: Cell): string {
  if (value === null) return "";
  if (typeof value === "number") return String(value);
  if (typeof value === "object") return value.decimal;
  const text = FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export const csvRow = (cells: readonly Cell[]) => cells.map(csvCell).join(",");

/** 4900 USD → "49.00", 4900 JPY → "4900", -5 EUR → "-0.05": from integers, never through a float. */
export function formatMinor(amount: number, currency: string): string {
  const exponent = isCurrency(currency) ? CURRENCY_MINOR_UNITS[currency] : 2;
  if (exponent === 0) return String(amount);
  const digits = String(Math.abs(amount)).padStart(exponent + 1, "0");
  return `${amount < 0 ? "-" : ""}${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}

export const INVOICE_CSV_HEADER = [
  "invoice",
  "status",
  "issued_at",
  "due_at",
  "paid_at",
  "period_start",
  "period_end",
  "line",
  "description",
  "quantity",
  "unit_amount_minor",
  "amount_minor",
  "amount",
  "currency",
] as const;

/** One row per line, then a total row; amounts in minor units and formatted. */
export function invoiceCsv(invoice: InvoiceView): string {
  const head = [
    invoice.id,
    invoice.status,
    invoice.issuedAt,
    invoice.dueAt,
    invoice.paidAt,
    invoice.periodStart,
    invoice.periodEnd,
  ];
  const rows = invoice.lines.map((l, i) =>
    csvRow([
      ...head,
      i + 1,
      l.description,
      l.quantity,
      l.unitAmount,
      l.amount,
      { decimal: formatMinor(l.amount, invoice.currency) },
      invoice.currency,
    ]),
  );
  const total = csvRow([
    ...head,
    null,
    "Total",
    null,
    null,
    invoice.total,
    { decimal: formatMinor(invoice.total, invoice.currency) },
    invoice.currency,
  ]);
  return `${[csvRow(INVOICE_CSV_HEADER), ...rows, total].join("\r\n")}\r\n`;
}
