// What the real gateway process answers when it cannot or must not forward: the 402 of an unpaid
// app (with the way to the console's billing), WebSocket upgrades it refuses (each a well-formed
// HTTP/1.1 answer on the raw socket), and which EndpointSlice endpoints it forwards to while a
// pod terminates (ready first, serving-and-terminating only when nothing else is there). On a
// private real apiserver, without the operator: the AppInstances, templates and EndpointSlices
// are written here, and the "pods" are HTTP servers on loopback addresses.

import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { KubeClient, type KubeObject, R } from "@atrium/kube";
import { KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, startControlPlane } from "../cluster/controlplane.ts";
import { echoTemplate } from "../cluster/fake-pods.ts";
import { type GatewayProcess, startGateway } from "../cluster/gateway-process.ts";
import { installCrds } from "../cluster/install.ts";
import { freePorts } from "../cluster/ports.ts";
import { type Obj, until } from "./kube.ts";

const A = "atrium.dev/v1alpha1";
const ORG = "refuse";
const NS = `org-${ORG}`;
const CONSOLE = "https://console.atrium.test";
let cp: ControlPlane;
let objects: KubernetesObjectApi;
/** Writes AppInstance status as the operator does (server-side apply on the subresource). */
let w: KubeClient;
let gateway: GatewayProcess;
let podPort: number;
/** Four pod addresses: [ready, deleted then draining, never listening, starting]. */
let ip: [string, string, string, string];
const servers: Server[] = [];

/**
 * Addresses for the "pods": the apiserver refuses loopback ones in a slice, so they come from the
 * end of this control plane's own pod range (198.18.x.0/20, routed to the loopback device, read
 * from KWOK's command line), which KWOK hands out from its start and no other cluster uses; the
 * harness's lock address is the range's very last .254.
 */
function podAddresses(): string[] {
  const args = readFileSync(`/proc/${cp.pids.kwok}/cmdline`, "utf8").split("\0");
  const cidr = args.find((a) => a.startsWith("--cidr="))?.slice("--cidr=".length) ?? "";
  const [a, b, c] = cidr.split(".").map(Number) as [number, number, number];
  return [240, 241, 242, 243].map((d) => `${a}.${b}.${c + 15}.${d}`);
}

/** An HTTP server standing for a pod at `ip`, answering with its address. */
async function pod(address: string): Promise<Server> {
  const server = createServer((_req, res) => res.end(`pod ${address}`));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(podPort, address, resolve);
  });
  servers.push(server);
  return server;
}

type Conditions = { ready?: boolean; serving?: boolean; terminating?: boolean };

/** The app Service's EndpointSlice as the controller-manager writes it (labels the gateway watches). */
async function slice(app: string, endpoints: { ip: string; conditions: Conditions }[]) {
  const object = {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `${app}-abcde`,
      namespace: NS,
      labels: { "kubernetes.io/service-name": app, "app.kubernetes.io/managed-by": "atrium-operator" },
    },
    addressType: "IPv4",
    ports: [{ name: "http", port: podPort, protocol: "TCP" }],
    endpoints: endpoints.map((e) => ({ addresses: [e.ip], conditions: e.conditions })),
  };
  const existing = await objects.read(object).catch(() => undefined);
  if (existing) await objects.replace({ ...object, metadata: { ...object.metadata, ...existing.metadata } });
  else await objects.create(object);
}

async function app(name: string, template: string, policy: "Public" | "Members" = "Public") {
  await objects.create({
    apiVersion: A,
    kind: "AppInstance",
    metadata: { name, namespace: NS },
    spec: { template, access: { policy }, idle: { policy: "Auto", timeout: "1h" } },
  } as Obj);
}

type RawAnswer = { statusLine: string; headers: Map<string, string[]>; body: Buffer; closed: boolean };

/** A WebSocket upgrade on a raw socket; everything the gateway writes until it closes, parsed by hand. */
function upgrade(path: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(gateway.port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no end of the answer to ${path} within 10 s: ${Buffer.concat(chunks).toString("latin1")}`));
    }, 10_000);
    socket.on("data", (d) => chunks.push(d));
    socket.on("error", reject);
    socket.on("end", () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const end = all.indexOf("\r\n\r\n");
      const [statusLine = "", ...lines] = all
        .subarray(0, end < 0 ? all.length : end)
        .toString("latin1")
        .split("\r\n");
      const headers = new Map<string, string[]>();
      for (const line of lines) {
        const colon = line.indexOf(":");
        const name = line.slice(0, colon).toLowerCase();
        headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
      }
      resolve({ statusLine, headers, body: end < 0 ? Buffer.alloc(0) : all.subarray(end + 4), closed: true });
      socket.destroy();
    });
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${gateway.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
  });
}

/** What any well-formed refusal has: RFC 9112 status line, one type, one length that frames the body, close. */
function expectWellFormed(answer: RawAnswer, status: number) {
  expect(answer.statusLine).toMatch(new RegExp(`^HTTP/1\\.1 ${status} [A-Za-z][A-Za-z -]*$`));
  expect(answer.headers.get("content-type")).toHaveLength(1);
  expect(answer.headers.get("content-length")).toEqual([String(answer.body.length)]);
  expect(answer.headers.get("connection")).toEqual(["close"]);
  expect(answer.headers.get("date")).toHaveLength(1);
  expect(answer.closed).toBe(true);
}

beforeAll(async () => {
  cp = await startControlPlane();
  installCrds(cp);
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  objects = KubernetesObjectApi.makeApiClient(kc);
  w = new KubeClient(kc, { fieldManager: "atrium-operator" });
  [podPort] = (await freePorts(1)) as [number];
  ip = podAddresses() as typeof ip;
  await objects.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
  await objects.create(echoTemplate("free-echo") as Obj);
  const paid = echoTemplate("paid-echo");
  await objects.create({
    ...paid,
    spec: {
      ...paid.spec,
      pricing: { trialDays: 0, plans: [{ id: "monthly", interval: "monthly", amount: 900, currency: "EUR" }] },
    },
  } as Obj);
  await app("unpaid", "paid-echo");
  await app("private", "free-echo", "Members");
  await app("moving", "free-echo");
  await app("gone", "free-echo");
  gateway = await startGateway({
    kubeconfig: cp.kubeconfig,
    env: {
      ATRIUM_CONSOLE_URL: CONSOLE,
      ATRIUM_GATEWAY_WAKE_TIMEOUT_MS: "1000",
      ATRIUM_GATEWAY_STARTING_PAGE: "false",
      ATRIUM_GATEWAY_FLUSH_INTERVAL_MS: "500",
    },
  });
  await until("the gateway's caches", async () =>
    (await fetch(`${gateway.url}/apps/${ORG}/unpaid/`)).status === 402 ? true : undefined,
  );
});

afterAll(async () => {
  for (const s of servers) s.close();
  await gateway?.kill();
  await cp?.stop();
});

describe("the 402 of an unpaid app", () => {
  it("links the page to the organization's billing in the console, and gives JSON clients its URL", async () => {
    const page = await fetch(`${gateway.url}/apps/${ORG}/unpaid/`, { headers: { accept: "text/html" } });
    expect(page.status).toBe(402);
    expect(await page.text()).toContain(`<a href="${CONSOLE}/orgs/${ORG}/billing">`);
    const json = await fetch(`${gateway.url}/apps/${ORG}/unpaid/api`, { headers: { accept: "application/json" } });
    expect(json.status).toBe(402);
    expect(await json.json()).toMatchObject({
      error: "payment_required",
      reason: "AwaitingSubscription",
      billingUrl: `${CONSOLE}/orgs/${ORG}/billing`,
    });
  });
});

describe("refused WebSocket upgrades", () => {
  it("answers an unpaid app's upgrade with a whole 402: the JSON a plain request gets, framed, then closes", async () => {
    const refused = () =>
      gateway.metric("atrium_gateway_requests_total", (l) => l.includes(`app="unpaid"`) && l.includes(`code="402"`));
    const before = await refused();
    const answer = await upgrade(`/apps/${ORG}/unpaid/socket`);
    expectWellFormed(answer, 402);
    // Counted as the app's request, as a plain request's refusal is.
    expect((await refused()) - before).toBe(1);
    expect(answer.statusLine).toBe("HTTP/1.1 402 Payment Required");
    expect(answer.headers.get("content-type")).toEqual(["application/json"]);
    expect(answer.headers.get("cache-control")).toEqual(["no-store"]);
    expect(JSON.parse(answer.body.toString("utf8"))).toMatchObject({
      error: "payment_required",
      billingUrl: `${CONSOLE}/orgs/${ORG}/billing`,
    });
  });

  it("answers unknown apps, paths naming no app, and apps it may not check access to the same way", async () => {
    const unknown = await upgrade(`/apps/${ORG}/nothing-here/socket`);
    expectWellFormed(unknown, 404);
    expect(unknown.statusLine).toBe("HTTP/1.1 404 Not Found");
    expect(unknown.body.toString()).toContain("There is no app nothing-here");
    expectWellFormed(await upgrade("/not-an-app"), 404);
    // Members only, and this gateway has no forward-auth: refused (fail closed), with Retry-After.
    const members = await upgrade(`/apps/${ORG}/private/socket`);
    expectWellFormed(members, 503);
    expect(members.headers.get("retry-after")).toHaveLength(1);
  });

  it("answers 502 when the app's endpoint takes no connection", async () => {
    await slice("gone", [{ ip: ip[2], conditions: { ready: true } }]); // nothing listens there
    const answer = await until("the gone app's endpoint known", async () => {
      const a = await upgrade(`/apps/${ORG}/gone/socket`);
      return a.statusLine.includes(" 503 ") ? undefined : a; // 503: no endpoint yet (a wake)
    });
    expectWellFormed(answer, 502);
  });
});

describe("endpoints of terminating pods", () => {
  it("forwards only to the ready endpoint while a deleted pod's endpoint is still listed", async () => {
    await pod(ip[0]);
    // ip[1] is a deleted pod: nothing listens there any more. Its endpoint says terminating
    // and serving, and nothing about ready (another writer, or a slice not yet updated).
    await slice("moving", [
      { ip: ip[0], conditions: { ready: true, serving: true, terminating: false } },
      { ip: ip[1], conditions: { serving: true, terminating: true } },
    ]);
    await until("the moving app served", async () =>
      (await fetch(`${gateway.url}/apps/${ORG}/moving/`)).status === 200 ? true : undefined,
    );
    const answers: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${gateway.url}/apps/${ORG}/moving/`);
      answers.push(`${res.status} ${await res.text()}`);
    }
    expect(answers).toEqual(Array(20).fill(`200 pod ${ip[0]}`));
  });

  it("falls back to a pod that still serves while terminating when no endpoint is ready, unless its app is stopping", async () => {
    // A one-replica rollout: the old pod drains (still serving), its successor is not ready yet.
    await pod(ip[1]);
    await slice("moving", [
      { ip: ip[1], conditions: { ready: false, serving: true, terminating: true } },
      { ip: ip[3], conditions: { ready: false, serving: false, terminating: false } },
    ]);
    const res = await until(
      "the draining pod answers",
      async () => {
        const r = await fetch(`${gateway.url}/apps/${ORG}/moving/`);
        const text = await r.text();
        return text === `pod ${ip[1]}` ? r : undefined;
      },
      15_000,
    );
    expect(res.status).toBe(200);
    // Not for an app on its way to zero: its draining pod is no way to it, the request wakes it
    // instead (held, then 503 here, where no operator starts it).
    await w.apply(
      R.appInstance,
      { metadata: { name: "moving", namespace: NS }, status: { phase: "Stopping" } } as KubeObject,
      { subresource: "status" },
    );
    const woken = await until("the stopping app's request held for a wake", async () => {
      const r = await fetch(`${gateway.url}/apps/${ORG}/moving/`);
      await r.text();
      return r.status === 503 ? r : undefined;
    });
    expect(woken.headers.get("retry-after")).not.toBeNull();
    await w.apply(
      R.appInstance,
      { metadata: { name: "moving", namespace: NS }, status: { phase: "Running" } } as KubeObject,
      { subresource: "status" },
    );
    await until("the running app's draining pod used again", async () => {
      const r = await fetch(`${gateway.url}/apps/${ORG}/moving/`);
      return (await r.text()) === `pod ${ip[1]}` ? true : undefined;
    });
    // Once it no longer serves either, nothing is used: the request waits for a wake (503 here).
    await slice("moving", [{ ip: ip[1], conditions: { ready: false, serving: false, terminating: true } }]);
    const after = await until("the draining pod dropped", async () => {
      const r = await fetch(`${gateway.url}/apps/${ORG}/moving/`);
      await r.text();
      return r.status === 503 ? r : undefined;
    });
    expect(after.status).toBe(503);
  });
});
