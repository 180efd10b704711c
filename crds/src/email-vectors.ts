// Addresses as people type them, and what each must become: the canonical address, or null
// when it is refused. One table for the TypeScript rule (crds/src/email.test.ts) and for the
// apiserver's (test/integration/operator-hardening.test.ts), so the two cannot drift.
export const EMAIL_VECTORS: readonly (readonly [raw: string, canonical: string | null])[] = [
  ["ann@example.com", "ann@example.com"],
  ["first.last+tag@sub.example.org", "first.last+tag@sub.example.org"],
  ["o'brien@example.ie", "o'brien@example.ie"],
  ["x_y-z@a-b.example.co.uk", "x_y-z@a-b.example.co.uk"],
  ["Bob@Example.com", "bob@example.com"],
  ["bob@example.com ", "bob@example.com"],
  ["  BOB@EXAMPLE.COM\t", "bob@example.com"],
  ["Ann <ann@example.com>", null],
  ["<ann@example.com>", null],
  ['"ann"@example.com', null],
  ["ann smith@example.com", null],
  ["ann@example", null],
  ["ann@@example.com", null],
  ["ann@example..com", null],
  ["ann..b@example.com", null],
  [".ann@example.com", null],
  ["ann@-example.com", null],
  ["ann@example.com,bob@example.com", null],
  ["ann@[192.0.2.1]", null],
  ["ann@exämple.com", null],
  ["ann-at-example.com", null],
  ["", null],
  [`${"a".repeat(250)}@x.io`, null],
];
