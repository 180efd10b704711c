// Prints the folders (relative to the repository) of every package the operator, the gateway
// and the API load at run time: their dependencies and optional dependencies, followed
// transitively from where Node would resolve them. Development dependencies are left out.
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { dirname, join, relative } from "node:path";

const root = realpathSync(process.argv[2] ?? process.cwd());
const seen = new Set();

/** Where `require(name)` from a file in `from` finds the package, as Node looks it up. */
function resolveDir(name, from) {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", name);
    if (existsSync(join(candidate, "package.json"))) return candidate;
    if (dir === root || dir === "/") return undefined;
  }
}

function walk(dir) {
  if (seen.has(dir)) return;
  seen.add(dir);
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const optional = pkg.optionalDependencies ?? {};
  for (const name of Object.keys({ ...pkg.dependencies, ...optional })) {
    // A workspace package is a symlink: its own dependencies resolve from where it really is.
    const found = resolveDir(name, realpathSync(dir));
    if (found) walk(found);
    else if (!(name in optional)) throw new Error(`${name} (needed by ${dir}) is not installed`);
  }
}

for (const workspace of ["operator", "gateway", "api"]) walk(join(root, workspace));
for (const dir of [...seen].sort()) if (dir.includes("node_modules")) console.log(relative(root, dir));
