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

  it("creates the five built-in roles, flagged builtIn", () => {
    const roles = desiredBuiltInRoles(org());
    expect(roles.map((r) => r.metadata.name)).toEqual(["admin", "co-admin", "manager", "member", "viewer"]);
    expect(roles.every((r) => (r.spec as any).builtIn === true)).toBe(true);
  });
});
