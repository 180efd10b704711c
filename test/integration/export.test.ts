// GDPR exports end to end, on SQLite and on PostgreSQL: the real API assembly (its clock injected,
// so 7 days pass without waiting), the real operator, OIDC logins, SMTP capture. Archives are
// downloaded with a session and unzipped here (test/integration/export/unzip.ts, node:zlib).
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { namespaceFor } from "@atrium/crds";
import { R } from "@atrium/kube";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { csvRow } from "../../api/src/billing/csv.ts";
import { Exports } from "../../api/src/export/exports.ts";
import { AUDIT_HEADER, auditCells, USAGE_HEADER } from "../../api/src/export/reader.ts";
import type { Caller } from "../cluster/api-stack.ts";
import { echoTemplate } from "../cluster/fake-pods.ts";
import { until } from "../cluster/until.ts";
import { startWorld, type World } from "./api/world.ts";
import { unzip } from "./export/unzip.ts";

const DAY = 86_400_000;
const TEMPLATE = "export-echo";
const SECRET = "s3cr3t-value-never-exported-7f2a";
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
/** Creates an empty SQLite file (no tables) at `path`. */
const emptySqliteFile = (path: string) =>
  new (createRequire(import.meta.url)("better-sqlite3") as new (p: string) => { close(): void })(path).close();

type Job = { id: string; state: string; sizeBytes: number; sha256: string; downloadUrl: string | null; progress: any };

describe.each(["sqlite", "postgresql"] as const)("exports (%s)", (provider) => {
  let offset = 0;
  const clock = () => Date.now() + offset;
  let w: World;
  let org: string;
  let admin: Caller;

  beforeAll(async () => {
    w = await startWorld({
      provider,
      // Sessions live on the same clock: they must outlast the days this test skips.
      env: { ATRIUM_SESSION_TTL_HOURS: String(24 * 365) },
      api: { now: clock },
    });
    org = w.orgA;
    admin = w.people.admin;
    const t = echoTemplate(TEMPLATE) as any;
    t.spec.env = [
      { name: "GREETING", default: "hello" },
      { name: "API_TOKEN", secret: true, required: true },
      { name: "SESSION_KEY", secret: true, generated: true },
    ];
    await w.kube.create(R.appTemplate, t);
    await until("the template in the catalog", async () => !!w.api.services.catalog.get(TEMPLATE));
  }, 300_000);

  afterAll(() => w?.stop());

  const exports = () => w.api.services.exports;
  const get = async (who: Caller, path: string) => (await w.call<Job>(who, "GET", path)).body;
  /** The job once the worker is done with it. */
  const finished = (who: Caller, path: string) =>
    until(
      `export ${path} to finish`,
      async () => {
        const job = await get(who, path);
        return job.state !== "queued" && job.state !== "running" ? job : undefined;
      },
      60_000,
      100,
    );
  const download = async (who: Caller, path: string) => {
    const res = await fetch(`${w.api.base}${path}`, { headers: who.cookie ? { cookie: who.cookie } : {} });
    return { res, bytes: Buffer.from(await res.arrayBuffer()) };
  };
  /** A fresh organization with a logged-in Admin (each has its own daily allowance). */
  const freshOrg = async (prefix: string) => {
    const name = await w.createOrg(prefix);
    const email = `admin@${name}.example`;
    await w.declareMember(name, email, "admin");
    return { name, email, who: await w.login(email) };
  };

  it("writes the archive: the manifest matches its files; no secret value or key hash anywhere in it", async () => {
    const installed = await w.call(admin, "POST", `/api/orgs/${org}/apps`, {
      template: TEMPLATE,
      name: "vault",
      env: { API_TOKEN: SECRET, GREETING: "hi" },
    });
    expect(installed.status, JSON.stringify(installed.body)).toBe(201);
    const key = await w.call(admin, "POST", `/api/orgs/${org}/apikeys`, {
      name: "exporter",
      type: "STANDARD",
      scopes: ["apps:view"],
    });
    expect(key.status).toBe(201);
    const keyRow = await w.api.db.prisma.apiKey.findUniqueOrThrow({ where: { id: key.body.key.id } });
    // A cell a spreadsheet would run, and usage rows.
    await w.api.db.prisma.auditEvent.create({
      data: { org, actor: '=HYPERLINK("http://evil")', actorType: "user", action: "test.formula", result: "success" },
    });
    await w.api.db.prisma.usageDay.create({
      data: { org, app: "vault", metric: "requests", day: new Date("2026-11-30T00:00:00Z"), value: 42 },
    });
    // The API keeps given secrets in <app>-values; the operator generates SESSION_KEY into
    // <app>-settings: wait for it, to look for every value.
    const secretValues = await until(
      "the app's Secrets with the generated value",
      async () => {
        const values: string[] = [];
        const all = await w.kube.list<any>(R.secret, { namespace: namespaceFor(org) });
        for (const s of all.items.filter((x) => x.metadata.name.startsWith("vault-")))
          values.push(...Object.values(s.data ?? {}).map((v) => Buffer.from(v as string, "base64").toString()));
        if (values.length < 2)
          throw new Error(JSON.stringify(all.items.map((x) => [x.metadata.name, Object.keys(x.data ?? {})])));
        return values;
      },
      20_000,
    );
    expect(secretValues).toContain(SECRET);
    await w.api.services.audit.flushed();

    const requested = await w.call<Job>(admin, "POST", `/api/orgs/${org}/exports`);
    expect(requested.status, JSON.stringify(requested.body)).toBe(202);
    expect(requested.body).toMatchObject({ kind: "org", org, state: "queued", downloadUrl: null });
    const path = `/api/orgs/${org}/exports/${requested.body.id}`;
    const job = await finished(admin, path);
    expect(job).toMatchObject({ state: "succeeded", downloadUrl: `${path}/download` });
    expect(job.progress.done).toBe(job.progress.total);

    const { res, bytes } = await download(admin, `${path}/download`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/zip");
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="atrium-.*\.zip"$/);
    expect(Number(res.headers.get("content-length"))).toBe(bytes.length);
    expect({ size: bytes.length, sha256: sha(bytes) }).toEqual({ size: job.sizeBytes, sha256: job.sha256 });

    const entries = unzip(bytes);
    const files = new Map(entries.map((e) => [e.name, e.data]));
    const manifest = JSON.parse(files.get("manifest.json")?.toString() ?? "null");
    expect(manifest).toMatchObject({ schemaVersion: 1, kind: "org", subject: org });
    expect([...files.keys()].sort()).toEqual([...manifest.files.map((f: any) => f.name), "manifest.json"].sort());
    for (const f of manifest.files) {
      const data = files.get(f.name) as Buffer;
      expect({ name: f.name, bytes: data.length, sha256: sha(data) }).toEqual({
        name: f.name,
        bytes: f.bytes,
        sha256: f.sha256,
      });
      // Counts: a CSV's data lines, a JSON array's items.
      const records = f.name.endsWith(".csv")
        ? data.toString().split("\r\n").length - 2
        : ((x) => (Array.isArray(x) ? x.length : undefined))(JSON.parse(data.toString()));
      if (records !== undefined) expect({ name: f.name, records }).toEqual({ name: f.name, records: f.records });
    }
    expect(Object.keys(manifest.counts).sort()).toEqual(
      [
        "settings",
        "members",
        "roles",
        "apps",
        "api-keys",
        "audit-log",
        "subscriptions",
        "invoices",
        "invoice-lines",
        "usage",
      ].sort(),
    );

    // What it holds.
    const apps = JSON.parse(files.get("apps.json")?.toString() ?? "[]");
    expect(apps.find((a: any) => a.name === "vault").settings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: "GREETING", secret: false, value: "hi" }),
        expect.objectContaining({ name: "API_TOKEN", secret: true, value: null, set: true }),
        expect.objectContaining({ name: "SESSION_KEY", secret: true, value: null, set: true }),
      ]),
    );
    const members = files.get("members.csv")?.toString() ?? "";
    for (const role of ["admin", "co-admin", "manager", "member", "viewer"])
      expect(members).toContain(`${role}@${org}`);
    expect(JSON.parse(files.get("settings.json")?.toString() ?? "{}")).toMatchObject({ name: org });
    const keys = JSON.parse(files.get("api-keys.json")?.toString() ?? "[]");
    expect(keys.find((k: any) => k.id === keyRow.id)).toMatchObject({ name: "exporter", prefix: keyRow.prefix });
    const audit = files.get("audit-log.csv")?.toString() ?? "";
    expect(audit).toContain("apikeys.create");
    expect(audit).toContain(`"'=HYPERLINK(""http://evil"")"`);
    expect(audit).not.toMatch(/(^|,)=HYPERLINK/m);
    expect(files.get("usage.csv")?.toString()).toContain("2026-11-30,vault,requests,42");

    // Never a secret: not in the raw archive, not in any file once inflated.
    const forbidden = [SECRET, ...secretValues, key.body.secret, keyRow.hash];
    for (const data of [bytes, ...entries.map((e) => e.data)])
      for (const f of forbidden) expect(data.includes(Buffer.from(f)), `"${f}" in the archive`).toBe(false);

    // Request, completion and download in the audit log.
    // (The download's entry is written once its handler returns, which may be after the client has the body.)
    const trail = await until("the download in the audit log", async () => {
      await w.api.services.audit.flushed();
      const entries = await w.api.db.prisma.auditEvent.findMany({
        where: { org, target: `export/${job.id}` },
        orderBy: { at: "asc" },
      });
      return entries.length >= 3 ? entries : undefined;
    });
    expect(trail.map((e) => [e.action, e.actor, e.result])).toEqual([
      ["exports.request", `admin@${org}.example`, "success"],
      ["exports.complete", "system", "success"],
      ["exports.download", `admin@${org}.example`, "success"],
    ]);
    // The requester hears of it, with a console path and no bearer link.
    const user = await w.api.db.prisma.user.findUniqueOrThrow({ where: { email: `admin@${org}.example` } });
    const notice = await until("the export.ready notice", () =>
      w.api.db.prisma.notification
        .findFirst({ where: { userId: user.id, event: "export.ready" } })
        .then((n) => n ?? undefined),
    );
    expect(notice.link).toBe(`/orgs/${org}/settings#export`);
    expect(`${notice.title} ${notice.body}`).not.toContain("/download");
    // And by email (export.ready is emailed by default): a link to the console, no bearer URL.
    const mail = await until("the export.ready email", async () =>
      w.smtp.messages.find((m) => m.to.includes(`admin@${org}.example`) && m.text.includes("settings#export")),
    );
    expect(mail.raw).not.toContain("/download");
    expect(mail.raw).not.toContain(job.id);
  });

  it("refuses who may not: 403 without org:export, 404 for another organization, no API keys, only the requester's own person exports", async () => {
    const own = await w.call(admin, "GET", `/api/orgs/${org}/exports`);
    expect(own.status).toBe(200);
    const id: string = own.body.items[0].id;
    const viewer = w.people.viewer;
    for (const [method, path] of [
      ["POST", `/api/orgs/${org}/exports`],
      ["GET", `/api/orgs/${org}/exports`],
      ["GET", `/api/orgs/${org}/exports/${id}`],
      ["GET", `/api/orgs/${org}/exports/${id}/download`],
    ] as const) {
      const r = await w.call(viewer, method, path);
      expect({ path, status: r.status, body: r.body }).toEqual({
        path,
        status: 403,
        body: { error: { code: "forbidden", message: `Your role in "${org}" lacks the permission org:export` } },
      });
    }
    // The outsider is Admin of orgB: orgA's export does not exist for them, under either org.
    expect((await w.call(w.outsider, "GET", `/api/orgs/${org}/exports/${id}/download`)).status).toBe(404);
    const underB = await w.call(w.outsider, "GET", `/api/orgs/${w.orgB}/exports/${id}/download`);
    expect(underB.status).toBe(404);
    expect(underB.body.error.message).toBe(`Export "${id}" not found`);
    // An API key, even one holding org:export, may not download (nor request).
    const key = await w.call(admin, "POST", `/api/orgs/${org}/apikeys`, {
      name: "k",
      type: "STANDARD",
      scopes: ["org:export"],
    });
    const byKey = await w.call({ key: key.body.secret }, "GET", `/api/orgs/${org}/exports/${id}/download`);
    expect(byKey.status).toBe(403);
    // A person's export is theirs alone.
    const mine = await w.call<Job>(w.people.member, "POST", "/api/me/exports");
    expect(mine.status).toBe(202);
    for (const other of [w.people.viewer, admin]) {
      expect((await w.call(other, "GET", `/api/me/exports/${mine.body.id}`)).status).toBe(404);
      expect((await w.call(other, "GET", `/api/me/exports/${mine.body.id}/download`)).status).toBe(404);
    }
    expect((await w.call(admin, "GET", `/api/orgs/${org}/exports/${mine.body.id}`)).status).toBe(404);
    await finished(w.people.member, `/api/me/exports/${mine.body.id}`);
  });

  it("exports a person's own data across organizations, without session tokens", async () => {
    const member = w.people.member;
    const email = `member@${org}.example`;
    const key = await w.call(member, "POST", `/api/orgs/${org}/apikeys`, {
      name: "mine",
      type: "STANDARD",
      scopes: ["apps:view"],
    });
    expect(key.status).toBe(201);
    const r = await w.call<Job>(member, "POST", "/api/me/exports");
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const job = await finished(member, `/api/me/exports/${r.body.id}`);
    expect(job.state).toBe("succeeded");
    const { res, bytes } = await download(member, `/api/me/exports/${r.body.id}/download`);
    expect(res.status).toBe(200);
    const files = new Map(unzip(bytes).map((e) => [e.name, e.data.toString()]));
    expect([...files.keys()].sort()).toEqual(
      [
        "profile.json",
        "memberships.json",
        "sessions.json",
        "audit-log.csv",
        "notifications.json",
        "api-keys.json",
        "manifest.json",
      ].sort(),
    );
    expect(JSON.parse(files.get("profile.json") ?? "{}")).toMatchObject({ email, emailVerified: true });
    expect(JSON.parse(files.get("memberships.json") ?? "[]")).toEqual([
      expect.objectContaining({ org, email, role: "member", status: "Active" }),
    ]);
    expect(JSON.parse(files.get("api-keys.json") ?? "[]").map((k: any) => k.name)).toContain("mine");
    expect(files.get("audit-log.csv")).toContain("apikeys.create");
    expect(files.get("audit-log.csv")).not.toContain(`admin@${org}.example`);
    const user = await w.api.db.prisma.user.findUniqueOrThrow({ where: { email }, include: { sessions: true } });
    expect(user.sessions.length).toBeGreaterThan(0);
    const everything = Buffer.from([...files.values()].join("\n"));
    const keyRow = await w.api.db.prisma.apiKey.findUniqueOrThrow({ where: { id: key.body.key.id } });
    for (const f of [...user.sessions.flatMap((s) => [s.id, s.csrfToken]), keyRow.hash, key.body.secret])
      expect(everything.includes(f), `"${f}" in the archive`).toBe(false);
    expect(JSON.parse(files.get("sessions.json") ?? "[]").length).toBe(user.sessions.length);
  });

  it("one export at a time (409), three a UTC day (429 on the fourth), a new allowance at midnight UTC", async () => {
    const { name, who } = await freshOrg("exp-limit");
    const path = `/api/orgs/${name}/exports`;
    // Keep the day fixed: the four requests must fall on the same UTC day.
    const dayEnd = Math.ceil(clock() / DAY) * DAY;
    if (dayEnd - clock() < 10 * 60_000) offset += 20 * 60_000;
    // Jobs stay queued while this replica's worker is stopped.
    await exports().stop();
    try {
      const first = await w.call<Job>(who, "POST", path);
      expect(first.status).toBe(202);
      const second = await w.call(who, "POST", path);
      expect(second.status).toBe(409);
      expect(second.body.error).toEqual({
        code: "conflict",
        message: `An export of organization "${name}" is already under way; wait for it to finish`,
      });
    } finally {
      exports().start();
    }
    for (let n = 2; n <= 3; n++) {
      const jobs = (await get(who, path)) as unknown as { items: Job[] };
      await finished(who, `${path}/${jobs.items[0]?.id}`);
      expect((await w.call(who, "POST", path)).status).toBe(202);
    }
    const latest = ((await get(who, path)) as unknown as { items: Job[] }).items[0] as Job;
    await finished(who, `${path}/${latest.id}`);
    const fourth = await w.call(who, "POST", path);
    expect(fourth.status).toBe(429);
    expect(fourth.body.error.message).toBe(
      `organization "${name}" may request 3 exports a day (UTC); the next one from midnight UTC`,
    );
    expect(Number(fourth.headers.get("retry-after"))).toBeGreaterThan(0);
    offset += Math.ceil(clock() / DAY) * DAY - clock() + 1000; // just past midnight UTC
    expect((await w.call(who, "POST", path)).status).toBe(202);
  });

  it("the link dies after 7 days (410) and the sweep deletes the archive", async () => {
    const { name, who } = await freshOrg("exp-ttl");
    const path = `/api/orgs/${name}/exports`;
    const r = await w.call<Job>(who, "POST", path);
    const job = await finished(who, `${path}/${r.body.id}`);
    expect(job.state).toBe("succeeded");
    const chunks = () => w.api.db.prisma.exportChunk.count({ where: { jobId: job.id } });
    expect(await chunks()).toBeGreaterThan(0);
    offset += 7 * DAY - 60_000;
    expect((await download(who, `${path}/${job.id}/download`)).res.status).toBe(200);
    offset += 2 * 60_000;
    const gone = await w.call(who, "GET", `${path}/${job.id}/download`);
    expect(gone.status).toBe(410);
    expect(gone.body.error.code).toBe("gone");
    expect((await get(who, `${path}/${job.id}`)).state).toBe("expired");
    await exports().sweep();
    expect(await chunks()).toBe(0);
    expect((await w.api.db.prisma.exportJob.findUniqueOrThrow({ where: { id: job.id } })).state).toBe("expired");
    await w.api.services.audit.flushed();
    const refused = await w.api.db.prisma.auditEvent.findFirst({
      where: { target: `export/${job.id}`, action: "exports.download", status: 410 },
    });
    expect(refused?.result).toBe("error");
  });

  // The export's worker reads the audit log and usage through its own connection (better-sqlite3,
  // or pg on PostgreSQL) and writes their lines itself: they must be, byte for byte, what csvRow
  // writes of the same rows as Prisma reads them (instants to the millisecond, NULLs, numbers,
  // cells to quote or to defuse as formulas).
  it("writes the audit log and usage line for line as csvRow writes the rows Prisma reads", async () => {
    const { name, who } = await freshOrg("exp-lines");
    const tricky = ['say "hi"', '=HYPERLINK("http://x")', "a,b", "line\nbreak", "élan ✓", "\ttab", "-1", "plain"];
    // In 2020: before every entry the organization's creation and this export add, so first in the file.
    await w.api.db.prisma.auditEvent.createMany({
      data: tricky.map((t, i) => ({
        org: name,
        at: new Date(Date.UTC(2020, 0, 1, 0, 0, i, i * 7 + 3)),
        actor: i % 2 ? t : `person${i}@x.example`,
        actorType: "user",
        action: `x.${t}`,
        target: i % 2 ? t : null,
        result: "success",
        status: i % 3 ? 200 + i : null,
        ip: i % 2 ? null : "10.0.0.1",
        detail: i % 2 ? JSON.stringify({ note: t }) : null,
      })),
    });
    const values = [0.1 + 0.2, 1e21, -1, 42, 3600.5, 0];
    await w.api.db.prisma.usageDay.createMany({
      data: ["web", "=evil", "a,b"].flatMap((app, a) =>
        ["requests", "running_seconds"].flatMap((metric) =>
          values.map((value, d) => ({
            org: name,
            app,
            metric,
            day: new Date(Date.UTC(2026, 0, 1 + d)),
            value: value + a,
          })),
        ),
      ),
    });
    const r = await w.call<Job>(who, "POST", `/api/orgs/${name}/exports`);
    expect(r.status).toBe(202);
    const job = await finished(who, `/api/orgs/${name}/exports/${r.body.id}`);
    expect(job.state).toBe("succeeded");
    const files = new Map(unzip((await download(who, job.downloadUrl as string)).bytes).map((e) => [e.name, e.data]));

    const audit = await w.api.db.prisma.auditEvent.findMany({
      where: { org: name, at: { lt: new Date(Date.UTC(2021, 0, 1)) } },
      orderBy: [{ at: "asc" }, { id: "asc" }],
    });
    expect(audit).toHaveLength(tricky.length);
    const auditText = files.get("audit-log.csv")?.toString("utf8") ?? "";
    const expectedAudit = `${csvRow(AUDIT_HEADER)}\r\n${audit.map((e) => `${csvRow(auditCells(e))}\r\n`).join("")}`;
    expect(auditText.slice(0, expectedAudit.length)).toBe(expectedAudit);
    expect(auditText).toContain(`,"'=HYPERLINK(""http://x"")",`);

    const usage = await w.api.db.prisma.usageDay.findMany({
      where: { org: name },
      orderBy: [{ app: "asc" }, { metric: "asc" }, { day: "asc" }],
    });
    const expectedUsage = `${csvRow(USAGE_HEADER)}\r\n${usage
      .map((u) => `${csvRow([u.day.toISOString().slice(0, 10), u.app, u.metric, u.value])}\r\n`)
      .join("")}`;
    expect(files.get("usage.csv")?.toString("utf8")).toBe(expectedUsage);
    // As JavaScript writes the number (SQLite's own text of this REAL is 1.0e+21).
    expect(expectedUsage).toContain("2026-01-02,web,requests,1e+21\r\n");
    expect(expectedUsage).toContain(`'=evil`);
  });

  // The export's worker opens its own connection to the database: when it cannot read a table
  // (here: the file it is given has no audit table), the job must fail, not hang or store a
  // truncated archive.
  it.runIf(provider === "sqlite")(
    "a job whose worker cannot read the audit log is failed, its chunks deleted, the failure audited",
    async () => {
      const { name, who } = await freshOrg("exp-broken");
      const path = `/api/orgs/${name}/exports`;
      await exports().stop();
      const logs: string[] = [];
      const s = w.api.services;
      const dir = mkdtempSync(join(tmpdir(), "atrium-export-"));
      const empty = join(dir, "no-audit-table.db");
      emptySqliteFile(empty);
      const broken = new Exports({
        db: s.db,
        directory: s.directory,
        installs: s.installs,
        catalog: s.catalog,
        now: s.now,
        databaseUrl: `file:${empty}`,
        log: (message, fields) => logs.push(`${message} ${fields?.error ?? ""}`.trim()),
        notifications: () => s.notifications,
      });
      try {
        const r = await w.call<Job>(who, "POST", path);
        expect(r.status).toBe(202);
        await broken.runPass();
        const job = await get(who, `${path}/${r.body.id}`);
        expect(job).toMatchObject({ state: "failed", error: "The export could not be written; request a new one" });
        expect(logs.some((m) => /^Export failed .*no such table: AuditEvent/.test(m))).toBe(true);
        expect(await w.api.db.prisma.exportChunk.count({ where: { jobId: r.body.id } })).toBe(0);
        await s.audit.flushed();
        const completion = await w.api.db.prisma.auditEvent.findFirst({
          where: { target: `export/${r.body.id}`, action: "exports.complete" },
        });
        expect(completion?.result).toBe("error");
      } finally {
        rmSync(dir, { recursive: true, force: true });
        exports().start();
      }
    },
  );

  it("two workers on one database: each job is written once; a job a crashed replica left running is written again, then failed", async () => {
    const { name, who } = await freshOrg("exp-race");
    const path = `/api/orgs/${name}/exports`;
    await exports().stop();
    const logs: string[] = [];
    const s = w.api.services;
    // Two more workers on the same database, as two replicas would run them.
    const worker = () =>
      new Exports({
        db: s.db,
        databaseUrl: w.api.config.databaseUrl,
        directory: s.directory,
        installs: s.installs,
        catalog: s.catalog,
        now: s.now,
        log: (message, fields) => logs.push(`${message} ${fields?.export ?? ""}`.trim()),
        notifications: () => s.notifications,
      });
    const [one, two, three] = [worker(), worker(), worker()];
    try {
      const r = await w.call<Job>(who, "POST", path);
      const others = [
        await w.call<Job>(w.people["co-admin"], "POST", "/api/me/exports"),
        await w.call<Job>(w.people.manager, "POST", "/api/me/exports"),
      ];
      expect([r.status, ...others.map((o) => o.status)]).toEqual([202, 202, 202]);
      // Three replicas' workers race for the three queued jobs: each is written exactly once.
      await Promise.all([one.runPass(), two.runPass(), three.runPass()]);
      const ids = [r.body.id, ...others.map((o) => o.body.id)];
      expect(logs.filter((m) => m.startsWith("Export written")).sort()).toEqual(
        ids.map((id) => `Export written ${id}`).sort(),
      );
      expect(logs.filter((m) => m.startsWith("Export failed"))).toEqual([]);
      const states = await w.api.db.prisma.exportJob.findMany({ where: { id: { in: ids } }, select: { state: true } });
      expect(states.map((j) => j.state)).toEqual(["succeeded", "succeeded", "succeeded"]);

      // A replica died while writing: the job is running, its heartbeat old.
      const stale = { state: "running", startedAt: new Date(clock() - 10 * 60_000), step: "audit-log.csv" };
      await w.api.db.prisma.exportJob.update({ where: { id: r.body.id }, data: { ...stale, sizeBytes: null } });
      await one.runPass();
      const again = await w.api.db.prisma.exportJob.findUniqueOrThrow({ where: { id: r.body.id } });
      expect(again.state).toBe("succeeded");
      expect(logs).toContain(`Export left running by a stopped replica: queued again ${r.body.id}`);
      // The second time it is lost, it fails.
      await w.api.db.prisma.exportJob.update({
        where: { id: r.body.id },
        data: { ...stale, error: "Restarted: the replica writing it stopped" },
      });
      await two.runPass();
      const failed = await get(who, `${path}/${r.body.id}`);
      expect(failed).toMatchObject({ state: "failed", error: "The export was interrupted twice; request a new one" });
      expect(await w.api.db.prisma.exportChunk.count({ where: { jobId: r.body.id } })).toBe(0);
    } finally {
      exports().start();
    }
  });
  it("a replica that went silent and comes back leaves the job to the replica that took it over", async () => {
    const { name, who } = await freshOrg("exp-takeover");
    await exports().stop();
    const s = w.api.services;
    const logs: string[] = [];
    // The replicas see 300,000 members (a directory of the test's), so an export takes a while.
    const member = s.directory.membersOf(name)[0];
    const many = Array.from({ length: 300_000 }, (_, i) => ({
      ...member,
      metadata: { ...member?.metadata, name: `m${i}` },
      spec: { ...member?.spec, email: `m${i}@x.example` },
    }));
    const slowDirectory = new Proxy(s.directory, {
      get: (target, key) =>
        key === "membersOf" ? () => many : ((target as any)[key]?.bind?.(target) ?? (target as any)[key]),
    });
    const worker = (directory: typeof s.directory, now: () => number, tag: string) =>
      new Exports({
        db: s.db,
        databaseUrl: w.api.config.databaseUrl,
        directory,
        installs: s.installs,
        catalog: s.catalog,
        now,
        log: (message) => logs.push(`${tag}: ${message}`),
        notifications: () => s.notifications,
      });
    const slow = worker(slowDirectory, s.now, "slow");
    // The other replica's clock is 10 minutes ahead: to it, the slow one has been silent too long.
    // Both write the same 300,000 members, so they overlap: the slow one reports while the other writes.
    const other = worker(slowDirectory, () => s.now() + 10 * 60_000, "other");
    try {
      const r = await w.call<Job>(who, "POST", `/api/orgs/${name}/exports`);
      expect(r.status).toBe(202);
      const slowPass = slow.runPass();
      await until(
        "the slow replica writing",
        async () =>
          (await w.api.db.prisma.exportJob.findUniqueOrThrow({ where: { id: r.body.id } })).state === "running",
        60_000,
        10,
      );
      await Promise.all([other.runPass(), slowPass]);
      const job = await w.api.db.prisma.exportJob.findUniqueOrThrow({ where: { id: r.body.id } });
      expect(logs).toContain("other: Export left running by a stopped replica: queued again");
      expect(logs).toContain("other: Export written");
      expect(logs).not.toContain("slow: Export written");
      // The slow replica found the job no longer its own and left it (state, chunks) alone.
      expect(job.state).toBe("succeeded");
      const { res, bytes } = await download(who, `/api/orgs/${name}/exports/${job.id}/download`);
      expect(res.status).toBe(200);
      expect(sha(bytes)).toBe(job.sha256);
    } finally {
      exports().start();
    }
  });
});
