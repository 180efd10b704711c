// Objects for the pure-function tests: a template with every kind of setting, and an app.
import type { AppInstance, AppTemplate } from "@atrium/crds";
import type { KubeObject } from "@atrium/kube";

export const template = (): AppTemplate & KubeObject => ({
  apiVersion: "atrium.dev/v1alpha1",
  kind: "AppTemplate",
  metadata: { name: "wiki", uid: "tpl-uid" },
  spec: {
    displayName: "Wiki",
    category: "Productivity",
    image: "example/wiki",
    versions: ["2.0", "1.0"],
    defaultVersion: "2.0",
    ports: [{ name: "http", containerPort: 3000 }],
    env: [
      { name: "TITLE", default: "Our wiki" },
      { name: "ADMIN_EMAIL", required: true },
      { name: "SESSION_KEY", secret: true, generated: true, required: true },
      { name: "SMTP_PASSWORD", secret: true },
    ],
    storage: { size: "5Gi", mountPath: "/data" },
    healthCheck: { path: "/health" },
    resources: { cpu: "100m", memory: "128Mi" },
    runAsUser: 1000,
  },
});

export const app = (spec: Partial<AppInstance["spec"]> = {}): AppInstance & KubeObject => ({
  apiVersion: "atrium.dev/v1alpha1",
  kind: "AppInstance",
  metadata: { name: "docs", namespace: "org-acme", uid: "app-uid", generation: 1 },
  spec: { template: "wiki", env: [{ name: "ADMIN_EMAIL", value: "it@acme.example" }], ...spec },
});
