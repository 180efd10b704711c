import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FencedError, KubeClient, Turns } from "./client.ts";
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
let kubeconfig: KubeConfig;

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
  kubeconfig = kc;
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

describe("KubeClient maxWritesInFlight", () => {
  const answer = (res: ServerResponse | undefined) => {
    res?.writeHead(200, { "content-type": "application/json" });
    res?.end(JSON.stringify({ metadata: { name: "done" } }));
  };
  const writes = () => received.filter((r) => r.method !== "GET").length;

  it("sends at most that many writes at once, the next when one ends; reads are not held", async () => {
    const capped = new KubeClient(kubeconfig, { fieldManager: "test", maxWritesInFlight: 2 });
    const term = new AbortController();
    capped.fence(term.signal);
    held.splice(0).forEach((r) => void r.destroy());
    const before = writes();
    const sent = Array.from({ length: 5 }, (_, i) =>
      capped.apply(R.namespace, { metadata: { name: `w${i}` } }).catch((e: unknown) => e),
    );
    await expect.poll(() => writes()).toBe(before + 2);
    // Reads go past the waiting writes.
    expect(await capped.get(R.namespace, "x")).toMatchObject({ metadata: { name: "x" } });
    await new Promise((r) => setTimeout(r, 100));
    expect(writes()).toBe(before + 2);
    answer(held.shift());
    await expect.poll(() => writes()).toBe(before + 3);
    expect(await sent[0]).toMatchObject({ metadata: { name: "done" } });
    // A term that ends: the writes in flight are cut off, the waiting ones refused unsent.
    term.abort();
    for (const outcome of await Promise.all(sent.slice(1))) expect(outcome).toBeInstanceOf(FencedError);
    expect(writes()).toBe(before + 3);
  });
});

describe("Turns", () => {
  it("runs at most `limit` tasks at once, in arrival order, and passes a failed task's turn on", async () => {
    const turns = new Turns(2);
    const order: number[] = [];
    const gates: Array<() => void> = [];
    const task = (i: number, fail = false) =>
      turns.run(
        () =>
          new Promise<number>((resolve, reject) => {
            order.push(i);
            gates.push(() => (fail ? reject(new Error(`task ${i}`)) : resolve(i)));
          }),
      );
    const all = [task(0, true), task(1), task(2), task(3)].map((p) => p.catch((e: Error) => e.message));
    await Promise.resolve();
    expect([order, turns.inFlight]).toEqual([[0, 1], 2]);
    gates.shift()?.(); // task 0 fails: task 2 gets its turn
    await expect.poll(() => order).toEqual([0, 1, 2]);
    expect(turns.inFlight).toBe(2);
    while (gates.length) gates.shift()?.();
    await expect.poll(() => order).toEqual([0, 1, 2, 3]);
    gates.shift()?.();
    expect(await Promise.all(all)).toEqual(["task 0", 1, 2, 3]);
    expect(turns.inFlight).toBe(0);
  });

  it("gives a background task a turn only when no other task waits, whenever it came", async () => {
    const turns = new Turns(1);
    const order: string[] = [];
    const gates: Array<() => void> = [];
    const task = (name: string, background = false) =>
      turns.run(
        () =>
          new Promise<void>((resolve) => {
            order.push(name);
            gates.push(resolve);
          }),
        { background },
      );
    const all = [task("first"), task("event", true), task("status"), task("apply"), task("event 2", true)];
    while (order.length < all.length) {
      await expect.poll(() => gates.length).toBe(1);
      gates.shift()?.();
    }
    await Promise.all(all);
    expect(order).toEqual(["first", "status", "apply", "event", "event 2"]);
    // With a turn free, a background task does not wait.
    const alone = task("event 3", true);
    expect(order.at(-1)).toBe("event 3");
    gates.shift()?.();
    await alone;
  });
});
