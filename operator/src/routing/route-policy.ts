// The shape both of an app's Envoy Gateway policies share (ext-auth.ts's SecurityPolicy and
// credential-filter.ts's EnvoyExtensionPolicy): in the app's namespace, labelled and owned by
// the app (deleted with it), aimed at the app's HTTPRoute (named after the app), on all its
// rules or on the named ones. Pure.
import { type AppInstance, orgOfNamespace } from "@atrium/crds";
import type { KubeObject } from "@atrium/kube";
import { LABEL_INSTANCE, managedLabels, ownerRef } from "../labels.ts";

type App = AppInstance & KubeObject;

export function appRoutePolicy(
  app: App,
  policy: { kind: "SecurityPolicy" | "EnvoyExtensionPolicy"; name: string; ruleNames?: readonly string[] },
  spec: Record<string, unknown>,
): KubeObject {
  const org = orgOfNamespace(app.metadata.namespace) ?? "";
  const route = { group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: app.metadata.name };
  return {
    apiVersion: "gateway.envoyproxy.io/v1alpha1",
    kind: policy.kind,
    metadata: {
      name: policy.name,
      namespace: app.metadata.namespace,
      labels: managedLabels(org, { [LABEL_INSTANCE]: app.metadata.name }),
      ownerReferences: [ownerRef(app)],
    },
    spec: {
      targetRefs: policy.ruleNames ? policy.ruleNames.map((sectionName) => ({ ...route, sectionName })) : [route],
      ...spec,
    },
  };
}
