// The resource types the operator reads and writes, and how their REST paths are built.
import { GROUP, VERSION } from "@atrium/crds";

export type ResourceType = {
  group: string; // "" for the core group
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
};

const core = (kind: string, plural: string, namespaced = true): ResourceType => ({
  group: "",
  version: "v1",
  plural,
  kind,
  namespaced,
});
const atrium = (kind: string, plural: string, namespaced: boolean): ResourceType => ({
  group: GROUP,
  version: VERSION,
  plural,
  kind,
  namespaced,
});

export const R = {
  namespace: core("Namespace", "namespaces", false),
  secret: core("Secret", "secrets"),
  service: core("Service", "services"),
  pvc: core("PersistentVolumeClaim", "persistentvolumeclaims"),
  pod: core("Pod", "pods"),
  event: core("Event", "events"),
  resourceQuota: core("ResourceQuota", "resourcequotas"),
  limitRange: core("LimitRange", "limitranges"),
  deployment: { group: "apps", version: "v1", plural: "deployments", kind: "Deployment", namespaced: true },
  networkPolicy: {
    group: "networking.k8s.io",
    version: "v1",
    plural: "networkpolicies",
    kind: "NetworkPolicy",
    namespaced: true,
  },
  endpointSlice: {
    group: "discovery.k8s.io",
    version: "v1",
    plural: "endpointslices",
    kind: "EndpointSlice",
    namespaced: true,
  },
  httpRoute: {
    group: "gateway.networking.k8s.io",
    version: "v1",
    plural: "httproutes",
    kind: "HTTPRoute",
    namespaced: true,
  },
  /** Gateway API mode with external authorization (operator/src/routing/ext-auth.ts). */
  securityPolicy: {
    group: "gateway.envoyproxy.io",
    version: "v1alpha1",
    plural: "securitypolicies",
    kind: "SecurityPolicy",
    namespaced: true,
  },
  /** Gateway API mode with Envoy Gateway: Public apps' credential filter (operator/src/routing/credential-filter.ts). */
  envoyExtensionPolicy: {
    group: "gateway.envoyproxy.io",
    version: "v1alpha1",
    plural: "envoyextensionpolicies",
    kind: "EnvoyExtensionPolicy",
    namespaced: true,
  },
  referenceGrant: {
    group: "gateway.networking.k8s.io",
    version: "v1beta1",
    plural: "referencegrants",
    kind: "ReferenceGrant",
    namespaced: true,
  },
  lease: { group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease", namespaced: true },
  organization: atrium("Organization", "organizations", false),
  orgRole: atrium("OrgRole", "orgroles", true),
  member: atrium("Member", "members", true),
  appTemplate: atrium("AppTemplate", "apptemplates", false),
  appInstance: atrium("AppInstance", "appinstances", true),
} as const satisfies Record<string, ResourceType>;

export const apiVersionOf = (t: ResourceType) => (t.group ? `${t.group}/${t.version}` : t.version);

export function resourcePath(t: ResourceType, namespace?: string, name?: string, subresource?: string): string {
  const base = t.group ? `/apis/${t.group}/${t.version}` : `/api/${t.version}`;
  const ns = t.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  const named = name ? `/${encodeURIComponent(name)}` : "";
  return `${base}${ns}/${t.plural}${named}${name && subresource ? `/${subresource}` : ""}`;
}

/** The cache key of an object: `namespace/name`, or `name` when cluster-scoped. */
export const keyOf = (o: { metadata?: { name?: string; namespace?: string } }) =>
  o.metadata?.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : (o.metadata?.name ?? "");
