import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { KubeClient, R } from "@atrium/kube";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventRecorder, MAX_PENDING_EVENTS } from "./events.ts";

// A stand-in HTTP endpoint that holds every request until the test answers it, to see the
// order in which a capped client sends its writes (the apiserver's part is not under test).
const received: string[] = [];
/** The involved object's name of each Event received, in order. */
const told: string[] = [];
const held: ServerResponse[] = [];
/** False: the server answers at once instead of holding. */
let holding = true;
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  received.push(`${req.method} ${req.url?.replace(/\?.*/, "")}`);
  let body = "";
  req.on("data", (chunk) => {
    body += chunk;
  });
  req.on("end", () => {
    if (req.url?.includes("/events")) told.push(JSON.parse(body).involvedObject.name);
    if (!holding) res.end("{}");
  });
  if (holding) held.push(res);
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

  const appNamed = (name: string) => ({
    apiVersion: "atrium.dev/v1alpha1",
    kind: "AppInstance",
    metadata: { name, namespace: "org-x" },
  });
  const reset = () => {
    received.length = 0;
    told.length = 0;
  };

  it("writes one Event at a time, in the order they were told, even with writes to spare", async () => {
    reset();
    const client = new KubeClient(kc, { fieldManager: "test" }); // no cap on writes in flight
    const record = eventRecorder(client, "atrium-operator", () => {});
    for (const name of ["a", "b", "c"]) record(appNamed(name), "Normal", "Running", "1 of 1 replicas ready");
    await expect.poll(() => told.length).toBe(1);
    // A write the client sends meanwhile is not held back by the Events waiting.
    const status = client.apply(
      R.appInstance,
      { metadata: { name: "d", namespace: "org-x" }, status: {} },
      { subresource: "status" },
    );
    await expect.poll(() => received.length).toBe(2);
    expect(told).toEqual(["a"]); // b and c wait for a's answer
    held.splice(1, 1)[0]?.end("{}"); // the status write, second in line
    await status;
    for (const sent of [2, 3]) {
      answerNext();
      await expect.poll(() => told.length).toBe(sent);
    }
    answerNext();
    expect(told).toEqual(["a", "b", "c"]);
  });

  it("drops what comes past the pending limit and says so once, and carries on after", {
    timeout: 30_000,
  }, async () => {
    reset();
    const lines: string[] = [];
    const client = new KubeClient(kc, { fieldManager: "test" });
    const record = eventRecorder(client, "atrium-operator", (message) => lines.push(message));
    // The first goes out (held by the server), the next MAX_PENDING_EVENTS wait, two more are dropped.
    for (let i = 0; i < MAX_PENDING_EVENTS + 3; i++) record(appNamed(`a${i}`), "Normal", "Running", "ready");
    await expect.poll(() => told.length).toBe(1);
    expect(lines).toEqual(["Events are not keeping up; dropping new ones"]);
    holding = false;
    answerNext();
    await expect.poll(() => told.length, { timeout: 20_000 }).toBe(MAX_PENDING_EVENTS + 1);
    expect(told.at(-1)).toBe(`a${MAX_PENDING_EVENTS}`);
    record(appNamed("later"), "Normal", "Running", "ready");
    await expect.poll(() => told.at(-1)).toBe("later");
    holding = true;
  });
});
