// What an AppInstance should run, as pure functions of the app, its template and the values
// already stored: a Secret for secret settings, a Deployment, a Service and (when the
// template declares storage) a PersistentVolumeClaim.
import { createHash } from "node:crypto";
import { type AppInstance, type AppTemplate, HTTP_PORT_NAME, orgOfNamespace } from "@atrium/crds";
import type { KubeObject } from "@atrium/kube";
import { LABEL_INSTANCE, LABEL_NAME, managedLabels, ownerRef } from "../labels.ts";

type App = AppInstance & KubeObject;

export const DEFAULT_UID = 10001;
export const ANNOTATION_CONFIG_HASH = "atrium.dev/config-hash";
export const ANNOTATION_RESTARTED_AT = "atrium.dev/restarted-at";

export const settingsSecretName = (app: string) => `${app}-settings`;
export const dataClaimName = (app: string) => `${app}-data`;

type EnvVar = { name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string } } };

export type Settings = {
  /** In template order; secret values point into a Secret, never sit in the pod spec. */
  env: EnvVar[];
  /** What the settings Secret holds: given or generated secret values. */
  secretData: Record<string, string>;
  generated: string[];
  missing: string[];
  unknown: string[];
};

/**
 * Resolves every template setting to a value: the installer's value or secret reference,
 * else a stored or freshly generated secret, else the template default. Generated secrets
 * are read back from the stored Secret, so they never change once made.
 */
export function resolveSettings(
  app: AppInstance,
  template: AppTemplate,
  stored: Record<string, string>,
  generate: () => string,
): Settings {
  const given = new Map((app.spec.env ?? []).map((e) => [e.name, e]));
  const secretName = settingsSecretName(app.metadata.name);
  const settings: Settings = { env: [], secretData: {}, generated: [], missing: [], unknown: [] };
  const declared = new Set((template.spec.env ?? []).map((v) => v.name));
  settings.unknown = [...given.keys()].filter((name) => !declared.has(name));

  for (const v of template.spec.env ?? []) {
    const g = given.get(v.name);
    if (g?.secretKeyRef) {
      settings.env.push({ name: v.name, valueFrom: { secretKeyRef: { ...g.secretKeyRef } } });
      continue;
    }
    if (v.secret) {
      let value = g?.value ?? stored[v.name];
      if (value === undefined && v.generated) {
        value = generate();
        settings.generated.push(v.name);
      }
      if (value === undefined) {
        if (v.required) settings.missing.push(v.name);
        continue;
      }
      settings.secretData[v.name] = value;
      settings.env.push({ name: v.name, valueFrom: { secretKeyRef: { name: secretName, key: v.name } } });
      continue;
    }
    const value = g?.value ?? v.default;
    if (value === undefined) {
      if (v.required) settings.missing.push(v.name);
      continue;
    }
    settings.env.push({ name: v.name, value });
  }
  return settings;
}

/** Changes when a secret value changes, so the Deployment rolls (a Secret edit alone does not). */
export const configHash = (secretData: Record<string, string>) =>
  createHash("sha256")
    .update(JSON.stringify(Object.entries(secretData).sort(([a], [b]) => a.localeCompare(b))))
    .digest("hex")
    .slice(0, 16);

const labelsFor = (app: App, template: AppTemplate) =>
  managedLabels(orgOfNamespace(app.metadata.namespace) ?? "", {
    [LABEL_INSTANCE]: app.metadata.name,
    [LABEL_NAME]: template.metadata.name,
  });

export const selectorFor = (app: App) => ({ [LABEL_INSTANCE]: app.metadata.name });

export function desiredSecret(app: App, template: AppTemplate, settings: Settings): KubeObject | undefined {
  if (Object.keys(settings.secretData).length === 0) return undefined;
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: settingsSecretName(app.metadata.name),
      namespace: app.metadata.namespace,
      labels: labelsFor(app, template),
      ownerReferences: [ownerRef(app)],
    },
    type: "Opaque",
    data: Object.fromEntries(
      Object.entries(settings.secretData).map(([k, v]) => [k, Buffer.from(v, "utf8").toString("base64")]),
    ),
  };
}

export type DeploymentInput = { version: string; settings: Settings; replicas: number };

export function desiredDeployment(app: App, template: AppTemplate, input: DeploymentInput): KubeObject {
  const t = template.spec;
  const labels = labelsFor(app, template);
  const requests = {
    ...((app.spec.resources?.cpu ?? t.resources?.cpu) ? { cpu: app.spec.resources?.cpu ?? t.resources?.cpu } : {}),
    ...((app.spec.resources?.memory ?? t.resources?.memory)
      ? { memory: app.spec.resources?.memory ?? t.resources?.memory }
      : {}),
  };
  const annotations: Record<string, string> = { [ANNOTATION_CONFIG_HASH]: configHash(input.settings.secretData) };
  // The restart request is a timestamp the user sets once; copying it (never Date.now())
  // into the pod template rolls the Deployment exactly once per request.
  if (app.spec.restartRequestedAt) annotations[ANNOTATION_RESTARTED_AT] = app.spec.restartRequestedAt;
  const delay = t.healthCheck?.initialDelaySeconds ?? 5;
  const probe = t.healthCheck && {
    httpGet: { path: t.healthCheck.path, port: HTTP_PORT_NAME },
    // The apiserver stores a zero delay as absent (omitempty): sending 0 would make the live
    // Deployment differ from the desired one on every pass, so it would be applied forever.
    ...(delay > 0 ? { initialDelaySeconds: delay } : {}),
    periodSeconds: t.healthCheck.periodSeconds ?? 10,
  };
  const uid = t.runAsUser ?? DEFAULT_UID;
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: app.metadata.name,
      namespace: app.metadata.namespace,
      labels,
      ownerReferences: [ownerRef(app)],
    },
    spec: {
      replicas: input.replicas,
      selector: { matchLabels: selectorFor(app) },
      // A ReadWriteOnce volume cannot be mounted by the old and the new pod at once.
      strategy: t.storage ? { type: "Recreate" } : { type: "RollingUpdate" },
      template: {
        metadata: { labels, annotations },
        spec: {
          automountServiceAccountToken: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: uid,
            runAsGroup: uid,
            fsGroup: uid,
            seccompProfile: { type: "RuntimeDefault" },
          },
          containers: [
            {
              name: "app",
              image: `${t.image}:${input.version}`,
              ports: t.ports.map((p) => ({ name: p.name, containerPort: p.containerPort, protocol: "TCP" })),
              ...(input.settings.env.length ? { env: input.settings.env } : {}),
              ...(Object.keys(requests).length ? { resources: { requests } } : {}),
              ...(probe ? { readinessProbe: probe } : {}),
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: false,
                capabilities: { drop: ["ALL"] },
              },
              ...(t.storage ? { volumeMounts: [{ name: "data", mountPath: t.storage.mountPath }] } : {}),
            },
          ],
          ...(t.storage
            ? { volumes: [{ name: "data", persistentVolumeClaim: { claimName: dataClaimName(app.metadata.name) } }] }
            : {}),
        },
      },
    },
  };
}

export function desiredService(app: App, template: AppTemplate): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: app.metadata.name,
      namespace: app.metadata.namespace,
      labels: labelsFor(app, template),
      ownerReferences: [ownerRef(app)],
    },
    spec: {
      type: "ClusterIP",
      selector: selectorFor(app),
      ports: template.spec.ports.map((p) => ({
        name: p.name,
        port: p.containerPort,
        targetPort: p.name,
        protocol: "TCP",
      })),
    },
  };
}

/**
 * The data volume. It is owned by the app (deleted with it) only under deletionPolicy
 * Delete; under Retain (the default) it outlives the app. Stopping never touches it.
 */
export function desiredClaim(app: App, template: AppTemplate): KubeObject | undefined {
  const storage = template.spec.storage;
  if (!storage) return undefined;
  const owned = app.spec.storage?.deletionPolicy === "Delete";
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: {
      name: dataClaimName(app.metadata.name),
      namespace: app.metadata.namespace,
      labels: labelsFor(app, template),
      ...(owned ? { ownerReferences: [ownerRef(app)] } : {}),
    },
    spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: storage.size } } },
  };
}

/**
 * Where people open the app: the configured template (ATRIUM_APP_URL_TEMPLATE, say
 * `http://127.0.0.1:8081/apps/{org}/{app}/` for the gateway's path form in `make dev`), else
 * the host form https://<app>.<org>.<baseDomain>.
 */
export const appUrl = (app: App, config: { baseDomain: string; appUrlTemplate?: string }) => {
  const org = orgOfNamespace(app.metadata.namespace) ?? "";
  const template = config.appUrlTemplate ?? `https://{app}.{org}.${config.baseDomain}`;
  return template.replaceAll("{org}", org).replaceAll("{app}", app.metadata.name);
};
