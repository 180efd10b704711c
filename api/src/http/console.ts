// The web console (console/dist, built by `make console`), served from the API's own origin so
// the session cookie and the CSRF header need no CORS. Hashed assets are immutable; the index
// is answered for every other non-/api path (the console routes in the browser) with a fresh
// CSP nonce per response: react-aria injects <style> elements, which a nonce lets through
// while inline script and style stay refused.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "@atrium/kube";
import express, { type RequestHandler, type Router } from "express";

/** console/dist next to api/ in the repository (the image copies both the same way). */
export const DEFAULT_CONSOLE_DIR = join(import.meta.dirname, "..", "..", "..", "console", "dist");

/** What Vite writes where a nonce belongs (vite.config.ts: html.cspNonce). */
export const NONCE_PLACEHOLDER = "__ATRIUM_CSP_NONCE__";

export function consoleCsp(nonce: string): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}'`,
    `style-src 'self' 'nonce-${nonce}'`,
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** The index with each nonce placeholder replaced by this response's nonce. */
export const withNonce = (index: string, nonce: string) => index.replaceAll(NONCE_PLACEHOLDER, nonce);

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Atrium console not built</title></head>
<body><h1>The console is not built</h1>
<p>This API serves the web console from <code>console/dist</code>, which does not exist yet.
Build it with <code>make console</code> (or <code>npm run build -w console</code>), then reload.
The API itself answers under <a href="/api/openapi.json">/api</a>.</p></body></html>
`;

export function consoleRoutes(options: { dir?: string; log: Logger }): Router {
  const dir = options.dir ?? DEFAULT_CONSOLE_DIR;
  const router = express.Router();
  const indexFile = join(dir, "index.html");
  let index: string | undefined;
  const loadIndex = () => {
    // Read once it exists: a console built after the API started is picked up without a restart.
    if (index === undefined && existsSync(indexFile)) index = readFileSync(indexFile, "utf8");
    return index;
  };
  if (!loadIndex()) options.log("Console not built: serving a notice instead", { dir, build: "make console" }, "warn");

  router.use(
    "/assets",
    express.static(join(dir, "assets"), {
      index: false,
      fallthrough: false,
      immutable: true,
      maxAge: "365d",
      setHeaders: (res) => {
        // Vite puts a content hash in every asset name: a changed file is a new URL.
        res.setHeader("cache-control", "public, max-age=31536000, immutable");
        res.setHeader("content-security-policy", "default-src 'none'; frame-ancestors 'none'");
      },
    }),
  );
  const page: RequestHandler = (req, res, next) => {
    if (req.method !== "GET" && req.method !== "HEAD") return next();
    const html = loadIndex();
    res.setHeader("cache-control", "no-store");
    if (!html) {
      res.status(503).type("html").send(NOT_BUILT);
      return;
    }
    const nonce = randomBytes(18).toString("base64");
    res.setHeader("content-security-policy", consoleCsp(nonce));
    // The console's own links carry no secrets, but its URLs name orgs and members.
    res.setHeader("referrer-policy", "same-origin");
    res.status(200).type("html").send(withNonce(html, nonce));
  };
  router.get("/{*path}", page);
  return router;
}
