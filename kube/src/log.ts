// Structured logs in the Kubernetes style: one JSON object a line, a message that starts
// with a capital and says what happened, and the object's kind and key as fields.
export type Logger = (message: string, fields?: Record<string, unknown>) => void;

export const jsonLogger =
  (component: string, write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Logger =>
  (message, fields = {}) =>
    write(JSON.stringify({ ts: new Date().toISOString(), component, msg: message, ...fields }));

export const errorMessage = (e: unknown) => (e instanceof Error ? e.message : String(e));
