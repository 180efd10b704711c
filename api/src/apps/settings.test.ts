import type { AppInstance, AppTemplate } from "@atrium/crds";
import { describe, expect, it } from "vitest";
import { envErrors, installErrors, type OrgFacts, settingsView } from "./settings.ts";

const template = {
  apiVersion: "atrium.dev/v1alpha1",
  kind: "AppTemplate",
  metadata: { name: "wiki" },
  spec: {
    displayName: "Wiki",
    category: "Productivity",
    image: "example/wiki",
    versions: ["2.0", "1.9"],
    defaultVersion: "2.0",
    ports: [{ name: "http", containerPort: 3000 }],
    env: [
      { name: "SITE_TITLE", required: true },
      { name: "THEME", default: "light" },
      { name: "SMTP_PASSWORD", secret: true },
      { name: "ADMIN_TOKEN", secret: true, required: true },
      { name: "SESSION_KEY", secret: true, required: true, generated: true },
      { name: "LANG", required: true, default: "en" },
    ],
  },
} as AppTemplate;

const org: OrgFacts = { appNames: new Set(["taken"]), roles: new Set(["admin", "member"]), maxApps: undefined };
const ok = { template: "wiki", name: "mine", env: { SITE_TITLE: "Docs", ADMIN_TOKEN: "s3cret" } };

describe("installErrors", () => {
  it("accepts a complete install (generated and defaulted settings need no value)", () => {
    expect(installErrors(template, ok, org)).toEqual([]);
  });

  it.each([
    ["unknown template", undefined, ok, [["/body/template", 'no app "wiki" in the marketplace']]],
    ["unknown version", template, { ...ok, version: "3.0" }, [["/body/version", 'wiki offers 2.0, 1.9, not "3.0"']]],
    ["name taken", template, { ...ok, name: "taken" }, [["/body/name", 'an app named "taken" is already installed']]],
    [
      "missing required setting",
      template,
      { ...ok, env: { ADMIN_TOKEN: "x" } },
      [["/body/env/SITE_TITLE", "is required"]],
    ],
    [
      "required setting given empty",
      template,
      { ...ok, env: { ...ok.env, ADMIN_TOKEN: "" } },
      [["/body/env/ADMIN_TOKEN", "is required"]],
    ],
    [
      "unknown setting",
      template,
      { ...ok, env: { ...ok.env, COLOR: "red" } },
      [["/body/env/COLOR", "is not a setting of wiki"]],
    ],
    [
      "invalid env name",
      template,
      { ...ok, env: { ...ok.env, "1BAD-NAME": "x" } },
      [["/body/env/1BAD-NAME", "is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)"]],
    ],
    [
      "roles that do not exist",
      template,
      { ...ok, access: { policy: "Roles" as const, roles: ["member", "ghosts"] } },
      [["/body/access/roles/1", 'role "ghosts" does not exist']],
    ],
    [
      "policy Roles without roles",
      template,
      { ...ok, access: { policy: "Roles" as const } },
      [["/body/access/roles", "policy Roles needs at least one role"]],
    ],
  ])("%s", (_case, tpl, body, expected) => {
    expect(installErrors(tpl, body, org).map((e) => [e.path, e.message])).toEqual(expected);
  });

  it("refuses an install over the organization's quota", () => {
    expect(installErrors(template, ok, { ...org, maxApps: 1 })).toEqual([
      { path: "/body", message: "the organization's quota allows 1 app(s) and 1 are installed" },
    ]);
    expect(installErrors(template, ok, { ...org, maxApps: 2 })).toEqual([]);
  });

  it("reports every problem at once", () => {
    const body = { template: "wiki", name: "taken", version: "0.1", env: { NOPE: "1" } };
    expect(installErrors(template, body, org).map((e) => e.path)).toEqual([
      "/body/version",
      "/body/name",
      "/body/env/NOPE",
      "/body/env/SITE_TITLE",
      "/body/env/ADMIN_TOKEN",
    ]);
  });
});

describe("envErrors for a settings change", () => {
  it("needs no required values, but refuses to remove one", () => {
    expect(envErrors(template, { THEME: "dark" }, { install: false })).toEqual([]);
    expect(envErrors(template, { SITE_TITLE: null, THEME: null }, { install: false })).toEqual([
      { path: "/body/env/SITE_TITLE", message: "is required and cannot be removed" },
    ]);
  });
});

describe("settingsView", () => {
  const app = (env: NonNullable<AppInstance["spec"]["env"]>) =>
    ({ metadata: { name: "mine", namespace: "org-x" }, spec: { template: "wiki", env } }) as AppInstance;

  it("shows plain values and defaults, and secrets only as set or not set", () => {
    const view = settingsView(
      template,
      app([
        { name: "SITE_TITLE", value: "Docs" },
        { name: "ADMIN_TOKEN", secretKeyRef: { name: "mine-values", key: "ADMIN_TOKEN.ab12cd34" } },
        { name: "SMTP_PASSWORD", value: "typed-by-kubectl" },
      ]),
    );
    expect(view.map((v) => [v.name, v.value, v.set])).toEqual([
      ["SITE_TITLE", "Docs", true],
      ["THEME", "light", true],
      ["SMTP_PASSWORD", null, true],
      ["ADMIN_TOKEN", null, true],
      ["SESSION_KEY", null, true],
      ["LANG", "en", true],
    ]);
    expect(JSON.stringify(view)).not.toContain("typed-by-kubectl");
  });

  it("says which secrets are not set, and never shows values the template does not declare", () => {
    const view = settingsView(template, app([{ name: "EXTRA", value: "hidden" }]));
    expect(view.find((v) => v.name === "SMTP_PASSWORD")).toMatchObject({ secret: true, set: false, value: null });
    expect(view.find((v) => v.name === "EXTRA")).toMatchObject({ secret: true, set: true, value: null });
    expect(JSON.stringify(view)).not.toContain("hidden");
  });
});
