import { readFileSync } from "node:fs";

/** The last `lines` lines of a process's log file, for an error that says why it did not start. */
export function logTail(file: string, lines = 30): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}
