// The apps API end to end: the real API assembly with logged-in people (world.ts), the real
// operator and gateway processes, KWOK pods with real HTTP servers at their addresses
// (fake-pods.ts) and KWOK serving pods/log from a file. Templates here are free (no pricing).
import { appendFileSync } from "node:fs";
import { namespaceFor } from "@atrium/crds";
import { isNotFound, R } from "@atrium/kube";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Caller } from "../cluster/api-stack.ts";
import { echoTemplate, type FakeApp, serveAppPods } from "../cluster/fake-pods.ts";
import { type GatewayProcess, startGateway } from "../cluster/gateway-process.ts";
import { until } from "../cluster/until.ts";
import { startWorld, type World } from "./api/world.ts";

const SECRET = "tok-S3CRET-never-shown-9f8e7d";
const SECRET2 = "tok-S3CRET-rotated-1a2b3c";
const ECHO = "apps-echo";
const FILES = "apps-files";

let w: World;
let gateway: GatewayProcess;
let ns: string;
let org: string;
let admin: Caller;
const fakes: FakeApp[] = [];

const api = (who: Caller, method: string, path: string, body?: unknown) =>
  w.call(who, method, `/api/orgs/${org}${path}`, body);
const appObj = (name: string) => w.kube.get<any>(R.appInstance, name, ns);
const deployment = (name: string) => w.kube.get<any>(R.deployment, name, ns);
const replicaSets = async (name: string) =>
  (
    await w.kube.list<any>(
      { group: "apps", version: "v1", plural: "replicasets", kind: "ReplicaSet", namespaced: true },
      {
        namespace: ns,
        labelSelector: `app.kubernetes.io/instance=${name}`,
      },
    )
  ).items;
const phase = (name: string, want: string, timeoutMs = 60_000) =>
  until(`${name} ${want}`, async () => (await appObj(name))?.status?.phase === want, timeoutMs);

/** Reads a Server-Sent Events stream until `done` says so; returns the events seen. */
async function sse(
  path: string,
  who: Caller,
  done: (events: Array<{ event: string; data: any }>) => boolean,
  onOpen?: () => void,
  timeoutMs = 60_000,
) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const res = await fetch(`${w.api.base}/api/orgs/${org}${path}`, {
    headers: { cookie: who.cookie as string, accept: "text/event-stream" },
    signal: controller.signal,
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/event-stream");
  onOpen?.();
  const events: Array<{ event: string; data: any }> = [];
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end = buffer.indexOf("\n\n");
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data !== undefined) events.push({ event, data: JSON.parse(data) });
        end = buffer.indexOf("\n\n");
      }
      if (done(events)) break;
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return events;
}

beforeAll(async () => {
  w = await startWorld({ provider: "sqlite" });
  org = w.orgA;
  ns = namespaceFor(org);
  admin = w.people.admin;
  const echo = echoTemplate(ECHO) as any;
  echo.spec.env = [
    { name: "GREETING", default: "hello" },
    { name: "API_TOKEN", secret: true, required: true },
    { name: "SESSION_KEY", secret: true, generated: true },
  ];
  const files = echoTemplate(FILES) as any;
  files.spec.storage = { size: "1Gi", mountPath: "/data" };
  for (const t of [echo, files]) await w.kube.create(R.appTemplate, t);
  await until(
    "the templates in the catalog",
    async () => !!(w.api.services.catalog.get(ECHO) && w.api.services.catalog.get(FILES)),
  );
  gateway = await startGateway({ kubeconfig: w.kubeconfig, env: { ATRIUM_BASE_DOMAIN: "atrium.test" } });
}, 300_000);

afterAll(async () => {
  for (const f of fakes) await f.stop();
  await gateway?.kill();
  await w?.stop();
});

describe("apps API", () => {
  it("refuses bad installs with field errors and creates nothing", async () => {
    const refusals: Array<[unknown, Array<[string, string]>]> = [
      [{ template: "no-such-app", name: "r1" }, [["/body/template", 'no app "no-such-app" in the marketplace']]],
      [{ template: ECHO, name: "r2" }, [["/body/env/API_TOKEN", "is required"]]],
      [
        { template: ECHO, name: "r3", version: "v9", env: { API_TOKEN: SECRET, COLOR: "red", "bad-name": "x" } },
        [
          ["/body/version", `${ECHO} offers v1.10, not "v9"`],
          ["/body/env/COLOR", `is not a setting of ${ECHO}`],
          ["/body/env/bad-name", "is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)"],
        ],
      ],
      [
        { template: ECHO, name: "r4", env: { API_TOKEN: SECRET }, access: { policy: "Roles", roles: ["ghosts"] } },
        [["/body/access/roles/0", 'role "ghosts" does not exist']],
      ],
    ];
    // The apiserver's own bounds (CEL: a timeout of at least 1s) refuse it after the Secret of
    // values was written: the Secret goes again.
    refusals.push([
      { template: ECHO, name: "r6", env: { API_TOKEN: SECRET }, idle: { policy: "Auto", timeout: "0s" } },
      [["/body/idle/timeout", "must be a duration such as 90s, 30m or 12h, between 1s and 720h"]],
    ]);
    // The CRD's rule on the name itself (the route Service's suffix): at the body's own name.
    refusals.push([
      { template: ECHO, name: "r7-route", env: { API_TOKEN: SECRET } },
      [
        [
          "/body/name",
          "must not end in '-route': in Gateway API mode the app <name> has a Service <name>-route, which an app named so would share (its own Service has its name)",
        ],
      ],
    ]);
    for (const [body, fields] of refusals) {
      const r = await api(admin, "POST", "/apps", body);
      expect(r.status, JSON.stringify(r.body)).toBe(422);
      expect(r.body.error.fields.map((f: any) => [f.path, f.message])).toEqual(fields);
    }
    // Over the organization's quota.
    await w.kube.mergePatch(R.organization, org, undefined, { spec: { quotas: { maxApps: 0 } } });
    await until("the quota in the cache", async () => w.api.directory.organization(org)?.spec.quotas?.maxApps === 0);
    const over = await api(admin, "POST", "/apps", { template: ECHO, name: "r5", env: { API_TOKEN: SECRET } });
    await w.kube.mergePatch(R.organization, org, undefined, { spec: { quotas: null } });
    expect(over.status).toBe(422);
    expect(over.body.error.fields).toEqual([
      { path: "/body", message: "the organization's quota allows 0 app(s) and 0 are installed" },
    ]);
    await until("the quota lifted", async () => w.api.directory.organization(org)?.spec.quotas === undefined);
    // Nothing was created: no AppInstance, no Secret.
    expect((await w.kube.list(R.appInstance, { namespace: ns })).items).toEqual([]);
    const secrets = (await w.kube.list<any>(R.secret, { namespace: ns })).items.map((s) => s.metadata.name);
    expect(secrets.filter((n) => /^r\d/.test(n))).toEqual([]);
  });

  it("installs, follows the app to Running, serves it through the gateway, and never shows its secrets", async () => {
    const r = await api(admin, "POST", "/apps", {
      template: ECHO,
      name: "web",
      env: { API_TOKEN: SECRET, GREETING: "hi" },
      access: { policy: "Public" },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ name: "web", template: ECHO, displayName: "Echo", version: "v1.10" });
    expect(["Pending", "Deploying"]).toContain(r.body.phase);
    fakes.push(serveAppPods(w.kc, { namespace: ns, app: "web", port: 8080 }));
    const events = await sse("/apps/web/watch", admin, () => false);
    expect(events.at(-1)?.event).toBe("status");
    expect(events.at(-1)?.data.phase).toBe("Running");

    const served = await until("served through the gateway", async () => {
      const res = await fetch(`${gateway.url}/apps/${org}/web/`);
      return res.status === 200 ? res.text() : undefined;
    });
    expect(served).toMatch(/^hello from web at 198\.1[89]\./);

    // The secret went into a Secret the app refers to, owned by the app.
    const app = await appObj("web");
    const token = app.spec.env.find((e: any) => e.name === "API_TOKEN");
    expect(token.secretKeyRef).toMatchObject({ name: "web-values" });
    expect(JSON.stringify(app.spec)).not.toContain(SECRET);
    const secret = await w.kube.get<any>(R.secret, "web-values", ns);
    expect(Buffer.from(secret.data[token.secretKeyRef.key], "base64").toString()).toBe(SECRET);
    expect(secret.metadata.ownerReferences[0]).toMatchObject({
      kind: "AppInstance",
      name: "web",
      uid: app.metadata.uid,
    });

    const view = await api(admin, "GET", "/apps/web");
    expect(view.status).toBe(200);
    expect(view.body.settings).toEqual([
      { name: "GREETING", description: "", required: false, secret: false, value: "hi", set: true },
      { name: "API_TOKEN", description: "", required: true, secret: true, value: null, set: true },
      { name: "SESSION_KEY", description: "", required: false, secret: true, value: null, set: true },
    ]);
    expect(view.body.conditions.find((c: any) => c.type === "Ready")).toMatchObject({ status: "True" });
    expect(view.body.events.length).toBeGreaterThan(0);
    const list = await api(w.people.viewer, "GET", "/apps?sort=lastActive");
    expect(list.body.items.map((a: any) => [a.name, a.phase])).toEqual([["web", "Running"]]);
    expect(JSON.stringify([r.body, view.body, list.body, events])).not.toContain(SECRET);
  });

  it("rolls out an env change once, and a secret change once, without echoing the secret", async () => {
    const sets = (await replicaSets("web")).length;
    const before = (await deployment("web")).metadata.generation;
    const same = await api(w.people.manager, "PATCH", "/apps/web", { env: { GREETING: "hi" } });
    expect(same.status).toBe(200);
    expect((await deployment("web")).metadata.generation).toBe(before); // nothing changed, nothing rolled

    const changed = await api(w.people.manager, "PATCH", "/apps/web", { env: { GREETING: "bonjour" } });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(changed.body.settings.find((s: any) => s.name === "GREETING").value).toBe("bonjour");
    await until("one new ReplicaSet", async () => (await replicaSets("web")).length === sets + 1);
    await phase("web", "Running");
    const rotated = await api(w.people.manager, "PATCH", "/apps/web", { env: { API_TOKEN: SECRET2 } });
    expect(rotated.status).toBe(200);
    expect(JSON.stringify(rotated.body)).not.toContain(SECRET2);
    await until("another new ReplicaSet", async () => (await replicaSets("web")).length === sets + 2);
    // Give the controllers time to do more, then count again: exactly one rollout per change.
    await new Promise((r) => setTimeout(r, 2000));
    expect((await replicaSets("web")).length).toBe(sets + 2);
    expect((await deployment("web")).metadata.generation).toBe(before + 2);
    // The old key is gone from the Secret; the new value is there.
    const secret = await w.kube.get<any>(R.secret, "web-values", ns);
    const values = Object.values(secret.data).map((v) => Buffer.from(v as string, "base64").toString());
    expect(values).toEqual([SECRET2]);
  });

  it("restarts once, stops and starts", async () => {
    await phase("web", "Running");
    const sets = (await replicaSets("web")).length;
    const restart = await api(w.people.manager, "POST", "/apps/web/restart");
    expect(restart.status).toBe(202);
    await until("a restart rollout", async () => (await replicaSets("web")).length === sets + 1);

    const stop = await api(w.people.manager, "POST", "/apps/web/stop");
    expect(stop.status).toBe(202);
    await phase("web", "Stopped");
    expect((await deployment("web")).spec.replicas).toBe(0);
    expect((await api(admin, "GET", "/apps/web")).body.idle.policy).toBe("Stopped");

    const start = await api(w.people.manager, "POST", "/apps/web/start");
    expect(start.status).toBe(202);
    await phase("web", "Running");
    expect((await deployment("web")).spec.replicas).toBe(1);
    const view = (await api(admin, "GET", "/apps/web")).body;
    expect(view.idle.policy).toBe("Auto"); // the policy it had before the stop
    expect((await appObj("web")).metadata.annotations?.["atrium.dev/resume-idle-policy"]).toBeUndefined();
  });

  it("serves the last log lines and follows new ones", async () => {
    await phase("web", "Running");
    const stamp = () => new Date().toISOString();
    appendFileSync(
      w.podLogFile,
      `${stamp()} stdout F zeroth line\n${stamp()} stdout F first line\n${stamp()} stdout F second line\n`,
    );
    const tail = await api(w.people.manager, "GET", "/apps/web/logs?tail=2");
    expect(tail.status, JSON.stringify(tail.body)).toBe(200);
    expect(tail.body.lines).toEqual(["first line", "second line"]);
    expect(tail.body.pod).toMatch(/^web-/);

    const late = `written after the follow began ${Date.now()}`;
    const events = await sse(
      "/apps/web/logs?follow=true&tail=1",
      w.people.manager,
      (seen) => seen.some((e) => e.data === late),
      () => setTimeout(() => appendFileSync(w.podLogFile, `${stamp()} stdout F ${late}\n`), 500),
      30_000,
    );
    expect(events.map((e) => e.data)).toEqual(["second line", late]);

    expect((await api(w.people.viewer, "GET", "/apps/web/logs")).status).toBe(403);
  });

  it("uninstalls keeping the volume, or deleting it, confirmed by the app's name", async () => {
    for (const name of ["keep", "wipe"]) {
      const r = await api(admin, "POST", "/apps", { template: FILES, name });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    for (const name of ["keep", "wipe"]) {
      await phase(name, "Running");
      await until(
        `${name}'s volume`,
        async () => (await w.kube.get<any>(R.pvc, `${name}-data`, ns))?.status?.phase === "Bound",
      );
    }
    // One declared with kubectl is an install like the others: listed, counted, uninstallable.
    await w.kube.create(R.appInstance, {
      metadata: { name: "gitops", namespace: ns },
      spec: { template: FILES },
    } as never);
    const installs = w.api.services.installs;
    await until("the kubectl install in the API", async () => installs.get(org, "gitops") !== undefined);
    expect(installs.installsPerTemplate().get(FILES)).toBe(3);
    expect(installs.installsPerTemplateIn(org).get(FILES)).toBe(3);
    expect(installs.installsPerTemplateIn(w.orgB).get(FILES)).toBeUndefined();
    const listed = await api(admin, "GET", `/apps?template=${FILES}&sort=name`);
    expect(listed.body.items.map((a: any) => a.name)).toEqual(["gitops", "keep", "wipe"]);
    // Pages are cut on the sort key: the first page's cursor still continues after "gitops"
    // though it is uninstalled meanwhile; it is refused with another sort.
    const page1 = await api(admin, "GET", `/apps?template=${FILES}&sort=name&limit=1`);
    expect(page1.body).toMatchObject({ items: [{ name: "gitops" }], total: 3 });
    const otherSort = await api(admin, "GET", `/apps?sort=lastActive&cursor=${page1.body.nextCursor}`);
    expect(otherSort.status).toBe(400);
    expect(otherSort.body.error.fields).toEqual([
      { path: "/query/cursor", message: expect.stringContaining("sort=name") },
    ]);
    expect((await api(admin, "DELETE", "/apps/gitops", { confirm: "gitops", deleteData: true })).status).toBe(204);
    await until("gitops gone from the list", async () => !installs.get(org, "gitops"));
    const page2 = await api(admin, "GET", `/apps?template=${FILES}&sort=name&limit=1&cursor=${page1.body.nextCursor}`);
    expect(page2.body).toMatchObject({ items: [{ name: "keep" }], total: 2 });

    const wrong = await api(admin, "DELETE", "/apps/keep", { confirm: "kep", deleteData: false });
    expect(wrong.status).toBe(422);
    expect(wrong.body.error.fields).toEqual([
      { path: "/body/confirm", message: `type the app's name, "keep", to confirm` },
    ]);
    expect(await appObj("keep")).toBeDefined();

    expect((await api(admin, "DELETE", "/apps/keep", { confirm: "keep", deleteData: false })).status).toBe(204);
    expect((await api(admin, "DELETE", "/apps/wipe", { confirm: "wipe", deleteData: true })).status).toBe(204);
    expect((await api(admin, "GET", "/apps/keep")).status).toBe(404);
    await until("keep gone", async () => (await appObj("keep")) === undefined);
    await until("wipe's volume deleted", async () => {
      try {
        const pvc = await w.kube.get<any>(R.pvc, "wipe-data", ns);
        return pvc === undefined;
      } catch (e) {
        return isNotFound(e);
      }
    });
    expect(installs.installsPerTemplate().get(FILES)).toBeUndefined();
    expect(installs.inOrg(org).map((a) => a.metadata.name)).toEqual(["web"]);
    // Long after the other volume went, the kept one is still there.
    const kept = await w.kube.get<any>(R.pvc, "keep-data", ns);
    expect(kept?.metadata.deletionTimestamp).toBeUndefined();
    expect(kept?.status?.phase).toBe("Bound");
  });

  it("audits every write by action and app, and no secret reaches the audit log or the API's log", async () => {
    const audit = await api(admin, "GET", "/audit?action=apps.&limit=100");
    expect(audit.status).toBe(200);
    const seen = new Set(audit.body.items.map((e: any) => `${e.action} ${e.target} ${e.result}`));
    for (const line of [
      "apps.install app/web success",
      "apps.install app/r2 error",
      "apps.configure app/web success",
      "apps.restart app/web success",
      "apps.stop app/web success",
      "apps.start app/web success",
      "apps.uninstall app/keep success",
      "apps.uninstall app/wipe success",
    ])
      expect(seen).toContain(line);
    const everything = JSON.stringify([audit.body, w.api.logs]);
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain(SECRET2);
  });
});
