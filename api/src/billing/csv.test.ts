import { describe, expect, it } from "vitest";
import type { InvoiceView } from "./billing.ts";
import { csvCell, formatMinor, invoiceCsv } from "./csv.ts";

describe("csv", () => {
  it.each([
    ["plain", "plain"],
    ['=HYPERLINK("http://x")', '"\'=HYPERLINK(""http://x"")"'],
    ["+1+2", "'+1+2"],
    ["-2+3", "'-2+3"],
    ["@SUM(A1)", "'@SUM(A1)"],
    ["\tlead", "'\tlead"],
    ["a,b", '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ["two\nlines", '"two\nlines"'],
    ["", ""],
  ])("writes text %j as %j", (value, cell) => {
    expect(csvCell(value)).toBe(cell);
  });

  it("writes numbers as numbers (a credit stays numeric) and null as empty", () => {
    expect(csvCell(-500)).toBe("-500");
    expect(csvCell(null)).toBe("");
  });

  it.each([
    [4900, "USD", "49.00"],
    [5, "EUR", "0.05"],
    [-5, "EUR", "-0.05"],
    [-1250, "USD", "-12.50"],
    [4900, "JPY", "4900"],
    [12345, "BHD", "12.345"],
    [0, "USD", "0.00"],
  ])("formats %i %s as %s", (amount, currency, text) => {
    expect(formatMinor(amount, currency)).toBe(text);
  });

  it("writes an invoice with a header row, one row per line and a total row", () => {
    const invoice: InvoiceView = {
      id: "inv1",
      subscription: "s1",
      status: "open",
      currency: "USD",
      total: 2000,
      issuedAt: "2025-04-16T00:00:00.000Z",
      dueAt: "2025-04-23T00:00:00.000Z",
      periodStart: null,
      periodEnd: null,
      paidAt: null,
      paidBy: null,
      lines: [
        { description: "=cmd|' /C calc'!A0", quantity: 1, unitAmount: 3000, amount: 3000 },
        { description: "Unused days, plan basic", quantity: 1, unitAmount: -1000, amount: -1000 },
      ],
    };
    const rows = invoiceCsv(invoice).split("\r\n");
    expect(rows[0]).toMatch(/^invoice,status,issued_at,/);
    expect(rows[1]).toContain(",1,'=cmd|' /C calc'!A0,1,3000,3000,30.00,USD");
    expect(rows[2]).toContain(',2,"Unused days, plan basic",1,-1000,-1000,-10.00,USD');
    expect(rows[3]).toContain(",,Total,,,2000,20.00,USD");
    expect(rows[4]).toBe("");
  });
});
