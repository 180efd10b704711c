// make bench [SCENARIO=name]: runs the benchmark scenarios one after another.
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL("./scenarios/", import.meta.url));
const all = readdirSync(dir)
  .filter((f) => f.endsWith(".ts"))
  .map((f) => f.replace(/\.ts$/, ""))
  .sort();
const wanted = process.env.SCENARIO ? process.env.SCENARIO.split(",") : all;
for (const name of wanted) {
  if (!all.includes(name)) throw new Error(`no scenario ${name}; have ${all.join(", ")}`);
  console.log(`[bench] ${name}`);
  const scenario = (await import(`./scenarios/${name}.ts`)) as { run: () => Promise<void> };
  await scenario.run();
}
