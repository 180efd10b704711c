// Access control in Gateway API mode, through the AppInstance reconcile against in-memory
// caches and a recording client: a SecurityPolicy (and its namespace's ReferenceGrant) for a
// Members app, written before its route; for a Public app its credential filter instead (an
// EnvoyExtensionPolicy, also before its route), a switch replacing one with the other; no
// route at all for an app that needs a login when no external authorization is configured.
import { type KubeObject, keyOf, type ResourceType } from "@atrium/kube";
import { describe, expect, it } from "vitest";
import { app, template } from "../appinstance/fixtures.ts";
import { reconcileAppInstance } from "../appinstance/reconcile.ts";
import { defaultConfig } from "../config.ts";
import type { Caches, Deps } from "../deps.ts";

class FakeCache {
  readonly store = new Map<string, KubeObject>();
  get = (key: string) => this.store.get(key);
  list = (filter: (o: KubeObject) => boolean = () => true) => [...this.store.values()].filter(filter);
  inNamespace = (ns: string) => this.list((o) => o.metadata.namespace === ns);
  put = (o: KubeObject) => this.store.set(keyOf(o), o);
}

const BASE_ENV = {
  ATRIUM_ROUTING: "gateway-api",
  ATRIUM_STOP_UNCONFIRMED: "true", // no data plane to confirm a stop through (routing/stop-checks.ts)
  ATRIUM_GATEWAY_API_PARENT: "edge/public",
  ATRIUM_ACTIVATOR_ADDRESSES: "10.96.0.20",
};
const EXT_AUTH = { ATRIUM_EXT_AUTH_SERVICE: "atrium-system/atrium-api:8080" };

type Write = { verb: "apply" | "delete"; resource: string; name: string; namespace?: string; object?: KubeObject };

function harness(access: { policy: "Public" | "Members" }, env: Record<string, string>) {
  const names = ["organizations", "appTemplates", "appInstances", "deployments", "services", "pvcs", "secrets", "pods"];
  const routed = [
    "httpRoutes",
    "routeSlices",
    ...(env.ATRIUM_EXT_AUTH_SERVICE ? ["securityPolicies", "referenceGrants", "extensionPolicies"] : []),
  ];
  const caches = Object.fromEntries([...names, ...routed].map((k) => [k, new FakeCache()])) as Record<
    string,
    FakeCache
  >;
  const writes: Write[] = [];
  const events: string[] = [];
  const deps = {
    caches: caches as unknown as Caches,
    client: {
      apply: async (t: ResourceType, object: KubeObject) => {
        writes.push({ verb: "apply", resource: t.plural, name: object.metadata.name, object });
        return object;
      },
      delete: async (t: ResourceType, name: string, namespace?: string) => {
        writes.push({ verb: "delete", resource: t.plural, name, ...(namespace ? { namespace } : {}) });
      },
    },
    record: (_o: KubeObject, type: string, reason: string) => events.push(`${type} ${reason}`),
    metrics: { appStops: { inc: () => {} }, appStarts: { inc: () => {} } },
    config: defaultConfig({ ...BASE_ENV, ...env }),
    log: () => {},
    now: () => new Date("2026-06-01T10:00:00Z"),
  } as unknown as Deps;
  caches.organizations?.put({
    apiVersion: "atrium.dev/v1alpha1",
    kind: "Organization",
    metadata: { name: "acme", uid: "org-uid" },
    spec: { displayName: "Acme" },
  } as KubeObject);
  const tpl = template();
  caches.appTemplates?.put({ ...tpl, spec: { ...tpl.spec, env: [], storage: undefined } } as KubeObject);
  const put = (policy: "Public" | "Members") => {
    const instance = app({ env: [], idle: { policy: "AlwaysOn", timeout: "1h" }, access: { policy } }) as KubeObject;
    caches.appInstances?.put({ ...instance, status: { phase: "Running", observedGeneration: 1 } } as KubeObject);
  };
  put(access.policy);
  const reconcile = reconcileAppInstance(deps);
  const pass = async () => {
    const from = writes.length;
    await reconcile("org-acme/docs");
    return writes.slice(from);
  };
  return { caches, writes, events, pass, put };
}

const order = (writes: Write[]) => writes.map((w) => `${w.verb} ${w.resource}/${w.name}`);

describe("access control in the data plane, in the AppInstance reconcile", () => {
  it("writes a Members app's SecurityPolicy and its namespace's grant before its route", async () => {
    const h = harness({ policy: "Members" }, EXT_AUTH);
    const written = order(await h.pass());
    const policy = written.indexOf("apply securitypolicies/docs-access");
    expect(policy).toBeGreaterThanOrEqual(0);
    expect(written).toContain("apply referencegrants/atrium-ext-auth-org-acme");
    expect(policy).toBeLessThan(written.indexOf("apply httproutes/docs"));
    const grant = h.writes.find((w) => w.resource === "referencegrants")?.object;
    expect(grant?.metadata).toMatchObject({ namespace: "atrium-system" });
    expect(grant?.metadata.ownerReferences?.[0]).toMatchObject({ kind: "Organization", name: "acme", uid: "org-uid" });
  });

  it("gives a Public app its credential filter instead of a policy, and a switch replaces one with the other", async () => {
    const h = harness({ policy: "Public" }, EXT_AUTH);
    const first = await h.pass();
    expect(first.filter((w) => w.resource === "securitypolicies" || w.resource === "referencegrants")).toEqual([]);
    const written = order(first);
    const filter = written.indexOf("apply envoyextensionpolicies/docs-credentials");
    expect(filter).toBeGreaterThanOrEqual(0);
    expect(filter).toBeLessThan(written.indexOf("apply httproutes/docs"));
    for (const w of first) if (w.object) h.caches[cacheOf(w.resource)]?.put(w.object);

    h.put("Members");
    const members = await h.pass();
    for (const w of members) if (w.object) h.caches[cacheOf(w.resource)]?.put(w.object);
    // The policy first, then the filter goes: the route is never without either.
    const policy = order(members).indexOf("apply securitypolicies/docs-access");
    expect(policy).toBeGreaterThanOrEqual(0);
    const dropFilter = members.findIndex((w) => w.verb === "delete" && w.resource === "envoyextensionpolicies");
    expect(members[dropFilter]).toEqual({
      verb: "delete",
      resource: "envoyextensionpolicies",
      name: "docs-credentials",
      namespace: "org-acme",
    });
    expect(policy).toBeLessThan(dropFilter);
    h.caches.extensionPolicies?.store.clear();

    h.put("Public");
    const back = await h.pass();
    expect(order(back)).toContain("apply envoyextensionpolicies/docs-credentials");
    expect(back).toContainEqual({
      verb: "delete",
      resource: "securitypolicies",
      name: "docs-access",
      namespace: "org-acme",
    });
    expect(order(back).indexOf("apply envoyextensionpolicies/docs-credentials")).toBeLessThan(
      back.findIndex((w) => w.verb === "delete"),
    );
  });

  it("warns once when Envoy Gateway refuses a Public app's credential filter (Lua off): the app receives Atrium's credentials", async () => {
    const h = harness({ policy: "Public" }, EXT_AUTH);
    const first = await h.pass();
    const filter = first.find((w) => w.resource === "envoyextensionpolicies")?.object as KubeObject;
    const withStatus = (accepted: "True" | "False", message: string) =>
      h.caches.extensionPolicies?.put({
        ...filter,
        status: { ancestors: [{ conditions: [{ type: "Accepted", status: accepted, message }] }] },
      } as KubeObject);
    withStatus("True", "Policy has been accepted.");
    await h.pass();
    expect(h.events).toEqual([]);
    withStatus("False", "Lua extensions are not enabled");
    await h.pass();
    await h.pass();
    expect(h.events).toEqual(["Warning CredentialsNotFiltered"]); // told once
    // Accepted again, then refused again: told again.
    withStatus("True", "Policy has been accepted.");
    await h.pass();
    withStatus("False", "Lua extensions are not enabled");
    await h.pass();
    expect(h.events).toEqual(["Warning CredentialsNotFiltered", "Warning CredentialsNotFiltered"]);
  });

  it("fails closed: without external authorization a Members app gets no route (and loses one it had), with a Warning", async () => {
    const h = harness({ policy: "Members" }, {});
    const written = await h.pass();
    expect(written.filter((w) => w.resource === "httproutes")).toEqual([]);
    expect(h.events).toEqual(["Warning AccessNotEnforced"]);
    // The route Service and its endpoints are still written: only the route is withheld.
    expect(order(written)).toContain("apply services/docs-route");

    // A route left from before (say, the app was Public): deleted.
    h.caches.httpRoutes?.put({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "docs", namespace: "org-acme" },
    } as KubeObject);
    const again = await h.pass();
    expect(again).toContainEqual({ verb: "delete", resource: "httproutes", name: "docs", namespace: "org-acme" });
    expect(h.events).toEqual(["Warning AccessNotEnforced"]); // told once

    // A Public app is routed as before.
    const pub = harness({ policy: "Public" }, {});
    expect(order(await pub.pass())).toContain("apply httproutes/docs");
    expect(pub.events).toEqual([]);
  });
});

const cacheOf = (resource: string) =>
  (
    ({
      securitypolicies: "securityPolicies",
      referencegrants: "referenceGrants",
      envoyextensionpolicies: "extensionPolicies",
      httproutes: "httpRoutes",
    }) as Record<string, string>
  )[resource] ?? resource;
