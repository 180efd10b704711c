import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type UsageBatch, UsageCounter, UsageReporter } from "./usage.ts";

/** A stand-in for the API's ingest route on a real port: records each POST, answers as told. */
async function fakeApi(answers: number[]) {
  const received: { auth: string | undefined; batch: UsageBatch; status: number }[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      const status = answers.shift() ?? 200;
      received.push({ auth: req.headers.authorization, batch: JSON.parse(body), status });
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(status === 200 ? { accepted: true } : { error: { code: "x", message: "no" } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received, server };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

const quiet = () => {
  const lines: { message: string; level: string | undefined }[] = [];
  return { lines, log: (message: string, _f?: unknown, level?: string) => void lines.push({ message, level }) };
};

describe("UsageCounter", () => {
  it("counts requests, 5xx and wakes per app, and forgets apps without traffic since the last cut", () => {
    const c = new UsageCounter();
    c.request("acme", "wiki", 200);
    c.request("acme", "wiki", 502);
    c.request("acme", "blog", 404);
    c.request("acme", "wiki", undefined); // its client left before any answer: no 5xx
    c.wake("acme", "wiki");
    expect(c.cut()).toEqual([
      { org: "acme", app: "wiki", requests: 3, errors5xx: 1, wakes: 1 },
      { org: "acme", app: "blog", requests: 1, errors5xx: 0, wakes: 0 },
    ]);
    c.request("acme", "wiki", 200);
    expect(c.cut()).toEqual([{ org: "acme", app: "wiki", requests: 1, errors5xx: 0, wakes: 0 }]);
    expect(c.cut()).toEqual([]);
  });
});

describe("UsageReporter", () => {
  it("sends a failed batch again with the same id and counts; what came meanwhile goes in the next", async () => {
    const api = await fakeApi([503]);
    servers.push(api.server);
    const { log } = quiet();
    const r = new UsageReporter({ apiUrl: api.url, token: "t0ken", intervalMs: 60_000, log, replica: "gw-a" });
    for (let i = 0; i < 3; i++) r.counter.request("acme", "wiki", 200);
    await r.tick(); // 503
    r.counter.request("acme", "wiki", 500); // arrives while batch 1 is unsent
    await r.tick(); // batch 1 again, accepted; the new count waits
    await r.tick(); // batch 2
    expect(api.received.map((x) => [x.batch.batch, x.status, x.batch.apps])).toEqual([
      ["gw-a:1", 503, [{ org: "acme", app: "wiki", requests: 3, errors5xx: 0, wakes: 0 }]],
      ["gw-a:1", 200, [{ org: "acme", app: "wiki", requests: 3, errors5xx: 0, wakes: 0 }]],
      ["gw-a:2", 200, [{ org: "acme", app: "wiki", requests: 1, errors5xx: 1, wakes: 0 }]],
    ]);
    expect(api.received.every((x) => x.auth === "Bearer t0ken")).toBe(true);
    // Batch 2 covers from batch 1's end.
    expect(api.received[2]?.batch.from).toBe(api.received[0]?.batch.to);
    expect(r.sent).toBe(2);
  });

  it("keeps a batch while the API cannot be reached, and sends nothing when nothing was counted", async () => {
    const { log, lines } = quiet();
    const r = new UsageReporter({ apiUrl: "http://127.0.0.1:1", token: "t", intervalMs: 60_000, log, replica: "gw-b" });
    await r.tick(); // nothing counted: no batch at all
    expect(lines).toEqual([]);
    r.counter.request("acme", "wiki", 200);
    await r.tick();
    await r.tick();
    expect(lines.map((l) => l.message)).toEqual([
      "Usage batch not sent; sent again next round",
      "Usage batch not sent; sent again next round",
    ]);
  });

  it("drops a batch the API refuses for good (401: wrong token), saying so, and goes on with new ids", async () => {
    const api = await fakeApi([401]);
    servers.push(api.server);
    const { log, lines } = quiet();
    const r = new UsageReporter({ apiUrl: api.url, token: "wrong", intervalMs: 60_000, log, replica: "gw-c" });
    r.counter.request("acme", "wiki", 200);
    await r.tick();
    r.counter.request("acme", "wiki", 200);
    await r.tick();
    expect(api.received.map((x) => [x.batch.batch, x.status])).toEqual([
      ["gw-c:1", 401],
      ["gw-c:2", 200],
    ]);
    expect(lines).toEqual([{ message: "Usage batch refused by the API; dropped", level: "error" }]);
  });

  it("splits more apps than the API takes in one batch into several, in one round", async () => {
    const api = await fakeApi([]);
    servers.push(api.server);
    const r = new UsageReporter({ apiUrl: api.url, token: "t", intervalMs: 60_000, log: quiet().log, replica: "gw-d" });
    for (let i = 0; i < 2500; i++) r.counter.request("acme", `app-${i}`, 200);
    await r.tick();
    expect(api.received.map((x) => [x.batch.batch, x.batch.apps.length])).toEqual([
      ["gw-d:1", 1000],
      ["gw-d:2", 1000],
      ["gw-d:3", 500],
    ]);
  });

  it("sends what was counted when it stops (a clean shutdown loses nothing), and nothing on its own before the interval", async () => {
    const api = await fakeApi([]);
    servers.push(api.server);
    const r = new UsageReporter({ apiUrl: api.url, token: "t", intervalMs: 60_000, log: quiet().log, replica: "gw-e" });
    r.start();
    r.counter.request("acme", "wiki", 200);
    r.counter.wake("acme", "wiki");
    await new Promise((done) => setTimeout(done, 100));
    expect(api.received).toEqual([]);
    await r.stop();
    expect(api.received.map((x) => [x.batch.batch, x.batch.apps])).toEqual([
      ["gw-e:1", [{ org: "acme", app: "wiki", requests: 1, errors5xx: 0, wakes: 1 }]],
    ]);
  });

  it("gives each process its own replica id (a restart must not reuse its predecessor's batch ids)", () => {
    const a = new UsageReporter({ apiUrl: "http://x", token: "t", intervalMs: 1000, log: quiet().log });
    const b = new UsageReporter({ apiUrl: "http://x", token: "t", intervalMs: 1000, log: quiet().log });
    expect(a.replica).not.toBe(b.replica);
    expect(`${a.replica}:1`).toMatch(/^[A-Za-z0-9._-]{1,100}:[0-9]{1,15}$/);
  });
});
