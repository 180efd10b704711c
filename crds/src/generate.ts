import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MANIFEST_DIR, renderManifests } from "./manifests.ts";

mkdirSync(MANIFEST_DIR, { recursive: true });
const files = renderManifests();
for (const stale of readdirSync(MANIFEST_DIR)) if (!files.has(stale)) rmSync(join(MANIFEST_DIR, stale));
for (const [name, text] of files) writeFileSync(join(MANIFEST_DIR, name), text);
console.log(`Wrote ${files.size} CRDs to ${MANIFEST_DIR}`);
