// An app's logs through the apiserver's pods/log: the pod is found by the operator's instance
// label, the last lines come back as JSON, and a follow is relayed as Server-Sent Events until
// the client goes, the pod's stream ends, or the follow reaches its time bound.
import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import type { KubeClient, KubeObject, Logger } from "@atrium/kube";
import { errorMessage, R, resourcePath } from "@atrium/kube";
import type { Response } from "express";

/** The operator's label naming the app a pod belongs to (operator/src/labels.ts LABEL_INSTANCE). */
const LABEL_INSTANCE = "app.kubernetes.io/instance";
/** The app's container (operator/src/appinstance/desired.ts). */
const CONTAINER = "app";
/** A follow ends after this long; the client reconnects if it wants more (EventSource does). */
export const FOLLOW_LIMIT_MS = 30 * 60_000;
const MAX_BYTES = String(1 << 20);

type Pod = KubeObject & { status?: { phase?: string } };

/** The newest running pod of the app, or undefined when it has none (stopped, starting). */
export async function runningPod(kube: KubeClient, namespace: string, app: string): Promise<string | undefined> {
  const { items } = await kube.list<Pod>(R.pod, { namespace, labelSelector: `${LABEL_INSTANCE}=${app}` });
  const running = items
    .filter((p) => p.status?.phase === "Running" && !p.metadata.deletionTimestamp)
    .sort((a, b) => (b.metadata.creationTimestamp ?? "").localeCompare(a.metadata.creationTimestamp ?? ""));
  return running[0]?.metadata.name;
}

const logPath = (namespace: string, pod: string) => `${resourcePath(R.pod, namespace, pod)}/log`;

export async function tailLogs(kube: KubeClient, namespace: string, pod: string, tail: number): Promise<string[]> {
  const res = await kube.stream(logPath(namespace, pod), {
    container: CONTAINER,
    tailLines: String(tail),
    limitBytes: MAX_BYTES,
  });
  const text = await res.text();
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.slice(-tail);
}

/** Relays the pod's log as SSE: `event: line` per line, `event: end` when the stream ends. */
export async function followLogs(
  kube: KubeClient,
  namespace: string,
  pod: string,
  tail: number,
  res: Response,
  log: Logger,
): Promise<void> {
  const controller = new AbortController();
  const bound = setTimeout(() => controller.abort(), FOLLOW_LIMIT_MS);
  const upstream = await kube.stream(
    logPath(namespace, pod),
    { container: CONTAINER, tailLines: String(tail), follow: "true" },
    controller.signal,
  );
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", "x-accel-buffering": "no" });
  res.flushHeaders();
  const keepAlive = setInterval(() => res.write(": keep-alive\n\n"), 15_000);
  res.on("close", () => controller.abort());
  try {
    const input = Readable.fromWeb(upstream.body as never);
    input.on("error", () => {});
    const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
    lines.on("error", () => {});
    for await (const line of lines) res.write(`event: line\ndata: ${JSON.stringify(line)}\n\n`);
    res.write("event: end\ndata: {}\n\n");
  } catch (error) {
    if (!controller.signal.aborted) log("Log follow failed", { namespace, pod, error: errorMessage(error) }, "warn");
  } finally {
    clearTimeout(bound);
    clearInterval(keepAlive);
    controller.abort();
    res.end();
  }
}
