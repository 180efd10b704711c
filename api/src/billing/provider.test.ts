import { describe, expect, it } from "vitest";
import { localLedger } from "./provider.ts";

const invoice = (total: number) => ({ id: "i1", org: "acme", total, currency: "USD" });

describe("local ledger", () => {
  it("leaves invoices open for a person to mark paid, unless it pays at once (autopay)", async () => {
    expect(await localLedger({ autopay: false }).collect(invoice(1000))).toBe("open");
    expect(await localLedger({ autopay: true }).collect(invoice(1000))).toBe("paid");
  });

  it("settles an invoice with nothing to pay (a fully credited upgrade) without anyone", async () => {
    expect(await localLedger({ autopay: false }).collect(invoice(0))).toBe("paid");
  });
});
