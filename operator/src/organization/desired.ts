// What an Organization should have, as pure functions of the Organization alone.
import { BUILT_IN_ROLES, namespaceFor, type Organization, type OrgRoleSpec } from "@atrium/crds";
import type { KubeObject } from "@atrium/kube";
import type { OperatorConfig } from "../config.ts";
import { managedLabels, ownerRef } from "../labels.ts";

type Org = Organization & KubeObject;

export function desiredNamespace(org: Org): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name: namespaceFor(org.metadata.name),
      labels: managedLabels(org.metadata.name),
      ownerReferences: [ownerRef(org)],
    },
  };
}

/** The org's quotas as a ResourceQuota, or undefined when it sets none. */
export function desiredResourceQuota(org: Org): KubeObject | undefined {
  const q = org.spec.quotas ?? {};
  const hard: Record<string, string> = {};
  if (q.cpu) hard["requests.cpu"] = q.cpu;
  if (q.memory) hard["requests.memory"] = q.memory;
  if (q.storage) hard["requests.storage"] = q.storage;
  // Each app is one Deployment; counting them enforces maxApps even against kubectl.
  if (q.maxApps !== undefined) hard["count/deployments.apps"] = String(q.maxApps);
  if (Object.keys(hard).length === 0) return undefined;
  return {
    apiVersion: "v1",
    kind: "ResourceQuota",
    metadata: {
      name: "atrium-quota",
      namespace: namespaceFor(org.metadata.name),
      labels: managedLabels(org.metadata.name),
      ownerReferences: [ownerRef(org)],
    },
    spec: { hard },
  };
}

/** Defaults for containers without requests: a quota on requests otherwise rejects them. */
export function desiredLimitRange(org: Org, config: OperatorConfig): KubeObject {
  return {
    apiVersion: "v1",
    kind: "LimitRange",
    metadata: {
      name: "atrium-defaults",
      namespace: namespaceFor(org.metadata.name),
      labels: managedLabels(org.metadata.name),
      ownerReferences: [ownerRef(org)],
    },
    spec: {
      limits: [
        {
          type: "Container",
          defaultRequest: { cpu: config.defaultContainerCpu, memory: config.defaultContainerMemory },
        },
      ],
    },
  };
}

/** Deny all ingress to the org's pods except from the gateway (the only path to apps). */
export function desiredNetworkPolicy(org: Org, config: OperatorConfig): KubeObject {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: {
      name: "atrium-gateway-only",
      namespace: namespaceFor(org.metadata.name),
      labels: managedLabels(org.metadata.name),
      ownerReferences: [ownerRef(org)],
    },
    spec: {
      podSelector: {},
      policyTypes: ["Ingress"],
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": config.gatewayNamespace } },
              podSelector: { matchLabels: config.gatewayPodLabels },
            },
            // Gateway API mode: the data plane sends running apps their traffic itself.
            ...(config.routing.mode === "gateway-api" && config.routing.dataPlane
              ? [
                  {
                    namespaceSelector: {
                      matchLabels: { "kubernetes.io/metadata.name": config.routing.dataPlane.namespace },
                    },
                    podSelector: { matchLabels: config.routing.dataPlane.podLabels },
                  },
                ]
              : []),
          ],
        },
      ],
    },
  };
}

export function desiredBuiltInRoles(org: Org): (KubeObject & { spec: OrgRoleSpec })[] {
  return BUILT_IN_ROLES.map((role) => ({
    apiVersion: "atrium.dev/v1alpha1",
    kind: "OrgRole",
    metadata: {
      name: role.name,
      namespace: namespaceFor(org.metadata.name),
      labels: managedLabels(org.metadata.name),
      ownerReferences: [ownerRef(org)],
    },
    spec: {
      displayName: role.displayName,
      description: role.description,
      level: role.level,
      permissions: [...role.permissions],
      builtIn: true,
    },
  }));
}
