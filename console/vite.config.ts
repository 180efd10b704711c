// The console's build: one HTML page, hashed assets, a CSP nonce placeholder that the API
// replaces per response (api/src/http/console.ts), and routes split into lazy chunks.
import react from "@vitejs/plugin-react";
import { defineConfig, type Plugin } from "vite";

/**
 * react-aria ships its built-in strings ("Dismiss", "Select an option", ...) in 34 languages,
 * about a fifth of its weight. The console's own words are English, so only en-US is kept;
 * the other dictionaries become null, which react-aria's LocalizedStringDictionary drops and
 * falls back from (what Adobe's optimize-locales-plugin does, without the dependency).
 * Dates and numbers still follow the reader's locale (Intl).
 */
function englishAriaStringsOnly(): Plugin {
  const dictionary = /\/react-(aria|aria-components|stately)\/dist\/.*\/intl\/(.+\/)?([a-z]{2}-[A-Z]{2})\.mjs$/;
  return {
    name: "atrium-english-aria-strings",
    enforce: "pre",
    load(id) {
      const locale = dictionary.exec(id)?.[3];
      return locale && locale !== "en-US" ? "export default null;" : undefined;
    },
  };
}

export default defineConfig({
  root: import.meta.dirname,
  plugins: [react(), englishAriaStringsOnly()],
  html: { cspNonce: "__ATRIUM_CSP_NONCE__" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    // Inline data: URLs would need a looser CSP; everything is a file.
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  server: { proxy: { "/api": "http://127.0.0.1:8080" } },
});
