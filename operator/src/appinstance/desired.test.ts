import { describe, expect, it } from "vitest";
import { defaultConfig } from "../config.ts";
import {
  ANNOTATION_CONFIG_HASH,
  ANNOTATION_RESTARTED_AT,
  appUrl,
  desiredClaim,
  desiredDeployment,
  desiredSecret,
  desiredService,
  resolveSettings,
} from "./desired.ts";
import { app, template } from "./fixtures.ts";

const gen = () => "generated-secret";

describe("resolveSettings", () => {
  it("takes given values, template defaults, and generates missing secrets into a Secret", () => {
    const s = resolveSettings(app(), template(), {}, gen);
    expect(s.env).toEqual([
      { name: "TITLE", value: "Our wiki" },
      { name: "ADMIN_EMAIL", value: "it@acme.example" },
      { name: "SESSION_KEY", valueFrom: { secretKeyRef: { name: "docs-settings", key: "SESSION_KEY" } } },
    ]);
    expect(s.secretData).toEqual({ SESSION_KEY: "generated-secret" });
    expect(s.generated).toEqual(["SESSION_KEY"]);
    expect(s.missing).toEqual([]);
  });

  it("keeps a secret generated earlier instead of making a new one", () => {
    const s = resolveSettings(app(), template(), { SESSION_KEY: "from-before" }, gen);
    expect(s.secretData.SESSION_KEY).toBe("from-before");
    expect(s.generated).toEqual([]);
  });

  it("never puts a given secret value in the pod spec", () => {
    const a = app({
      env: [
        { name: "ADMIN_EMAIL", value: "it@acme.example" },
        { name: "SMTP_PASSWORD", value: "hunter2" },
      ],
    });
    const s = resolveSettings(a, template(), {}, gen);
    expect(JSON.stringify(s.env)).not.toContain("hunter2");
    expect(s.secretData.SMTP_PASSWORD).toBe("hunter2");
  });

  it("passes the installer's own secret references through", () => {
    const a = app({
      env: [
        { name: "ADMIN_EMAIL", value: "it@acme.example" },
        { name: "SMTP_PASSWORD", secretKeyRef: { name: "mail", key: "password" } },
      ],
    });
    const s = resolveSettings(a, template(), {}, gen);
    expect(s.env).toContainEqual({
      name: "SMTP_PASSWORD",
      valueFrom: { secretKeyRef: { name: "mail", key: "password" } },
    });
  });

  it("reports required settings without a value and settings the template lacks", () => {
    const s = resolveSettings(app({ env: [{ name: "COLOUR", value: "blue" }] }), template(), {}, gen);
    expect(s.missing).toEqual(["ADMIN_EMAIL"]);
    expect(s.unknown).toEqual(["COLOUR"]);
  });
});

describe("desiredDeployment", () => {
  const settings = resolveSettings(app(), template(), {}, gen);
  const deployment = (a = app(), replicas = 1) =>
    desiredDeployment(a, template(), { version: "2.0", settings, replicas }) as any;

  it("runs the template image at the version, non-root, with the probe and the data volume", () => {
    const d = deployment();
    const pod = d.spec.template.spec;
    expect(pod.containers[0].image).toBe("example/wiki:2.0");
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    expect(pod.containers[0].securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    });
    expect(pod.containers[0].readinessProbe.httpGet).toEqual({ path: "/health", port: "http" });
    expect(pod.volumes).toEqual([{ name: "data", persistentVolumeClaim: { claimName: "docs-data" } }]);
    expect(d.spec.strategy).toEqual({ type: "Recreate" });
    expect(d.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: "AppInstance", name: "docs", uid: "app-uid", controller: true }),
    ]);
  });

  it("is the same object for the same input (no clock in the pod template)", () => {
    expect(JSON.stringify(deployment())).toBe(JSON.stringify(deployment()));
  });

  it("copies a restart request into the pod template, and a new secret value changes the hash", () => {
    const restarted = deployment(app({ restartRequestedAt: "2026-03-01T10:00:00Z" }));
    expect(restarted.spec.template.metadata.annotations[ANNOTATION_RESTARTED_AT]).toBe("2026-03-01T10:00:00Z");
    const other = resolveSettings(app(), template(), { SESSION_KEY: "rotated" }, gen);
    const rotated = desiredDeployment(app(), template(), { version: "2.0", settings: other, replicas: 1 }) as any;
    expect(rotated.spec.template.metadata.annotations[ANNOTATION_CONFIG_HASH]).not.toBe(
      deployment().spec.template.metadata.annotations[ANNOTATION_CONFIG_HASH],
    );
  });

  it("leaves a zero probe delay out, as the apiserver stores it (else every pass would re-apply)", () => {
    const t = template();
    t.spec.healthCheck = { path: "/health", initialDelaySeconds: 0 };
    const d = desiredDeployment(app(), t, { version: "2.0", settings, replicas: 1 }) as any;
    expect(d.spec.template.spec.containers[0].readinessProbe).not.toHaveProperty("initialDelaySeconds");
    expect(deployment().spec.template.spec.containers[0].readinessProbe.initialDelaySeconds).toBe(5);
  });

  it("lets the operator own replicas", () => {
    expect(deployment(app(), 0).spec.replicas).toBe(0);
  });
});

describe("children", () => {
  it("keeps the volume when the app is deleted, unless deletionPolicy is Delete", () => {
    expect((desiredClaim(app(), template()) as any).metadata.ownerReferences).toBeUndefined();
    const owned = desiredClaim(app({ storage: { deletionPolicy: "Delete" } }), template()) as any;
    expect(owned.metadata.ownerReferences[0].name).toBe("docs");
    expect(owned.spec.resources.requests.storage).toBe("5Gi");
  });

  it("exposes the template ports on the Service, and stores secrets base64-encoded", () => {
    expect((desiredService(app(), template()) as any).spec.ports).toEqual([
      { name: "http", port: 3000, targetPort: "http", protocol: "TCP" },
    ]);
    const secret = desiredSecret(app(), template(), resolveSettings(app(), template(), {}, gen)) as any;
    expect(Buffer.from(secret.data.SESSION_KEY, "base64").toString()).toBe("generated-secret");
  });
});

describe("appUrl", () => {
  it("follows ATRIUM_APP_URL_TEMPLATE (make dev: the gateway's path form), else the host form", () => {
    const config = defaultConfig({ ATRIUM_APP_URL_TEMPLATE: "http://127.0.0.1:8081/apps/{org}/{app}/" });
    expect(appUrl(app(), config)).toBe("http://127.0.0.1:8081/apps/acme/docs/");
    expect(appUrl(app(), defaultConfig({}))).toBe("https://docs.acme.atrium.localhost");
    expect(() => defaultConfig({ ATRIUM_APP_URL_TEMPLATE: "127.0.0.1:8081/apps" })).toThrow(
      "ATRIUM_APP_URL_TEMPLATE must be an http(s) URL containing {app}",
    );
  });
});
