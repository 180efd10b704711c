import type { Organization } from "@atrium/crds";
import type { KubeObject } from "@atrium/kube";
import { describe, expect, it } from "vitest";
import { defaultConfig } from "../config.ts";
import { desiredBuiltInRoles, desiredNamespace, desiredNetworkPolicy, desiredResourceQuota } from "./desired.ts";

const org = (quotas?: Organization["spec"]["quotas"]): Organization & KubeObject => ({
  apiVersion: "atrium.dev/v1alpha1",
  kind: "Organization",
  metadata: { name: "acme", uid: "org-uid" },
  spec: { displayName: "Acme", ...(quotas ? { quotas } : {}) },
});

describe("organization children", () => {
  it("names the namespace org-<name> and owns it", () => {
    const ns = desiredNamespace(org());
    expect(ns.metadata.name).toBe("org-acme");
    expect(ns.metadata.labels).toMatchObject({ "atrium.dev/organization": "acme" });
    expect(ns.metadata.ownerReferences?.[0]).toMatchObject({ kind: "Organization", uid: "org-uid" });
  });

  it("turns quotas into ResourceQuota limits, and sets none without quotas", () => {
    expect(desiredResourceQuota(org())).toBeUndefined();
    const q = desiredResourceQuota(org({ cpu: "4", memory: "8Gi", maxApps: 10 })) as any;
    expect(q.spec.hard).toEqual({ "requests.cpu": "4", "requests.memory": "8Gi", "count/deployments.apps": "10" });
  });

  it("admits ingress only from the gateway", () => {
    const np = desiredNetworkPolicy(org(), defaultConfig({})) as any;
    expect(np.spec.podSelector).toEqual({});
    expect(np.spec.ingress).toEqual([
      {
        from: [
          {
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "atrium-system" } },
            podSelector: { matchLabels: { "app.kubernetes.io/name": "atrium-gateway" } },
          },
        ],
      },
    ]);
  });

  it("admits the data plane's pods too in Gateway API mode, when they are named", () => {
    const env = {
      ATRIUM_ROUTING: "gateway-api",
      ATRIUM_STOP_UNCONFIRMED: "true", // no data plane to confirm a stop through (routing/stop-checks.ts)
      ATRIUM_GATEWAY_API_PARENT: "gw/public",
      ATRIUM_ACTIVATOR_ADDRESSES: "10.96.0.20",
    };
    const sources = (extra: Record<string, string>) =>
      (desiredNetworkPolicy(org(), defaultConfig({ ...env, ...extra })) as any).spec.ingress[0].from;
    expect(sources({})).toHaveLength(1);
    expect(
      sources({
        ATRIUM_DATA_PLANE_NAMESPACE: "envoy-gateway-system",
        ATRIUM_DATA_PLANE_POD_LABELS: "gateway.envoyproxy.io/owning-gateway-name=public",
      })[1],
    ).toEqual({
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "envoy-gateway-system" } },
      podSelector: { matchLabels: { "gateway.envoyproxy.io/owning-gateway-name": "public" } },
    });
    // The embedded gateway's mode admits only the gateway, whatever else is set.
    expect(
      (
        desiredNetworkPolicy(
          org(),
          defaultConfig({ ATRIUM_DATA_PLANE_NAMESPACE: "x", ATRIUM_DATA_PLANE_POD_LABELS: "a=b" }),
        ) as any
      ).spec.ingress[0].from,
    ).toHaveLength(1);
  });

  it("creates the five built-in roles, flagged builtIn", () => {
    const roles = desiredBuiltInRoles(org());
    expect(roles.map((r) => r.metadata.name)).toEqual(["admin", "co-admin", "manager", "member", "viewer"]);
    expect(roles.every((r) => (r.spec as any).builtIn === true)).toBe(true);
  });
});
