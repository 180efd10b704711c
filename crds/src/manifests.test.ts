import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { KINDS } from "./index.ts";
import { MANIFEST_DIR, renderManifests } from "./manifests.ts";

describe("crds/manifests", () => {
  it("matches what crds/src generates (run `npm run crds:generate` after a schema change)", () => {
    const rendered = renderManifests();
    expect(readdirSync(MANIFEST_DIR).sort()).toEqual([...rendered.keys()].sort());
    for (const [name, text] of rendered) expect(readFileSync(join(MANIFEST_DIR, name), "utf8"), name).toBe(text);
  });

  it("bounds every string and list, so the apiserver can cost the CEL rules", () => {
    const unbounded: string[] = [];
    const walk = (schema: any, path: string) => {
      if (schema.type === "string" && schema.maxLength === undefined && !schema.enum && schema.format !== "date-time")
        unbounded.push(path);
      if (schema.type === "array" && schema.maxItems === undefined) unbounded.push(path);
      for (const [key, child] of Object.entries(schema.properties ?? {})) walk(child, `${path}.${key}`);
      if (schema.items) walk(schema.items, `${path}[]`);
    };
    for (const kind of KINDS) walk(JSON.parse(JSON.stringify(kind.spec)), `${kind.kind}.spec`);
    expect(unbounded).toEqual([]);
  });
});
