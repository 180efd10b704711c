// What the gateway believes and what it passes on, through the real gateway process and the
// real API (its forward-auth endpoint) with raw sockets: forwarding fields only from trusted
// proxies, only Atrium's own credentials to the API, no answer that tells an outsider which
// apps exist, and no app that is not Public served without an access check (fail closed).
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { connect } from "node:net";
import { namespaceFor } from "@atrium/crds";
import { R } from "@atrium/kube";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { echoTemplate, type FakeApp, serveAppPods } from "../cluster/fake-pods.ts";
import { type GatewayProcess, startGateway } from "../cluster/gateway-process.ts";
import { freePorts } from "../cluster/ports.ts";
import { until } from "../cluster/until.ts";
import { startWorld, type World } from "./api/world.ts";

let w: World;
let gateway: GatewayProcess; // forward-auth through the recorder below; trusts 127.0.0.2 only
let unguarded: GatewayProcess; // no forward-auth configured
let recorder: Server;
const pods: FakeApp[] = [];
/** The headers of every request the API's forward-auth endpoint received from the gateway. */
const toApi: IncomingHttpHeaders[] = [];

/** One request on its own connection (from `localAddress`); status, headers and body of the answer. */
function raw(port: number, request: string, localAddress = "127.0.0.1") {
  return new Promise<{ status: number; head: string; body: string }>((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, localAddress });
    const parts: Buffer[] = [];
    socket.on("data", (d: Buffer) => parts.push(d));
    socket.on("error", reject);
    socket.on("end", () => {
      const text = Buffer.concat(parts).toString();
      const at = text.indexOf("\r\n\r\n");
      resolve({ status: Number(text.slice(9, 12)), head: text.slice(0, at), body: text.slice(at + 4) });
    });
    socket.write(request);
  });
}

const get = (path: string, headers: Record<string, string> = {}) =>
  `GET ${path} HTTP/1.1\r\nHost: app.example\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}Connection: close\r\n\r\n`;

beforeAll(async () => {
  const [gatewayPort] = (await freePorts(1)) as [number];
  w = await startWorld({ provider: "sqlite", env: { ATRIUM_GATEWAY_PUBLIC_URL: `http://127.0.0.1:${gatewayPort}` } });
  // Between the gateway and the API: records what the gateway sends, and passes it on.
  recorder = createServer(async (req, res) => {
    toApi.push(req.headers);
    const answer = await fetch(`${w.api.base}${req.url}`, {
      headers: Object.fromEntries(
        Object.entries(req.headers).filter(([k]) => k === "cookie" || k === "authorization"),
      ) as Record<string, string>,
    });
    res.writeHead(answer.status, Object.fromEntries(answer.headers));
    res.end(Buffer.from(await answer.arrayBuffer()));
  });
  const [recorderPort] = (await freePorts(1)) as [number];
  await new Promise<void>((r) => recorder.listen(recorderPort, "127.0.0.1", r));

  await w.kube.create(R.appTemplate, echoTemplate("echo-trust") as never);
  const app = async (org: string, name: string, policy: string) => {
    await w.kube.create(R.appInstance, {
      metadata: { name, namespace: namespaceFor(org) },
      spec: { template: "echo-trust", access: { policy }, idle: { policy: "AlwaysOn" } },
    } as never);
    pods.push(
      serveAppPods(w.kc, {
        namespace: namespaceFor(org),
        app: name,
        port: 8080,
        body: (_ip, _path, headers) => JSON.stringify(headers),
      }),
    );
  };
  await app(w.orgA, "pub", "Public");
  await app(w.orgA, "wiki", "Members");
  await app(w.orgB, "ledger", "Members");
  gateway = await startGateway({
    kubeconfig: w.kubeconfig,
    port: gatewayPort,
    env: {
      ATRIUM_GATEWAY_AUTH_URL: `http://127.0.0.1:${recorderPort}`,
      ATRIUM_GATEWAY_TRUSTED_PROXIES: "127.0.0.2/32, ::1/128",
    },
  });
  unguarded = await startGateway({ kubeconfig: w.kubeconfig });
  const member = { cookie: w.people.member.cookie };
  for (const [org, name, who] of [
    [w.orgA, "pub", {}],
    [w.orgA, "wiki", member],
    [w.orgB, "ledger", { cookie: w.outsider.cookie }],
  ] as const)
    await until(
      `${name} served`,
      async () => (await raw(gateway.port, get(`/apps/${org}/${name}/`, who))).status === 200,
      90_000,
    );
}, 400_000);

afterAll(async () => {
  await gateway?.kill();
  await unguarded?.kill();
  for (const p of pods) await p.stop();
  await new Promise((r) => (recorder ? recorder.close(r) : r(undefined)));
  await w?.stop();
});

describe("forwarding fields (X-Forwarded-*, X-Real-IP, Forwarded)", () => {
  const forged = {
    "X-Forwarded-For": "6.6.6.6",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.example",
    "X-Real-IP": "6.6.6.7",
    Forwarded: "for=6.6.6.8;proto=https",
  };
  const seenByApp = async (localAddress: string) => {
    const res = await raw(gateway.port, get(`/apps/${w.orgA}/pub/`, forged), localAddress);
    expect(res.status).toBe(200);
    const h = JSON.parse(res.body) as IncomingHttpHeaders;
    return [h["x-forwarded-for"], h["x-forwarded-proto"], h["x-forwarded-host"], h["x-real-ip"], h.forwarded];
  };

  it("are replaced with what the gateway saw when a client wrote them", async () => {
    expect(await seenByApp("127.0.0.1")).toEqual(["127.0.0.1", "http", "app.example", "127.0.0.1", undefined]);
  });

  it("are appended to or kept from a trusted proxy (ATRIUM_GATEWAY_TRUSTED_PROXIES)", async () => {
    expect(await seenByApp("127.0.0.2")).toEqual([
      "6.6.6.6, 127.0.0.2",
      "https",
      "evil.example",
      "6.6.6.7",
      "for=6.6.6.8;proto=https",
    ]);
  });
});

describe("forward-auth", () => {
  it("sends the API only Atrium's session cookie, and the app gets its own cookies and Authorization", async () => {
    const fresh = await w.login(w.people.member.email); // a session the gateway has not cached
    toApi.length = 0;
    const res = await raw(
      gateway.port,
      get(`/apps/${w.orgA}/wiki/`, {
        Cookie: `theme=dark; ${fresh.cookie}; app_sid=app-secret`,
        Authorization: "Basic YXBwOmFwcC1wYXNzd29yZA==",
      }),
    );
    expect(res.status).toBe(200);
    const app = JSON.parse(res.body) as IncomingHttpHeaders;
    expect([app.cookie, app.authorization, app["x-atrium-user"]]).toEqual([
      "theme=dark; app_sid=app-secret",
      "Basic YXBwOmFwcC1wYXNzd29yZA==",
      w.people.member.email,
    ]);
    const session = /atrium_session=[^;]*/.exec(fresh.cookie)?.[0];
    expect(toApi.map((h) => [h.cookie, h.authorization])).toEqual([[session, undefined]]);
  });

  // The same answer for an app that exists in another organization and for one that does not.
  const alike = async (ask: (app: string) => Promise<{ status: number; body: string }>, existing: string) => {
    const [known, unknown] = [await ask(existing), await ask("no-such-app")];
    return {
      known: { status: known.status, body: known.body.replaceAll(existing, "APP") },
      unknown: { status: unknown.status, body: unknown.body.replaceAll("no-such-app", "APP") },
    };
  };

  it("answers nobody, through the API, 401 for unknown apps and others' apps alike", async () => {
    const api = async (app: string) => {
      const res = await fetch(`${w.api.base}/api/forward-auth/${w.orgB}/${app}`);
      return { status: res.status, body: await res.text() };
    };
    const { known, unknown } = await alike(api, "ledger");
    expect(known).toEqual(unknown);
    expect(known.status).toBe(401);
  });

  it("answers another organization's member, through the API, 404 for unknown apps and others' apps alike", async () => {
    const api = async (app: string) => {
      const res = await fetch(`${w.api.base}/api/forward-auth/${w.orgA}/${app}`, {
        headers: { cookie: w.outsider.cookie },
      });
      return { status: res.status, body: await res.text() };
    };
    const { known, unknown } = await alike(api, "wiki");
    expect(known).toEqual(unknown);
    expect(known.status).toBe(404);
  });

  it("answers the same through the gateway: 401 to nobody, 404 to another organization's member", async () => {
    const through = (org: string, headers: Record<string, string>) => (app: string) =>
      raw(gateway.port, get(`/apps/${org}/${app}/`, headers));
    const anonymous = await alike(through(w.orgB, {}), "ledger");
    expect(anonymous.known).toEqual(anonymous.unknown);
    expect(anonymous.known.status).toBe(401);
    const outsider = await alike(through(w.orgA, { Cookie: w.outsider.cookie }), "wiki");
    expect(outsider.known).toEqual(outsider.unknown);
    expect(outsider.known.status).toBe(404);
  });
});

describe("without forward-auth configured", () => {
  it("serves Public apps and refuses the others (fail closed) without reaching them", async () => {
    expect((await raw(unguarded.port, get(`/apps/${w.orgA}/pub/`))).status).toBe(200);
    const wiki = pods[1] as FakeApp;
    const before = wiki.requests;
    const res = await raw(unguarded.port, get(`/apps/${w.orgA}/wiki/`, { Cookie: w.people.member.cookie }));
    expect(res.status).toBe(503);
    expect(res.body).toContain("Access control is not configured");
    expect(wiki.requests).toBe(before);
  });
});
