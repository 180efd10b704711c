import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FencedError, KubeClient } from "./client.ts";
import { R } from "./resources.ts";

// A stand-in HTTP endpoint only to watch requests arrive and hold them: the fence is the
// client's own behaviour (the real apiserver is in test/integration/leader-fencing.test.ts).
const received: { method: string; url: string }[] = [];
const held: ServerResponse[] = [];
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  received.push({ method: req.method ?? "", url: req.url ?? "" });
  req.resume();
  if (req.method === "GET") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ metadata: { name: "x" } }));
  } else held.push(res); // writes hang, as through a partition
});
let client: KubeClient;

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "u" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  client = new KubeClient(kc, { fieldManager: "test" });
});
afterAll(() => {
  for (const res of held) res.destroy();
  server.closeAllConnections();
  server.close();
});

describe("KubeClient.fence", () => {
  it("cuts off writes in flight when the term ends and refuses later ones unsent; reads go on", async () => {
    const term = new AbortController();
    client.fence(term.signal);
    const inFlight = client.apply(R.namespace, { metadata: { name: "a" } });
    await expect.poll(() => received.length).toBe(1);
    term.abort(new Error("leadership lost"));
    await expect(inFlight).rejects.toBeInstanceOf(FencedError);
    await expect(client.create(R.namespace, { metadata: { name: "b" } })).rejects.toBeInstanceOf(FencedError);
    await expect(client.delete(R.namespace, "c")).rejects.toBeInstanceOf(FencedError);
    expect(received).toHaveLength(1);
    expect(await client.get(R.namespace, "x")).toMatchObject({ metadata: { name: "x" } });
    expect(received).toHaveLength(2);
  });

  it("lets writes through again in a new term", async () => {
    const term = new AbortController();
    client.fence(term.signal);
    const before = received.length;
    void client.apply(R.namespace, { metadata: { name: "d" } }).catch(() => {});
    await expect.poll(() => received.length).toBe(before + 1);
    term.abort();
  });
});
