// Payments go through one interface. The default is a local ledger: the invoices in Atrium's
// database ARE the books, and a person with billing:manage records a payment by marking an
// invoice paid, unless the install pays at once (ATRIUM_BILLING_AUTOPAY=true, the demo's choice).
// A card processor would implement `collect` by charging and answering "paid" or "open".

export type InvoiceToCollect = { id: string; org: string; total: number; currency: string };

export type PaymentProvider = {
  readonly name: string;
  /** Called once when an invoice is issued: "paid" settles it now, "open" leaves it to be paid. */
  collect(invoice: InvoiceToCollect): Promise<"paid" | "open">;
};

export function localLedger(options: { autopay: boolean }): PaymentProvider {
  return {
    name: options.autopay ? "local-ledger (autopay)" : "local-ledger",
    // Nothing to pay is paid: a fully credited upgrade must not wait for anyone.
    collect: async (invoice) => (options.autopay || invoice.total <= 0 ? "paid" : "open"),
  };
}
