import { type AddressInfo, createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { closingAnswer, statusOfAnswer } from "./refusal.ts";

const AT = new Date("2026-12-01T20:00:00Z");

describe("closingAnswer", () => {
  it("is a whole HTTP/1.1 answer: status line, type, length of the body's bytes, date, Connection: close", () => {
    const answer = closingAnswer(402, { type: "application/json", text: '{"message":"Pay – now"}' }, {}, AT);
    const [head, body] = answer.toString("utf8").split("\r\n\r\n") as [string, string];
    expect(head.split("\r\n")).toEqual([
      "HTTP/1.1 402 Payment Required",
      "content-type: application/json",
      `content-length: ${Buffer.byteLength('{"message":"Pay – now"}')}`,
      "date: Tue, 01 Dec 2026 20:00:00 GMT",
      "connection: close",
    ]);
    expect(body).toBe('{"message":"Pay – now"}'); // a multi-byte dash: bytes counted, not characters
  });

  it("takes the gateway's extra fields, never one that would split the head or reframe the body", () => {
    const answer = closingAnswer(
      503,
      { type: "text/plain", text: "later\n" },
      { "retry-after": "5", "x-bad": "a\r\nset-cookie: x=1", "content-length": "0", Connection: "keep-alive" },
      AT,
    ).toString("latin1");
    expect(answer).toContain("\r\nretry-after: 5\r\n");
    expect(answer).not.toContain("x-bad");
    expect(answer).not.toContain("keep-alive");
    expect(answer.match(/content-length/g)).toHaveLength(1);
    expect(answer.startsWith("HTTP/1.1 503 Service Unavailable\r\n")).toBe(true);
  });

  it("is read by node:http's strict client as one complete response", async () => {
    const text = JSON.stringify({ error: "payment_required" });
    const server = createServer((socket) => {
      socket.once("data", () => socket.end(closingAnswer(402, { type: "application/json", text }, {}, AT)));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${port}/`);
      expect([res.status, res.headers.get("connection"), await res.text()]).toEqual([402, "close", text]);
    } finally {
      server.close();
    }
  });
});

describe("statusOfAnswer", () => {
  it("reads an app's answer to an upgrade off its first bytes; anything else is a 502", () => {
    expect(statusOfAnswer(Buffer.from("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"))).toBe(101);
    expect(statusOfAnswer(Buffer.from("HTTP/1.0 403 Forbidden\r\n"))).toBe(403);
    expect(statusOfAnswer(Buffer.from("HTTP/1.1 426\r\n"))).toBe(426);
    expect(statusOfAnswer(Buffer.from("SSH-2.0-OpenSSH\r\n"))).toBe(502);
    expect(statusOfAnswer(Buffer.from("HTTP/1.1 9999 x"))).toBe(502);
  });
});
