import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { KubeClient, R } from "@atrium/kube";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventRecorder } from "./events.ts";

// A stand-in HTTP endpoint that holds every request until the test answers it, to see the
// order in which a capped client sends its writes (the apiserver's part is not under test).
const received: string[] = [];
const held: ServerResponse[] = [];
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  received.push(`${req.method} ${req.url?.replace(/\?.*/, "")}`);
  req.resume();
  held.push(res);
});
let kc: KubeConfig;

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "u" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
});
afterAll(() => {
  for (const res of held) res.destroy();
  server.closeAllConnections();
  server.close();
});

const answerNext = () => {
  const res = held.shift();
  res?.writeHead(200, { "content-type": "application/json" });
  res?.end(JSON.stringify({ metadata: { name: "ok" } }));
};

describe("eventRecorder", () => {
  it("sends an Event after the writes waiting for a turn, not before them", async () => {
    const client = new KubeClient(kc, { fieldManager: "test", maxWritesInFlight: 1 });
    const record = eventRecorder(client, "atrium-operator", () => {});
    const app = { apiVersion: "atrium.dev/v1alpha1", kind: "AppInstance", metadata: { name: "a", namespace: "org-x" } };
    const status = (name: string) =>
      client.apply(R.appInstance, { metadata: { name, namespace: "org-x" }, status: {} }, { subresource: "status" });
    const writes = [status("a")];
    await expect.poll(() => received.length).toBe(1);
    record(app, "Normal", "Running", "1 of 1 replicas ready"); // told while the turn is taken
    writes.push(status("b"), status("c"));
    for (let sent = 1; sent < 4; sent++) {
      answerNext();
      await expect.poll(() => received.length).toBe(sent + 1);
    }
    answerNext();
    await Promise.all(writes);
    expect(received).toEqual([
      "PATCH /apis/atrium.dev/v1alpha1/namespaces/org-x/appinstances/a/status",
      "PATCH /apis/atrium.dev/v1alpha1/namespaces/org-x/appinstances/b/status",
      "PATCH /apis/atrium.dev/v1alpha1/namespaces/org-x/appinstances/c/status",
      "POST /api/v1/namespaces/org-x/events",
    ]);
  });
});
