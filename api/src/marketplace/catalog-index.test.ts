import type { AppTemplate } from "@atrium/crds";
import { describe, expect, it } from "vitest";
import type { TemplateObj } from "./catalog.ts";
import { CatalogIndex } from "./routes.ts";

const template = (name: string, rv: string, description = ""): TemplateObj =>
  ({
    apiVersion: "atrium.dev/v1alpha1",
    kind: "AppTemplate",
    metadata: { name, resourceVersion: rv },
    spec: {
      displayName: name,
      description,
      category: "Productivity",
      image: "x",
      versions: ["1"],
      defaultVersion: "1",
      ports: [{ name: "http", containerPort: 80 }],
    },
  }) as AppTemplate as TemplateObj;

/** What CatalogIndex reads of the Catalog: its templates and a version bumped on each change. */
function fakeCatalog(templates: TemplateObj[]) {
  let version = 1;
  let all = templates;
  return {
    version: () => version,
    all: () => all,
    set(next: TemplateObj[]) {
      all = next;
      version++;
    },
  };
}

describe("CatalogIndex", () => {
  it("builds once per catalog change and folds only the templates that changed", () => {
    const catalog = fakeCatalog([template("alpha", "1"), template("beta", "1")]);
    const index = new CatalogIndex(catalog);
    const first = index.current();
    expect(index.current()).toBe(first); // no change: the same index, nothing rebuilt
    const [alpha, beta] = first.entries;
    catalog.set([template("alpha", "1"), template("beta", "2", "Now with kaleidoscopes.")]);
    const second = index.current();
    expect(second).not.toBe(first);
    expect(second.entries[0]).toBe(alpha); // same resourceVersion: the folded entry is kept
    expect(second.entries[1]).not.toBe(beta);
    expect(second.search({ q: "KALEIDOSCOPES", limit: 10 }, new Map()).items.map((e) => e.name)).toEqual(["beta"]);
  });
});
