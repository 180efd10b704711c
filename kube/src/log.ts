// Structured logs in the Kubernetes style: one JSON object a line, a message that starts
// with a capital and says what happened, and the object's kind and key as fields. Every line
// carries a level, so collectors can alert on errors without parsing messages: callers that
// report a failure pass "error", a degraded but working state "warn", everything else is info.
export type LogLevel = "info" | "warn" | "error";
export type Logger = (message: string, fields?: Record<string, unknown>, level?: LogLevel) => void;

export const jsonLogger =
  (component: string, write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Logger =>
  (message, fields = {}, level = "info") =>
    write(JSON.stringify({ ts: new Date().toISOString(), level, component, msg: message, ...fields }));

export const errorMessage = (e: unknown) => (e instanceof Error ? e.message : String(e));
