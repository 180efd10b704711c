// The few pages the gateway answers itself. Plain HTML, no external assets.
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const page = (title: string, body: string, head = "") =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">${head}<title>${escapeHtml(title)}</title><style>body{font:16px system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;color:#1f2937}main{max-width:32rem;text-align:center}small{color:#6b7280}</style></head><body><main>${body}</main></body></html>`;

export const startingPage = (app: string, refreshSeconds: number) =>
  page(
    `Starting ${app}…`,
    `<h1>Starting ${escapeHtml(app)}…</h1><p>The app was stopped while nobody used it. It is starting now; this page reloads by itself.</p><small>Nothing is lost while an app is stopped.</small>`,
    `<meta http-equiv="refresh" content="${refreshSeconds}">`,
  );

export const errorPage = (status: number, title: string, detail: string) =>
  page(`${status} ${title}`, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(detail)}</p><small>HTTP ${status}</small>`);

/**
 * 402: the app is paused for billing; says why, who can subscribe and, when the gateway knows
 * the console's address, where (a link to the organization's billing). No refresh: paying takes
 * a person.
 */
export const paymentRequiredPage = (app: string, org: string, why: string, who: string, billingUrl?: string) =>
  page(
    `${app} is paused`,
    `<h1>${escapeHtml(app)} is paused</h1><p>${escapeHtml(why)}</p><p>${escapeHtml(who)}</p>${billingUrl ? `<p><a href="${escapeHtml(billingUrl)}">Open the billing of ${escapeHtml(org)} in the Atrium console</a></p>` : ""}<small>Nothing is lost: the app's data is kept while it is paused (organization ${escapeHtml(org)}). HTTP 402</small>`,
  );
