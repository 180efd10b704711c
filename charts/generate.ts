// Writes the charts' generated files: atrium's templates/crds/ from crds/src, and its values.yaml,
// values.schema.json and README values table from charts/src/values.ts; atrium-catalog's
// templates from crds/catalog/, and its values. Run after a
// change to either (`make chart`); test/integration/chart-static.test.ts fails while they are stale.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  CATALOG_CHART_DIR,
  CHART_DIR,
  catalogSchema,
  catalogTemplates,
  catalogValuesYaml,
  crdTemplates,
  readmeWithTable,
  valuesSchema,
  valuesYaml,
} from "./src/render.ts";

const crds = crdTemplates();
writeGenerated(join(CHART_DIR, "templates", "crds"), crds);
writeFileSync(join(CHART_DIR, "values.yaml"), valuesYaml());
writeFileSync(join(CHART_DIR, "values.schema.json"), valuesSchema());
const readme = join(CHART_DIR, "README.md");
writeFileSync(readme, readmeWithTable(readFileSync(readme, "utf8")));

/** Writes `files` into `dir`, removing any other .yaml there (a template whose source is gone). */
function writeGenerated(dir: string, files: Map<string, string>) {
  mkdirSync(dir, { recursive: true });
  for (const stale of readdirSync(dir)) if (stale.endsWith(".yaml") && !files.has(stale)) rmSync(join(dir, stale));
  for (const [name, text] of files) writeFileSync(join(dir, name), text);
}
const catalog = catalogTemplates();
writeGenerated(join(CATALOG_CHART_DIR, "templates"), catalog);
writeFileSync(join(CATALOG_CHART_DIR, "values.yaml"), catalogValuesYaml());
writeFileSync(join(CATALOG_CHART_DIR, "values.schema.json"), catalogSchema());
console.log(
  `Wrote ${crds.size} CRD templates and the values of ${CHART_DIR}, ${catalog.size} AppTemplates to ${CATALOG_CHART_DIR}`,
);
