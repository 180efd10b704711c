// Usage metering end to end, on SQLite and on PostgreSQL: the real API assembly, the real
// operator and two real gateway processes reporting usage batches, KWOK pods with real HTTP
// servers at their addresses. A known number of requests shows in the day's series exactly
// once, though one gateway's first batch is answered 503 after the API counted it (so it is
// sent again with the same id) and two gateways report; an idle stop and the next wake show as
// stopped and running time with their causes.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { namespaceFor } from "@atrium/crds";
import { type KubeObject, R } from "@atrium/kube";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APP_METRIC_COLUMNS } from "../../api/src/usage/hours.ts";
import { type ApiStack, call, startApi } from "../cluster/api-stack.ts";
import { echoTemplate, type FakeApp, serveAppPods } from "../cluster/fake-pods.ts";
import { type GatewayProcess, startGateway } from "../cluster/gateway-process.ts";
import { until } from "../cluster/until.ts";
import { startWorld, type World } from "./api/world.ts";

const TOKEN = "usage-token-for-tests-0123456789";
const GIB = 2 ** 30;

type App = KubeObject & { status?: { phase?: string; stoppedAt?: string; wokenAt?: string; startedAt?: string } };

/**
 * Between gateway A and the API: once armed, the next usage batch reaches the API (which counts
 * it), but its answer is replaced by a 503, as when the API's answer is lost on the way back;
 * the gateway must send it again, with the same id. Everything else passes through.
 */
async function losingAnAnswer(apiBase: string) {
  const batches: { id: string; status: number }[] = [];
  let armed = false;
  const server: Server = createServer(async (req, res) => {
    const parts: Buffer[] = [];
    for await (const p of req) parts.push(p as Buffer);
    const body = Buffer.concat(parts);
    const upstream = await fetch(apiBase + (req.url ?? "/"), {
      method: req.method ?? "GET",
      headers: Object.fromEntries(
        Object.entries(req.headers).filter(([k]) => !["host", "connection", "content-length"].includes(k)),
      ) as Record<string, string>,
      ...(body.length ? { body } : {}),
    });
    const answer = Buffer.from(await upstream.arrayBuffer());
    if (req.url === "/api/usage/batches") {
      const id = JSON.parse(body.toString()).batch as string;
      const status = armed ? 503 : upstream.status;
      armed = false;
      batches.push({ id, status });
      if (status === 503) return void res.writeHead(503, { "content-type": "text/plain" }).end("lost");
    }
    res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "text/plain" });
    res.end(answer);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    batches,
    arm: () => {
      armed = true;
    },
    stop: () => new Promise((r) => server.close(r)),
  };
}

describe.each(["sqlite", "postgresql"] as const)("usage metering (%s)", (provider) => {
  let w: World;
  let gatewayA: GatewayProcess;
  let gatewayB: GatewayProcess;
  let proxy: Awaited<ReturnType<typeof losingAnAnswer>>;
  const fakes: FakeApp[] = [];

  beforeAll(async () => {
    w = await startWorld({ provider, env: { ATRIUM_USAGE_TOKEN: TOKEN } });
    proxy = await losingAnAnswer(w.api.base);
    const env = (api: string) => ({
      ATRIUM_GATEWAY_AUTH_URL: api,
      ATRIUM_USAGE_TOKEN: TOKEN,
      ATRIUM_USAGE_INTERVAL_MS: "300",
      ATRIUM_GATEWAY_FLUSH_INTERVAL_MS: "500",
      ATRIUM_GATEWAY_WAKE_TIMEOUT_MS: "30000",
    });
    [gatewayA, gatewayB] = await Promise.all([
      startGateway({ kubeconfig: w.kubeconfig, env: env(proxy.url) }),
      startGateway({ kubeconfig: w.kubeconfig, env: env(w.api.base) }),
    ]);
    await w.kube.create(R.appTemplate, echoTemplate() as never);
  }, 300_000);

  afterAll(async () => {
    for (const f of fakes) await f.stop();
    await gatewayA?.kill();
    await gatewayB?.kill();
    await proxy?.stop();
    await w?.stop();
  });

  const prisma = () => w.api.db.prisma;
  const usage = () => w.api.services.usage;
  const read = (org: string, name: string) => w.kube.get<App>(R.appInstance, name, namespaceFor(org));
  /** An app's metric is a column of its UsageAppHour rows; the organization's (app "") a UsageHour row. */
  const hourSum = async (org: string, app: string, metric: string) =>
    app
      ? (await prisma().usageAppHour.findMany({ where: { org, app } })).reduce(
          (n, r) => n + r[APP_METRIC_COLUMNS[metric as keyof typeof APP_METRIC_COLUMNS]],
          0,
        )
      : (await prisma().usageHour.findMany({ where: { org, app, metric } })).reduce((n, r) => n + r.value, 0);
  const daySum = async (org: string, app: string, metric: string) =>
    (await prisma().usageDay.findMany({ where: { org, app, metric } })).reduce((n, r) => n + r.value, 0);

  async function install(org: string, name: string, idle: Record<string, string>) {
    await w.kube.create(R.appInstance, {
      metadata: { name, namespace: namespaceFor(org) },
      spec: { template: "echo", access: { policy: "Public" }, idle, resources: { cpu: "250m", memory: "256Mi" } },
    } as never);
    fakes.push(serveAppPods(w.kc, { namespace: namespaceFor(org), app: name, port: 8080 }));
  }

  it("counts a known number of requests through two gateways once, though a batch is sent twice", async () => {
    const org = w.orgA;
    await install(org, "counted", { policy: "AlwaysOn" });
    const via = (g: GatewayProcess, path = "/") => fetch(`${g.url}/apps/${org}/counted${path}`);
    await until("counted served by both gateways", async () => {
      const [a, b] = await Promise.all([via(gatewayA), via(gatewayB)]);
      await Promise.all([a.arrayBuffer(), b.arrayBuffer()]);
      return a.status === 200 && b.status === 200;
    });
    // The warm-up requests above count too: start from what is recorded once it settles.
    await until(
      "warm-up counted",
      async () => (await hourSum(org, "counted", "requests")) > 0 && proxy.batches.length > 0,
    );
    const settle = async () => {
      let previous = -1;
      return until("counts settled", async () => {
        const now = await hourSum(org, "counted", "requests");
        const same = now === previous;
        previous = now;
        await new Promise((r) => setTimeout(r, 800));
        return same ? now : undefined;
      });
    };
    const before = await settle();
    const seen = proxy.batches.length;
    proxy.arm(); // the batch with the requests below is counted, but its answer lost
    const [fromA, fromB] = [37, 23];
    for (let i = 0; i < fromA; i++) await (await via(gatewayA)).arrayBuffer();
    for (let i = 0; i < fromB; i++) await (await via(gatewayB)).arrayBuffer();
    await until(
      "every request counted",
      async () => (await hourSum(org, "counted", "requests")) >= before + fromA + fromB,
    );
    expect(await settle()).toBe(before + fromA + fromB);

    // Gateway A's batch was counted by the API, its answer lost (503): sent again, same id.
    const lost = proxy.batches[seen];
    expect(lost?.status).toBe(503);
    expect(proxy.batches[seen + 1]).toEqual({ id: lost?.id, status: 200 });
    expect(await prisma().usageBatch.findUnique({ where: { id: lost?.id as string } })).not.toBeNull();

    // The day's series: the rollup (twice, and twice at once as two replicas would) says the same.
    await usage().rollup();
    await usage().rollup();
    await Promise.all([usage().rollup(), usage().rollup()]);
    expect(await daySum(org, "counted", "requests")).toBe(before + fromA + fromB);
    expect(await prisma().usageDay.count({ where: { org, app: "counted", metric: "requests" } })).toBe(1);
  });

  it("takes the same batch once, even posted twice at once; refuses a wrong or missing token (401)", async () => {
    const org = w.orgA;
    const batch = {
      batch: `test-${provider}:1`,
      from: new Date(Date.now() - 60_000).toISOString(),
      to: new Date().toISOString(),
      apps: [{ org, app: "posted", requests: 5, errors5xx: 2, wakes: 1 }],
    };
    const post = (token: string | undefined, body: unknown = batch) =>
      fetch(`${w.api.base}/api/usage/batches`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
    const answers = await Promise.all([post(TOKEN), post(TOKEN)]);
    const bodies = (await Promise.all(answers.map((a) => a.json()))) as { accepted: boolean }[];
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(bodies.map((b) => b.accepted).sort()).toEqual([false, true]);
    expect(await (await post(TOKEN)).json()).toEqual({ accepted: false });
    expect(await hourSum(org, "posted", "requests")).toBe(5);
    expect(await hourSum(org, "posted", "errors_5xx")).toBe(2);
    expect(await hourSum(org, "posted", "wakes")).toBe(1);
    // One row for the app's hour, holding the three counts (a batch writes one row per app).
    expect(
      (await prisma().usageAppHour.findMany({ where: { org, app: "posted" } })).map((r) => [
        r.hour.getTime() % 3_600_000,
        r.requests,
        r.errors5xx,
        r.wakes,
        r.runningSeconds,
      ]),
    ).toEqual([[0, 5, 2, 1, 0]]);

    const wrong = await post("not-the-token", { ...batch, batch: `test-${provider}:2` });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as any).error).toEqual({ code: "unauthenticated", message: "Wrong usage token" });
    expect((await post(undefined, { ...batch, batch: `test-${provider}:3` })).status).toBe(401);
    // An API key is not the usage token either.
    expect((await post("atr_sk_000000000000_x", { ...batch, batch: `test-${provider}:4` })).status).toBe(401);
    expect(await hourSum(org, "posted", "requests")).toBe(5);

    // Bad bodies: field-level errors.
    const bad = await post(TOKEN, { ...batch, batch: "no sequence", apps: [{ org: "UPPER", app: "x", requests: -1 }] });
    expect(bad.status).toBe(422);
    const paths = ((await bad.json()) as any).error.fields.map((f: { path: string }) => f.path);
    expect(paths).toEqual(expect.arrayContaining(["/body/batch", "/body/apps/0/org", "/body/apps/0/requests"]));
    const backwards = await post(TOKEN, { ...batch, batch: `test-${provider}:5`, from: batch.to, to: batch.from });
    expect(backwards.status).toBe(422);
  });

  it("refuses every batch when the API has no usage token (fail closed)", async () => {
    const bare: ApiStack = await startApi({ kubeconfig: w.kubeconfig, quiet: true });
    try {
      for (const token of [TOKEN, ""]) {
        const r = await call(bare.base, token ? { key: token } : {}, "POST", "/api/usage/batches", {
          batch: "x:1",
          from: new Date().toISOString(),
          to: new Date().toISOString(),
          apps: [],
        });
        expect(r.status).toBe(401);
        expect(r.body.error.message).toContain("ATRIUM_USAGE_TOKEN");
      }
    } finally {
      await bare.stop();
    }
  });

  it("records an idle stop and the next wake: stopped-idle time at the app's requests, then running again", async () => {
    const org = w.orgA;
    await install(org, "sleepy", { policy: "Auto", timeout: "2s" });
    const stopped = await until(
      "sleepy stopped for idleness",
      async () => {
        const app = await read(org, "sleepy");
        return app?.status?.phase === "Stopped" ? app : undefined;
      },
      90_000,
    );
    await until("the stop recorded", async () =>
      prisma().appTransition.findFirst({ where: { org, app: "sleepy", kind: "stop" } }),
    );
    await new Promise((r) => setTimeout(r, 1500)); // some stopped time
    // The endpoints must be gone, or the gateway sends the request to the deleted pod (gateway/README.md).
    await until("sleepy's endpoints gone", async () => {
      const slices = await w.kube.list<KubeObject & { endpoints?: { conditions?: { ready?: boolean } }[] }>(
        R.endpointSlice,
        { namespace: namespaceFor(org), labelSelector: "kubernetes.io/service-name=sleepy" },
      );
      return slices.items.flatMap((s) => s.endpoints ?? []).every((e) => e.conditions?.ready === false) || undefined;
    });
    const woke = await fetch(`${gatewayB.url}/apps/${org}/sleepy/`);
    expect(woke.status).toBe(200);
    await woke.arrayBuffer();
    const transitions = await until("the wake recorded", async () => {
      const rows = await prisma().appTransition.findMany({ where: { org, app: "sleepy" }, orderBy: { at: "asc" } });
      return rows.length >= 3 ? rows : undefined;
    });
    expect(transitions.map((t) => `${t.kind}:${t.cause}`)).toEqual(["start:install", "stop:idle", "start:wake"]);
    const [installed, stop, wake] = transitions as [
      (typeof transitions)[0],
      (typeof transitions)[0],
      (typeof transitions)[0],
    ];
    // At the status times (which the operator may write again a second later when its cache lags).
    expect(Math.abs(stop.at.getTime() - Date.parse(stopped.status?.stoppedAt as string))).toBeLessThanOrEqual(1000);
    expect(stop).toMatchObject({ cpuMillis: 250, memoryBytes: 256 * 2 ** 20 });
    const app = await read(org, "sleepy");
    expect(Math.abs(wake.at.getTime() - Date.parse(app?.status?.wokenAt as string))).toBeLessThanOrEqual(1000);

    await usage().rollup();
    const idleSeconds = (wake.at.getTime() - stop.at.getTime()) / 1000;
    expect(idleSeconds).toBeGreaterThan(0);
    expect(await hourSum(org, "sleepy", "stopped_idle_seconds")).toBeCloseTo(idleSeconds, 6);
    expect(await hourSum(org, "sleepy", "stopped_idle_cpu_core_seconds")).toBeCloseTo(idleSeconds * 0.25, 6);
    expect(await hourSum(org, "sleepy", "stopped_idle_gib_seconds")).toBeCloseTo(
      (idleSeconds * 256 * 2 ** 20) / GIB,
      6,
    );
    // Running: from the install to the stop, and from the wake until the rollup.
    const running = await hourSum(org, "sleepy", "running_seconds");
    const before = (stop.at.getTime() - installed.at.getTime()) / 1000;
    expect(running).toBeGreaterThan(before);
    expect(running).toBeLessThanOrEqual(before + (Date.now() - wake.at.getTime()) / 1000);
    // The wake is in the gateway's batch too, and all of it in the day's rows once rolled up.
    await until("the wake counted by the gateway", async () => (await hourSum(org, "sleepy", "wakes")) === 1);
    await usage().rollup();
    expect(await daySum(org, "sleepy", "wakes")).toBe(1);
    expect(await daySum(org, "sleepy", "stopped_idle_seconds")).toBeCloseTo(idleSeconds, 6);

    // The watch relisting (every app again, as after a restart) records nothing twice.
    for (const a of w.api.services.installs.inOrg(org)) await usage().observe("added", a);
    expect(await prisma().appTransition.count({ where: { org, app: "sleepy" } })).toBe(3);
  });

  it("counts the API's own calls per key type and status class, and the members active that day", async () => {
    const org = w.orgA;
    const metricSum = async (metric: string) => {
      await usage().flush();
      return hourSum(org, "", metric);
    };
    const sessions = await metricSum("api_calls:session:2xx");
    const notFound = await metricSum("api_calls:session:4xx");
    for (let i = 0; i < 4; i++)
      expect((await w.call(w.people.viewer, "GET", `/api/orgs/${org}/members`)).status).toBe(200);
    expect((await w.call(w.people.viewer, "GET", `/api/orgs/${org}/members/nobody-here`)).status).toBe(404);
    // An outsider's calls naming the org are not the org's.
    expect((await w.call(w.outsider, "GET", `/api/orgs/${org}/members`)).status).toBe(404);
    const created = await w.call(w.people.admin, "POST", `/api/orgs/${org}/apikeys`, {
      name: `usage-${provider}`,
      type: "AI_AGENT",
      scopes: ["members:view"],
    });
    expect(created.status).toBe(201);
    const keys = await metricSum("api_calls:AI_AGENT:2xx");
    for (let i = 0; i < 3; i++)
      expect((await w.call({ key: created.body.secret }, "GET", `/api/orgs/${org}/members`)).status).toBe(200);
    expect(await metricSum("api_calls:session:2xx")).toBe(sessions + 4 + 1); // + the admin's key creation
    expect(await metricSum("api_calls:session:4xx")).toBe(notFound + 1);
    expect(await metricSum("api_calls:AI_AGENT:2xx")).toBe(keys + 3);
    const active = await prisma().activeMember.findMany({ where: { org } });
    expect(active.map((a) => a.user)).toEqual(expect.arrayContaining([w.people.viewer.email, w.people.admin.email]));
    expect(active.map((a) => a.user)).not.toContain(w.outsider.email);
    await usage().rollup();
    expect(await daySum(org, "", "members_active")).toBe(new Set(active.map((a) => a.user)).size);
  });

  it("deletes hourly rows and batch ids after 35 days, daily rows after 25 months", async () => {
    const now = Date.now();
    const DAY = 86_400_000;
    const old = { org: "retention", app: "x", metric: "requests", value: 1 };
    await prisma().usageHour.createMany({
      data: [
        { ...old, hour: new Date(now - 36 * DAY) },
        { ...old, hour: new Date(now - 34 * DAY) },
      ],
    });
    await prisma().usageDay.createMany({
      data: [
        { ...old, day: new Date(now - 800 * DAY) },
        { ...old, day: new Date(now - 700 * DAY) },
      ],
    });
    await prisma().usageBatch.create({ data: { id: `old-${provider}:1`, receivedAt: new Date(now - 36 * DAY) } });
    await prisma().usageAppHour.createMany({
      data: [
        { org: "retention", app: "x", hour: new Date(now - 36 * DAY), requests: 1 },
        { org: "retention", app: "x", hour: new Date(now - 34 * DAY), requests: 1 },
      ],
    });
    await usage().retention(now);
    expect((await prisma().usageHour.findMany({ where: { org: "retention" } })).length).toBe(1);
    expect((await prisma().usageAppHour.findMany({ where: { org: "retention" } })).length).toBe(1);
    expect((await prisma().usageDay.findMany({ where: { org: "retention" } })).length).toBe(1);
    expect(await prisma().usageBatch.findUnique({ where: { id: `old-${provider}:1` } })).toBeNull();
  });
});
