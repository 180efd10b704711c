// Installed apps over HTTP: list, install, view, settings, restart, stop / start, uninstall,
// logs and a live status stream. The AppInstance stays the desired state (kubectl and GitOps
// see and change the same object); the API validates against the template first, so a refused
// install leaves nothing behind.
import { randomBytes } from "node:crypto";
import { type AppInstance, namespaceFor } from "@atrium/crds";
import { isConflict, KubeError, type KubeObject, R, resourcePath } from "@atrium/kube";
import { Type } from "@sinclair/typebox";
import type { Response } from "express";
import type { Services } from "../app.ts";
import { CursorError } from "../http/cursor.ts";
import { ApiError, conflict, type FieldError, notFound } from "../http/errors.ts";
import { route } from "../http/route.ts";
import { Name, OrgParams } from "../routes/views.ts";
import type { AppObj } from "./installs.ts";
import { listApps } from "./list.ts";
import { followLogs, runningPod, tailLogs } from "./logs.ts";
import { accessErrors, envErrors, installErrors, isSecretSetting } from "./settings.ts";
import { AppDetail, AppParams, AppSummary, appDetail, appSummary, type KubeEvent } from "./views.ts";

const TAG = "apps";
/** Set on an app stopped with POST …/stop: the idle policy POST …/start puts back. */
export const RESUME_POLICY_ANNOTATION = "atrium.dev/resume-idle-policy";
/** The Secret holding the secret setting values given through the API (the operator's own is <app>-settings). */
export const valuesSecretName = (app: string) => `${app}-values`;

const EnvBody = Type.Record(
  Type.String({ maxLength: 256 }),
  Type.Union([Type.String({ maxLength: 32768 }), Type.Null()]),
  {
    description: "Setting values by name; null removes a value (PATCH). Secret values are write-only.",
    maxProperties: 100,
  },
);
const AccessBody = Type.Object(
  {
    policy: Type.Union([Type.Literal("Public"), Type.Literal("Members"), Type.Literal("Roles")]),
    roles: Type.Optional(Type.Array(Name("Role name"), { maxItems: 20, uniqueItems: true })),
  },
  { additionalProperties: false },
);
const DurationText = Type.String({
  pattern: "^([0-9]+(ms|s|m|h))+$",
  maxLength: 32,
  description: "A duration such as 90s, 30m or 12h (1s to 720h)",
});
const IdleBody = Type.Object(
  {
    policy: Type.Optional(Type.Union([Type.Literal("Auto"), Type.Literal("AlwaysOn"), Type.Literal("Stopped")])),
    timeout: Type.Optional(DurationText),
  },
  { additionalProperties: false },
);
const InstallBody = Type.Object(
  {
    template: Name("The AppTemplate (marketplace app)"),
    version: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    name: Name("App name, unique in the organization"),
    env: Type.Optional(EnvBody),
    access: Type.Optional(AccessBody),
    idle: Type.Optional(IdleBody),
    plan: Type.Optional(Name("A plan id of the template")),
    trial: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
const PatchBody = Type.Object(
  { env: Type.Optional(EnvBody), access: Type.Optional(AccessBody), idle: Type.Optional(IdleBody) },
  { additionalProperties: false, minProperties: 1 },
);
const UninstallBody = Type.Object(
  {
    confirm: Type.String({ maxLength: 63, description: "The app's name, typed again" }),
    deleteData: Type.Boolean({ description: "Delete the app's volume too (otherwise it is kept)" }),
  },
  { additionalProperties: false },
);
const ListQuery = Type.Object({
  status: Type.Optional(Type.String({ maxLength: 32, description: "Phase: Running, Stopped, Failed, …" })),
  template: Type.Optional(Name("Template name")),
  q: Type.Optional(Type.String({ maxLength: 100, description: "Search in name and display name" })),
  sort: Type.Optional(Type.Union([Type.Literal("name"), Type.Literal("lastActive")], { default: "name" })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  cursor: Type.Optional(
    Type.String({ maxLength: 1024, description: "From the previous page's nextCursor, with the same sort" }),
  ),
});
const LogsQuery = Type.Object({
  tail: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000, default: 100 })),
  follow: Type.Optional(Type.Boolean({ default: false })),
});
const WatchQuery = Type.Object({
  timeout: Type.Optional(Type.Integer({ minimum: 1, maximum: 600, default: 300, description: "Seconds at most" })),
});

/** Where an AppInstance field is in the install body: spec's fields at the top, the object's name as `name`. */
export const bodyPointer = (field: string) =>
  `/body/${(field === "metadata.name" ? "name" : field.replace(/^spec\./, "")).replaceAll(".", "/")}`;

/**
 * The apiserver's own validation (CEL bounds such as the idle timeout's) refused the object:
 * its causes become field errors at the body's places ("spec.idle.timeout" → /body/idle/timeout).
 */
function refusedByCluster(e: unknown): unknown {
  if (!(e instanceof KubeError) || e.code !== 422) return e;
  const causes = (e.details as { causes?: Array<{ field?: string; message?: string }> } | undefined)?.causes ?? [];
  const fields = causes.map((c) => ({
    path: bodyPointer(c.field ?? ""),
    // "Invalid value: \"string\": must be …": the rule's own message is what the person can act on.
    message: (c.message ?? e.message).replace(/^Invalid value: (?:"[^"]*"|\S+): /, ""),
  }));
  return validationFailed(fields.length ? fields : [{ path: "/body", message: e.message }]);
}

/** A Server-Sent Events stream, for the routes that answer with one. */
const EventStream = Type.Object(
  { event: Type.Optional(Type.String()), data: Type.String({ description: "JSON" }), id: Type.Optional(Type.String()) },
  { description: "Server-Sent Events, one object per event: `event: <name>` and `data: <JSON>` lines" },
);

const validationFailed = (fields: FieldError[]) =>
  new ApiError(422, "validation_failed", fields.map((f) => `${f.path}: ${f.message}`).join("; "), { fields });

/** A key name per secret write: a new key changes the AppInstance's env, so the app rolls out once. */
const secretKey = (setting: string) => `${setting}.${randomBytes(4).toString("hex")}`;
const b64 = (v: string) => Buffer.from(v, "utf8").toString("base64");
const nowSeconds = (now: number) => new Date(now).toISOString().replace(/\.\d+Z$/, "Z");

type EnvEntry = NonNullable<AppInstance["spec"]["env"]>[number];

export const appRoutes = (s: Services) => {
  const template = (name: string) => s.catalog.get(name);
  const app = (org: string, name: string): AppObj => {
    const found = s.installs.get(org, name) as AppObj | undefined;
    if (!found) throw notFound(`App "${name}"`);
    return found;
  };
  const subscription = async (org: string, name: string) => s.billing.viewFor(org, name);
  const events = async (org: string, name: string): Promise<KubeEvent[]> => {
    const list = await s.kube.request<{ items: KubeEvent[] }>("GET", resourcePath(R.event, namespaceFor(org)), {
      query: { fieldSelector: `involvedObject.kind=AppInstance,involvedObject.name=${name}`, limit: "100" },
    });
    const at = (e: KubeEvent) => e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? "";
    return list.items.sort((a, b) => at(b).localeCompare(at(a))).slice(0, 20);
  };
  const detail = async (org: string, a: AppInstance) => {
    const [sub, recent] = await Promise.all([subscription(org, a.metadata.name), events(org, a.metadata.name)]);
    return appDetail(a, template(a.spec.template), sub, recent);
  };

  /** Secret values as keys of the app's values Secret (data) and the env entries pointing at them. */
  const storeSecrets = (appName: string, values: Record<string, string>) => {
    const entries: EnvEntry[] = [];
    const data: Record<string, string> = {};
    for (const [name, value] of Object.entries(values)) {
      const key = secretKey(name);
      data[key] = b64(value);
      entries.push({ name, secretKeyRef: { name: valuesSecretName(appName), key } });
    }
    return { entries, data };
  };

  return [
    route({
      method: "get",
      path: "/api/orgs/:org/apps",
      summary: "Installed apps with phase, health, activity and subscription",
      tag: TAG,
      auth: "any",
      permission: "apps:view",
      params: OrgParams,
      query: ListQuery,
      response: {
        status: 200,
        schema: Type.Object({
          items: Type.Array(AppSummary),
          total: Type.Integer(),
          nextCursor: Type.Union([Type.String(), Type.Null()]),
        }),
      },
      handler: async ({ params, query }) => {
        let page: ReturnType<typeof listApps<AppInstance>>;
        try {
          page = listApps(
            s.installs.inOrg(params.org),
            { ...query, limit: query.limit ?? 50 },
            (t) => template(t)?.spec.displayName,
          );
        } catch (e) {
          if (!(e instanceof CursorError)) throw e;
          throw new ApiError(400, "validation_failed", `Invalid query: /query/cursor: ${e.message}`, {
            fields: [{ path: "/query/cursor", message: e.message }],
          });
        }
        const subs = await s.billing.viewsIn(params.org);
        return {
          items: page.items.map((a) => appSummary(a, template(a.spec.template), subs.get(a.metadata.name) ?? null)),
          total: page.total,
          nextCursor: page.nextCursor,
        };
      },
    }),
    route({
      method: "post",
      path: "/api/orgs/:org/apps",
      summary: "Install an app; answers at once, follow its progress with GET …/apps/{app}/watch",
      tag: TAG,
      auth: "any",
      permission: "apps:install",
      params: OrgParams,
      body: InstallBody,
      response: { status: 201, schema: AppDetail },
      errors: [402, 409],
      audit: "apps.install",
      handler: async ({ params, body, principal, setTarget }) => {
        setTarget(`app/${body.name}`);
        const org = params.org;
        const tpl = template(body.template);
        const errors = installErrors(tpl, body, {
          appNames: new Set(s.installs.inOrg(org).map((a) => a.metadata.name)),
          roles: new Set(s.directory.rolesOf(org).map((r) => r.metadata.name)),
          maxApps: s.directory.organization(org)?.spec.quotas?.maxApps,
        });
        if (errors.length || !tpl) throw validationFailed(errors);
        await s.billing.checkChoice(org, tpl, { plan: body.plan, trial: body.trial });

        const ns = namespaceFor(org);
        const plain: EnvEntry[] = [];
        const secrets: Record<string, string> = {};
        for (const [name, value] of Object.entries(body.env ?? {})) {
          if (value === null) continue;
          if (isSecretSetting(tpl, name)) secrets[name] = value;
          else plain.push({ name, value });
        }
        const { entries, data } = storeSecrets(body.name, secrets);
        const created: Array<() => Promise<void>> = [];
        const undo = async () => {
          for (const remove of created.reverse()) await remove().catch(() => undefined);
        };
        try {
          if (entries.length) {
            try {
              await s.kube.create(R.secret, {
                metadata: {
                  name: valuesSecretName(body.name),
                  namespace: ns,
                  labels: { "app.kubernetes.io/managed-by": "atrium-api", "atrium.dev/app": body.name },
                },
                type: "Opaque",
                data,
              } as KubeObject);
            } catch (e) {
              if (isConflict(e))
                throw conflict(
                  `A Secret named "${valuesSecretName(body.name)}" is in the way; remove it or pick another name`,
                );
              throw e;
            }
            created.push(() => s.kube.delete(R.secret, valuesSecretName(body.name), ns));
          }
          const spec: AppInstance["spec"] = {
            template: body.template,
            ...(body.version ? { version: body.version } : {}),
            ...(plain.length || entries.length ? { env: [...plain, ...entries] } : {}),
            ...(body.access ? { access: body.access } : {}),
            ...(body.idle ? { idle: body.idle as AppInstance["spec"]["idle"] } : {}),
            ...(body.plan ? { plan: body.plan } : {}),
          };
          let made: AppObj;
          try {
            made = await s.kube.create<AppObj>(R.appInstance, {
              metadata: { name: body.name, namespace: ns },
              spec,
            } as AppObj);
          } catch (e) {
            if (isConflict(e))
              throw validationFailed([
                { path: "/body/name", message: `an app named "${body.name}" is already installed` },
              ]);
            throw refusedByCluster(e);
          }
          created.push(() => s.kube.delete(R.appInstance, body.name, ns));
          if (entries.length)
            // Owned by the app: uninstalling it (kubectl delete too) removes the values.
            await s.kube.mergePatch(R.secret, valuesSecretName(body.name), ns, {
              metadata: {
                ownerReferences: [
                  { apiVersion: made.apiVersion, kind: "AppInstance", name: body.name, uid: made.metadata.uid },
                ],
              },
            });
          await s.billing.subscribe(org, made, principal.email);
          await s.installs.observed(made);
          return await detail(org, s.installs.get(org, body.name) ?? made);
        } catch (e) {
          await undo();
          throw e;
        }
      },
    }),
    route({
      method: "get",
      path: "/api/orgs/:org/apps/:app",
      summary: "An app: status, health, conditions, recent events, settings (secrets as set / not set), subscription",
      tag: TAG,
      auth: "any",
      permission: "apps:view",
      params: AppParams,
      response: { status: 200, schema: AppDetail },
      handler: async ({ params }) => detail(params.org, app(params.org, params.app)),
    }),
    route({
      method: "patch",
      path: "/api/orgs/:org/apps/:app",
      summary: "Change settings (a rollout), access policy or idle policy; secret values are write-only",
      tag: TAG,
      auth: "any",
      permission: "apps:configure",
      params: AppParams,
      body: PatchBody,
      response: { status: 200, schema: AppDetail },
      audit: "apps.configure",
      handler: async ({ params, body }) => {
        const org = params.org;
        const ns = namespaceFor(org);
        const current = app(org, params.app);
        const tpl = template(current.spec.template);
        const errors = [
          ...envErrors(tpl, body.env ?? {}, { install: false }),
          ...accessErrors(body.access, new Set(s.directory.rolesOf(org).map((r) => r.metadata.name))),
        ];
        if (errors.length) throw validationFailed(errors);
        const patch: Record<string, unknown> = {};
        const staleKeys: string[] = [];
        if (body.env) {
          const env = new Map((current.spec.env ?? []).map((e) => [e.name, e]));
          const secrets: Record<string, string> = {};
          for (const [name, value] of Object.entries(body.env)) {
            const before = env.get(name);
            if (value === null) env.delete(name);
            else if (isSecretSetting(tpl, name)) {
              secrets[name] = value;
              env.delete(name);
            } else if (before?.value !== value || before.secretKeyRef) env.set(name, { name, value });
            // Replaced or removed: our old key goes once the app no longer points at it.
            if (before?.secretKeyRef?.name === valuesSecretName(params.app) && env.get(name) !== before)
              staleKeys.push(before.secretKeyRef.key);
          }
          const { entries, data } = storeSecrets(params.app, secrets);
          for (const e of entries) env.set(e.name, e);
          if (entries.length) {
            const existing = await s.kube.get(R.secret, valuesSecretName(params.app), ns);
            if (existing) await s.kube.mergePatch(R.secret, valuesSecretName(params.app), ns, { data });
            else
              await s.kube.create(R.secret, {
                metadata: {
                  name: valuesSecretName(params.app),
                  namespace: ns,
                  labels: { "app.kubernetes.io/managed-by": "atrium-api", "atrium.dev/app": params.app },
                  ownerReferences: [
                    {
                      apiVersion: "atrium.dev/v1alpha1",
                      kind: "AppInstance",
                      name: params.app,
                      uid: current.metadata.uid as string,
                    },
                  ],
                },
                type: "Opaque",
                data,
              } as KubeObject);
          }
          const next = [...env.values()];
          const same = JSON.stringify(next) === JSON.stringify(current.spec.env ?? []);
          if (!same) patch.env = next.length ? next : null;
        }
        if (body.access) patch.access = { policy: body.access.policy, roles: body.access.roles ?? null };
        if (body.idle) patch.idle = body.idle;
        let updated: AppObj = current;
        if (Object.keys(patch).length) {
          updated = await s.kube
            .mergePatch<AppObj>(R.appInstance, params.app, ns, { spec: patch })
            .catch((e) => Promise.reject(refusedByCluster(e)));
          await s.installs.observed(updated);
        }
        if (staleKeys.length)
          await s.kube
            .mergePatch(R.secret, valuesSecretName(params.app), ns, {
              data: Object.fromEntries(staleKeys.map((k) => [k, null])),
            })
            .catch(() => undefined);
        return detail(org, s.installs.get(org, params.app) ?? updated);
      },
    }),
    route({
      method: "post",
      path: "/api/orgs/:org/apps/:app/restart",
      summary: "Restart the app once (a rollout of its pod)",
      tag: TAG,
      auth: "any",
      permission: "apps:restart",
      params: AppParams,
      response: { status: 202, schema: AppSummary },
      audit: "apps.restart",
      handler: async ({ params }) => {
        app(params.org, params.app);
        const updated = await s.kube.mergePatch<AppObj>(R.appInstance, params.app, namespaceFor(params.org), {
          spec: { restartRequestedAt: nowSeconds(s.now()) },
        });
        await s.installs.observed(updated);
        return appSummary(updated, template(updated.spec.template), await subscription(params.org, params.app));
      },
    }),
    route({
      method: "post",
      path: "/api/orgs/:org/apps/:app/stop",
      summary: "Stop the app now (idle policy Stopped; the volume is kept); start puts the previous policy back",
      tag: TAG,
      auth: "any",
      permission: "apps:restart",
      params: AppParams,
      response: { status: 202, schema: AppSummary },
      audit: "apps.stop",
      handler: async ({ params }) => {
        const current = app(params.org, params.app);
        const policy = current.spec.idle?.policy ?? "Auto";
        let updated: AppObj = current;
        if (policy !== "Stopped") {
          updated = await s.kube.mergePatch<AppObj>(R.appInstance, params.app, namespaceFor(params.org), {
            metadata: { annotations: { [RESUME_POLICY_ANNOTATION]: policy } },
            spec: { idle: { policy: "Stopped" } },
          });
          await s.installs.observed(updated);
        }
        return appSummary(updated, template(updated.spec.template), await subscription(params.org, params.app));
      },
    }),
    route({
      method: "post",
      path: "/api/orgs/:org/apps/:app/start",
      summary: "Start the app now: back to the policy it had before stop, or wake it when idle",
      tag: TAG,
      auth: "any",
      permission: "apps:restart",
      params: AppParams,
      response: { status: 202, schema: AppSummary },
      errors: [402],
      audit: "apps.start",
      handler: async ({ params }) => {
        const current = app(params.org, params.app);
        const ns = namespaceFor(params.org);
        const e = current.status?.entitlement;
        if (e && !e.allowed)
          throw new ApiError(402, "payment_required", e.message ?? `The app needs a subscription (${e.reason})`);
        let updated: AppObj = current;
        if (current.spec.idle?.policy === "Stopped") {
          const resume = current.metadata.annotations?.[RESUME_POLICY_ANNOTATION];
          updated = await s.kube.mergePatch<AppObj>(R.appInstance, params.app, ns, {
            metadata: { annotations: { [RESUME_POLICY_ANNOTATION]: null } },
            spec: { idle: { policy: resume === "AlwaysOn" ? "AlwaysOn" : "Auto" } },
          });
        } else if (current.status?.phase === "Stopped" || current.status?.phase === "Stopping") {
          // Stopped for idleness: activity now wakes it, exactly as a request through the gateway does.
          // A merge patch, not an apply: the API's applied status fields (the entitlement) stay its own.
          updated = await s.kube.request<AppObj>("PATCH", resourcePath(R.appInstance, ns, params.app, "status"), {
            body: { status: { lastActivity: new Date(s.now()).toISOString() } },
            contentType: "application/merge-patch+json",
          });
        }
        await s.installs.observed(updated);
        return appSummary(updated, template(updated.spec.template), await subscription(params.org, params.app));
      },
    }),
    route({
      method: "delete",
      path: "/api/orgs/:org/apps/:app",
      summary: "Uninstall, confirmed by the app's name; deleteData also deletes its volume",
      tag: TAG,
      auth: "any",
      permission: "apps:uninstall",
      params: AppParams,
      body: UninstallBody,
      response: { status: 204, schema: null },
      errors: [503],
      audit: "apps.uninstall",
      handler: async ({ params, body }) => {
        const org = params.org;
        const ns = namespaceFor(org);
        const current = app(org, params.app);
        if (body.confirm !== params.app)
          throw validationFailed([
            { path: "/body/confirm", message: `type the app's name, "${params.app}", to confirm` },
          ]);
        const wanted = body.deleteData ? "Delete" : "Retain";
        const hasVolume = template(current.spec.template)?.spec.storage !== undefined;
        if (hasVolume && (current.spec.storage?.deletionPolicy ?? "Retain") !== wanted) {
          // The operator decides who owns the volume (an owner reference: garbage collected with
          // the app). It must have acted on the new policy before the app goes.
          const updated = await s.kube.mergePatch<AppObj>(R.appInstance, params.app, ns, {
            spec: { storage: { deletionPolicy: wanted } },
          });
          if (!(await appliedBy(updated.metadata.generation ?? 0)))
            throw new ApiError(
              503,
              "not_ready",
              "The operator has not applied the volume's deletion policy yet; nothing was deleted. Try again shortly.",
              { headers: { "retry-after": "5" } },
            );
        }
        await s.kube.delete(R.appInstance, params.app, ns);
        await s.installs.observed(current, { gone: true });
        await s.billing.onUninstalled(org, params.app);

        async function appliedBy(generation: number, timeoutMs = 15_000) {
          const deadline = Date.now() + timeoutMs;
          while (Date.now() < deadline) {
            if ((s.installs.get(org, params.app)?.status?.observedGeneration ?? 0) >= generation) return true;
            await new Promise((r) => setTimeout(r, 50));
          }
          return false;
        }
      },
    }),
    route({
      method: "get",
      path: "/api/orgs/:org/apps/:app/logs",
      summary:
        "The app's last log lines (JSON), or with follow=true a Server-Sent Events stream of new lines (event: line)",
      tag: TAG,
      auth: "any",
      permission: "apps:logs",
      params: AppParams,
      query: LogsQuery,
      response: {
        status: 200,
        schema: Type.Object({ pod: Type.String(), lines: Type.Array(Type.String()) }),
        also: { "text/event-stream": EventStream },
      },
      errors: [409],
      handler: async ({ params, query, res }) => {
        const a = app(params.org, params.app);
        const pod = await runningPod(s.kube, namespaceFor(params.org), a.metadata.name);
        if (!pod)
          throw conflict(
            `App "${params.app}" has no running pod (phase ${a.status?.phase ?? "Pending"}); start it to read its logs`,
          );
        if (!query.follow)
          return { pod, lines: await tailLogs(s.kube, namespaceFor(params.org), pod, query.tail ?? 100) };
        await followLogs(s.kube, namespaceFor(params.org), pod, query.tail ?? 100, res, s.log);
        return undefined;
      },
    }),
    route({
      method: "get",
      path: "/api/orgs/:org/apps/:app/watch",
      summary:
        "Server-Sent Events of the app's status (event: status, the app summary) until it is Running or Failed, deleted, or the timeout",
      tag: TAG,
      auth: "any",
      permission: "apps:view",
      params: AppParams,
      query: WatchQuery,
      response: {
        status: 200,
        schema: AppSummary,
        description: "Server-Sent Events (text/event-stream): each `status` event's data is the app summary",
        also: { "text/event-stream": EventStream },
      },
      handler: async ({ params, query, res }) => {
        app(params.org, params.app);
        await watchStatus(s, params.org, params.app, (query.timeout ?? 300) * 1000, res);
        return undefined;
      },
    }),
  ];
};

/** The app's status as SSE: the current state, then each change, ending at a final phase. */
async function watchStatus(s: Services, org: string, name: string, timeoutMs: number, res: Response) {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", "x-accel-buffering": "no" });
  res.flushHeaders();
  const sub = await s.billing.viewFor(org, name);
  let last = "";
  await new Promise<void>((resolve) => {
    const send = (a: AppInstance | undefined, deleted = false): boolean => {
      if (deleted || !a) {
        res.write(`event: deleted\ndata: {}\n\n`);
        return true;
      }
      const view = appSummary(a, s.catalog.get(a.spec.template), sub);
      const text = JSON.stringify(view);
      if (text !== last) res.write(`event: status\ndata: ${text}\n\n`);
      last = text;
      return view.phase === "Running" || view.phase === "Failed";
    };
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      unsubscribe();
      clearTimeout(timer);
      clearInterval(keepAlive);
      res.end();
      resolve();
    };
    const unsubscribe = s.installs.onChange((type, a) => {
      if (a.metadata.name !== name || a.metadata.namespace !== namespaceFor(org)) return;
      if (send(a, type === "deleted")) finish();
    });
    const timer = setTimeout(finish, timeoutMs);
    const keepAlive = setInterval(() => res.write(": keep-alive\n\n"), 15_000);
    res.on("close", finish);
    if (send(s.installs.get(org, name))) finish();
  });
}
