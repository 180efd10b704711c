// Security headers for a JSON API (what helmet would set, minus what only HTML pages need).
import type { RequestHandler } from "express";

export const securityHeaders =
  (secure: boolean): RequestHandler =>
  (_req, res, next) => {
    res.setHeader("x-content-type-options", "nosniff");
    res.setHeader("x-frame-options", "DENY");
    res.setHeader("referrer-policy", "no-referrer");
    res.setHeader("cross-origin-opener-policy", "same-origin");
    res.setHeader("cross-origin-resource-policy", "same-origin");
    res.setHeader("content-security-policy", "default-src 'none'; frame-ancestors 'none'");
    res.setHeader("cache-control", "no-store");
    if (secure) res.setHeader("strict-transport-security", "max-age=31536000; includeSubDomains");
    next();
  };
