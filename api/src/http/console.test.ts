// Serving the console: a nonce per response in the index and its CSP, immutable hashed assets,
// and a clear 503 naming the build command when console/dist is missing.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import express from "express";
import { afterEach, describe, expect, it } from "vitest";
import { consoleRoutes, NONCE_PLACEHOLDER } from "./console.ts";

const servers: Array<{ close(): void }> = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function serve(dir: string) {
  const app = express();
  app.use(consoleRoutes({ dir, log: () => {} }));
  const server = app.listen(0, "127.0.0.1");
  servers.push(server);
  await new Promise((resolve) => server.once("listening", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function built() {
  const dir = mkdtempSync(join(tmpdir(), "console-dist-"));
  mkdirSync(join(dir, "assets"));
  writeFileSync(
    join(dir, "index.html"),
    `<meta property="csp-nonce" nonce="${NONCE_PLACEHOLDER}"><script type="module" src="/assets/app-abc123.js" nonce="${NONCE_PLACEHOLDER}"></script>`,
  );
  writeFileSync(join(dir, "assets", "app-abc123.js"), "console.log(1)");
  return dir;
}

describe("consoleRoutes", () => {
  it("answers every path with the index, a fresh nonce in it and in its CSP, never cached", async () => {
    const base = await serve(built());
    const nonces = new Set<string>();
    for (const path of ["/", "/orgs/acme/members?q=x", "/orgs/acme/members/bob"]) {
      const res = await fetch(base + path);
      const html = await res.text();
      const nonce = /'nonce-([^']+)'/.exec(res.headers.get("content-security-policy") ?? "")?.[1] as string;
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(res.headers.get("content-security-policy")).toContain(`style-src 'self' 'nonce-${nonce}'`);
      expect(res.headers.get("content-security-policy")).not.toContain("unsafe-inline");
      expect(html).not.toContain(NONCE_PLACEHOLDER);
      expect(html.match(new RegExp(`nonce="${nonce.replace(/[+/]/g, "\\$&")}"`, "g"))).toHaveLength(2);
      nonces.add(nonce);
    }
    expect(nonces.size).toBe(3);
  });

  it("serves hashed assets as immutable, and a missing asset as 404, not the index", async () => {
    const base = await serve(built());
    const js = await fetch(`${base}/assets/app-abc123.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect((await fetch(`${base}/assets/gone-000.js`)).status).toBe(404);
  });

  it("says how to build the console when console/dist is missing", async () => {
    const base = await serve(join(tmpdir(), "no-console-here"));
    const res = await fetch(`${base}/orgs/acme/members`);
    expect(res.status).toBe(503);
    expect(res.headers.get("content-type")).toContain("text/html");
    const text = await res.text();
    expect(text).toContain("make console");
    expect(text).not.toContain("Error:");
  });
});
