// The gateway's HTTP sits on Node internals (llhttp.ts: node:_http_common's parser and socket
// handles, deprecated as DEP0199) that may change in any release, so it runs only on the exact
// Node version it is tested on: the one in the repository's .nvmrc, which scripts/ensure-node.sh
// provisions and package.json's "engines" repeats (docs/adr/0007).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { errorMessage, type Logger } from "@atrium/kube";

/** Where the pinned version is written, once for the whole repository. */
export const NVMRC = fileURLToPath(new URL("../../.nvmrc", import.meta.url));

/** Set to 1 to start on another Node version anyway (to try an upgrade); logged at start. */
export const ALLOW_UNTESTED_NODE = "ATRIUM_ALLOW_UNTESTED_NODE";

/** Thrown at start on a Node version other than the pinned one. */
export class NodeVersionError extends Error {
  override name = "NodeVersionError";
}

/** The exact version .nvmrc's text names ("24.22.3"); a range or a bare major is refused. */
export function pinnedNodeVersion(nvmrc: string): string {
  const version = nvmrc.trim().replace(/^v/, "");
  if (!/^\d+\.\d+\.\d+$/.test(version))
    throw new NodeVersionError(`.nvmrc must name one exact Node version (like 24.22.3), not "${nvmrc.trim()}"`);
  return version;
}

/** Why the running Node is not the pinned one, or undefined when it is exactly that. */
export function nodeVersionMismatch(running: string, pinned: string): string | undefined {
  const have = running.replace(/^v/, "");
  if (have === pinned) return undefined;
  return (
    `The gateway runs on Node ${pinned} only (it uses Node internals that change between releases; ` +
    `docs/adr/0007), and this is Node ${have}. Use scripts/ensure-node.sh, or a ${pinned} image; ` +
    `to try this version anyway, set ${ALLOW_UNTESTED_NODE}=1`
  );
}

/**
 * Throws NodeVersionError unless the running Node is the pinned one. With the escape hatch set,
 * logs that the gateway runs untested instead (the parser self-test still runs after this).
 */
export function checkNodeVersion(options: {
  running: string;
  nvmrc: string;
  env: NodeJS.ProcessEnv;
  log: Logger;
}): void {
  const pinned = pinnedNodeVersion(options.nvmrc);
  const mismatch = nodeVersionMismatch(options.running, pinned);
  if (!mismatch) return;
  if (options.env[ALLOW_UNTESTED_NODE] !== "1") throw new NodeVersionError(mismatch);
  options.log(
    `UNTESTED NODE VERSION: the gateway runs on Node ${options.running.replace(/^v/, "")}, not ${pinned}`,
    { pinned, running: options.running, allowedBy: `${ALLOW_UNTESTED_NODE}=1` },
    "warn",
  );
}

/** .nvmrc's text, with a clear error where an image left it out. */
export function readNvmrc(path = NVMRC): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new NodeVersionError(
      `The pinned Node version could not be read from ${path} (${errorMessage(e)}): ` +
        "the gateway needs the repository's .nvmrc beside its sources",
    );
  }
}
