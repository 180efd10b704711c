// The CRDs on a real apiserver: installed and Established, valid objects accepted (with
// defaults applied), and bad objects refused with the field error a user would see.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { API_VERSION, crdManifests, KINDS } from "@atrium/crds";
import { beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { installCatalog, readCatalog } from "../cluster/install.ts";
import { cluster, type Obj, refusal, unique } from "./kube.ts";

const example = (kind: string): Obj =>
  parse(readFileSync(fileURLToPath(new URL(`../../crds/examples/${kind}.yaml`, import.meta.url)), "utf8"));
const catalogEntry = (name: string): Obj =>
  readCatalog()
    .flatMap((text) => parseAllDocuments(text).map((d) => d.toJSON() as Obj))
    .find((o) => o.metadata?.name === name) as Obj;

const { objects, kubectl, info } = cluster();
const ns = unique("org-crd");

/** A copy of a valid object renamed into this test's namespace, with `change` applied. */
function variant(base: Obj, change: (o: any) => void = () => {}): Obj {
  const copy = structuredClone(base) as any;
  copy.metadata = {
    name: unique(copy.metadata.name),
    ...(base.metadata?.namespace ? { namespace: ns } : {}),
  };
  change(copy);
  return copy;
}

beforeAll(async () => {
  await objects.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  installCatalog(info);
});

describe("CRD installation", () => {
  it("every kind is Established, served, and in the atrium category", async () => {
    for (const crd of crdManifests()) {
      const live = (await objects.read({
        apiVersion: "apiextensions.k8s.io/v1",
        kind: "CustomResourceDefinition",
        metadata: { name: crd.metadata.name },
      })) as any;
      const established = live.status.conditions.find((c: any) => c.type === "Established");
      expect(established?.status, crd.metadata.name).toBe("True");
      expect(live.status.acceptedNames.categories).toEqual(["atrium"]);
      expect(live.spec.versions[0].subresources).toEqual({ status: {} });
    }
    expect(crdManifests()).toHaveLength(KINDS.length);
  });
});

describe("valid objects", () => {
  it("accepts the documented examples and applies schema defaults", async () => {
    const org = (await objects.create(variant(example("organization")))) as any;
    expect(org.spec.quotas.maxApps).toBe(20);

    const role = (await objects.create(variant(example("orgrole")))) as any;
    expect(role.spec.builtIn).toBe(false);

    const member = (await objects.create(variant(example("member")))) as any;
    expect(member.spec.active).toBe(true);

    const app = (await objects.create(
      variant(example("appinstance"), (o) => {
        delete o.spec.idle;
      }),
    )) as any;
    expect(app.spec.template).toBe("nextcloud");
    expect(app.spec.storage.deletionPolicy).toBe("Retain");
    expect(app.spec.access.policy).toBe("Roles");

    const bare = (await objects.create(
      variant(example("appinstance"), (o) => (o.spec = { template: "gitea", idle: {}, access: {} })),
    )) as any;
    expect(bare.spec.idle).toEqual({ policy: "Auto", timeout: "12h" });
    expect(bare.spec.access).toEqual({ policy: "Members" });
  });

  it("accepts every sample catalog entry, with defaults", async () => {
    const names = ["nextcloud", "open-webui", "mattermost", "gitea", "vaultwarden", "uptime-kuma", "n8n"];
    for (const name of names) {
      const live = (await objects.read({
        apiVersion: API_VERSION,
        kind: "AppTemplate",
        metadata: { name },
      })) as any;
      expect(
        live.spec.ports.some((p: any) => p.name === "http"),
        name,
      ).toBe(true);
    }
    const nextcloud = (await objects.read({
      apiVersion: API_VERSION,
      kind: "AppTemplate",
      metadata: { name: "nextcloud" },
    })) as any;
    expect(nextcloud.spec.pricing.trialDays).toBe(30);
    expect(nextcloud.spec.healthCheck.periodSeconds).toBe(10);
    const secret = nextcloud.spec.env.find((e: any) => e.name === "NEXTCLOUD_ADMIN_PASSWORD");
    expect(secret).toMatchObject({ secret: true, generated: true, required: true });
    const categories = new Set(
      (JSON.parse(kubectl("get", "apptemplates", "-o", "json")).items as any[]).map((t) => t.spec.category),
    );
    expect(categories.size).toBeGreaterThanOrEqual(5);
  });
});

type Case = {
  name: string;
  kind: string;
  base: () => Obj;
  change: (o: any) => void;
  field: string;
  message: string;
};

const tooLongOrgName = "a".repeat(60);
const cases: Case[] = [
  {
    name: "organization name longer than its namespace allows",
    kind: "organization",
    base: () => example("organization"),
    change: (o) => (o.metadata.name = tooLongOrgName),
    field: "metadata.name",
    message: "may not be more than 59 bytes",
  },
  {
    name: "organization name with a dot (its namespace could not be made)",
    kind: "organization",
    base: () => example("organization"),
    change: (o) => (o.metadata.name = "a.b"),
    field: "metadata.name",
    message: "must be a DNS label",
  },
  {
    name: "organization without displayName",
    kind: "organization",
    base: () => example("organization"),
    change: (o) => delete o.spec.displayName,
    field: "spec.displayName",
    message: "Required value",
  },
  {
    name: "organization logo that is not an http(s) URL",
    kind: "organization",
    base: () => example("organization"),
    change: (o) => (o.spec.logoUrl = "javascript:alert(1)"),
    field: "spec.logoUrl",
    message: "must be an absolute http or https URL",
  },
  {
    name: "organization with negative app quota",
    kind: "organization",
    base: () => example("organization"),
    change: (o) => (o.spec.quotas.maxApps = -1),
    field: "spec.quotas.maxApps",
    message: "should be greater than or equal to 0",
  },
  {
    name: "organization memory quota that is not a quantity",
    kind: "organization",
    base: () => example("organization"),
    change: (o) => (o.spec.quotas.memory = "lots"),
    field: "spec.quotas.memory",
    message: "must be a Kubernetes quantity",
  },
  {
    name: "organization with an unknown digest",
    kind: "organization",
    base: () => example("organization"),
    change: (o) => (o.spec.notifications.digest = "hourly"),
    field: "spec.notifications.digest",
    message: 'supported values: "none", "daily", "weekly"',
  },
  {
    name: "role level above 100",
    kind: "orgrole",
    base: () => example("orgrole"),
    change: (o) => (o.spec.level = 101),
    field: "spec.level",
    message: "should be less than or equal to 100",
  },
  {
    name: "custom role at the Admin level",
    kind: "orgrole",
    base: () => example("orgrole"),
    change: (o) => (o.spec.level = 100),
    field: "spec.level",
    message: "only the built-in Admin role has level 100",
  },
  {
    name: "role permission not shaped area:action",
    kind: "orgrole",
    base: () => example("orgrole"),
    change: (o) => o.spec.permissions.push("Everything"),
    field: "spec.permissions[7]",
    message: "should match '^[a-z]+:[a-z]+$'",
  },
  {
    name: "role with a duplicated permission",
    kind: "orgrole",
    base: () => example("orgrole"),
    change: (o) => o.spec.permissions.push("org:view"),
    field: "spec.permissions[7]",
    message: "Duplicate value",
  },
  {
    name: "member with a malformed email",
    kind: "member",
    base: () => example("member"),
    change: (o) => (o.spec.email = "alice-at-acme"),
    field: "spec.email",
    message: "must be an email address in lower case",
  },
  {
    name: "member email in a display-name form",
    kind: "member",
    base: () => example("member"),
    change: (o) => (o.spec.email = "Alice <alice@acme.example>"),
    field: "spec.email",
    message: "without spaces or a display name",
  },
  {
    name: "member without a role",
    kind: "member",
    base: () => example("member"),
    change: (o) => delete o.spec.role,
    field: "spec.role",
    message: "Required value",
  },
  {
    name: "member role that is not a valid name",
    kind: "member",
    base: () => example("member"),
    change: (o) => (o.spec.role = "Super Admin"),
    field: "spec.role",
    message: "should match",
  },
  {
    name: "template with an unknown category",
    kind: "apptemplate",
    base: () => catalogEntry("gitea"),
    change: (o) => (o.spec.category = "Games"),
    field: "spec.category",
    message: "Unsupported value",
  },
  {
    name: "template port out of range",
    kind: "apptemplate",
    base: () => catalogEntry("gitea"),
    change: (o) => (o.spec.ports[0].containerPort = 70000),
    field: "spec.ports[0].containerPort",
    message: "should be less than or equal to 65535",
  },
  {
    name: "template without an http port",
    kind: "apptemplate",
    base: () => catalogEntry("gitea"),
    change: (o) => (o.spec.ports = [{ name: "ssh", containerPort: 22 }]),
    field: "spec.ports",
    message: "one port must be named http",
  },
  {
    name: "template secret with a public default",
    kind: "apptemplate",
    base: () => catalogEntry("nextcloud"),
    change: (o) => (o.spec.env[1].default = "hunter2"),
    field: "spec.env[1]",
    message: "a secret variable cannot have a default",
  },
  {
    name: "template default version not offered",
    kind: "apptemplate",
    base: () => catalogEntry("gitea"),
    change: (o) => (o.spec.defaultVersion = "0.0.1"),
    field: "spec.defaultVersion",
    message: "defaultVersion must be one of versions",
  },
  {
    name: "template with two plans of one id",
    kind: "apptemplate",
    base: () => catalogEntry("nextcloud"),
    change: (o) => o.spec.pricing.plans.push({ id: "monthly", interval: "monthly", amount: 1, currency: "EUR" }),
    field: "spec.pricing.plans[2]",
    message: "Duplicate value",
  },
  {
    name: "template plan in a currency that does not exist",
    kind: "apptemplate",
    base: () => catalogEntry("nextcloud"),
    change: (o) => (o.spec.pricing.plans[0].currency = "USX"),
    field: "spec.pricing.plans[0].currency",
    message: "must be an ISO 4217 currency code",
  },
  {
    name: "template plan priced in fractions",
    kind: "apptemplate",
    base: () => catalogEntry("nextcloud"),
    change: (o) => (o.spec.pricing.plans[0].amount = 9.99),
    field: "spec.pricing.plans[0].amount",
    message: "Invalid value",
  },
  {
    name: "template trial longer than 90 days",
    kind: "apptemplate",
    base: () => catalogEntry("nextcloud"),
    change: (o) => (o.spec.pricing.trialDays = 365),
    field: "spec.pricing.trialDays",
    message: "should be less than or equal to 90",
  },
  {
    name: "template storage mounted at a relative path",
    kind: "apptemplate",
    base: () => catalogEntry("nextcloud"),
    change: (o) => (o.spec.storage.mountPath = "data"),
    field: "spec.storage.mountPath",
    message: "should match '^/'",
  },
  {
    name: "app idle timeout that is not a duration",
    kind: "appinstance",
    base: () => example("appinstance"),
    change: (o) => (o.spec.idle.timeout = "forever"),
    field: "spec.idle.timeout",
    message: "must be a duration such as 90s, 30m or 12h, between 1s and 720h",
  },
  {
    name: "app idle timeout beyond 30 days",
    kind: "appinstance",
    base: () => example("appinstance"),
    change: (o) => (o.spec.idle.timeout = "1000h"),
    field: "spec.idle.timeout",
    message: "between 1s and 720h",
  },
  {
    name: "app limited to roles without naming any",
    kind: "appinstance",
    base: () => example("appinstance"),
    change: (o) => (o.spec.access = { policy: "Roles" }),
    field: "spec.access.roles",
    message: "policy Roles needs at least one role",
  },
  {
    name: "app env with both a value and a secret",
    kind: "appinstance",
    base: () => example("appinstance"),
    change: (o) => (o.spec.env[0].secretKeyRef = { name: "s", key: "k" }),
    field: "spec.env[0]",
    message: "set exactly one of value and secretKeyRef",
  },
  {
    name: "app restart time that is not a timestamp",
    kind: "appinstance",
    base: () => example("appinstance"),
    change: (o) => (o.spec.restartRequestedAt = "now"),
    field: "spec.restartRequestedAt",
    message: "must be of type date-time",
  },
  {
    name: "app without a template",
    kind: "appinstance",
    base: () => example("appinstance"),
    change: (o) => delete o.spec.template,
    field: "spec.template",
    message: "Required value",
  },
];

describe("invalid objects are refused with the field error", () => {
  it("has at least 15 cases", () => expect(cases.length).toBeGreaterThanOrEqual(15));

  it.each(cases)("$name", async ({ base, change, field, message }) => {
    const bad = variant(base(), change);
    const status = await refusal(() => objects.create(bad));
    expect(status.code).toBe(422);
    expect(status.reason).toBe("Invalid");
    expect(status.causes).toContainEqual(expect.objectContaining({ field, message: expect.stringContaining(message) }));
  });
});

describe("immutable fields", () => {
  const immutableCases = [
    {
      name: "a member's email",
      base: () => example("member"),
      path: ["spec", "email"],
      value: "mallory@acme.example",
      field: "spec.email",
      message: "email is immutable",
    },
    {
      name: "an app's template",
      base: () => example("appinstance"),
      path: ["spec", "template"],
      value: "gitea",
      field: "spec.template",
      message: "template is immutable",
    },
    {
      name: "a role's builtIn flag",
      base: () => example("orgrole"),
      path: ["spec", "builtIn"],
      value: true,
      field: "spec.builtIn",
      message: "builtIn is immutable",
    },
  ];
  it.each(immutableCases)("refuses changing $name", async ({ base, path, value, field, message }) => {
    const created = (await objects.create(variant(base()))) as any;
    // An operator running in the same cluster (operator tests) may write status meanwhile:
    // re-read and retry on a conflict, so what is tested is the validation, not the race.
    const change = async () => {
      for (;;) {
        const changed = (await objects.read(created)) as any;
        changed[path[0] as string][path[1] as string] = value;
        try {
          return await objects.replace(changed);
        } catch (error) {
          if ((error as { code?: number }).code !== 409) throw error;
        }
      }
    };
    const status = await refusal(change);
    expect(status.code).toBe(422);
    expect(status.causes).toContainEqual(expect.objectContaining({ field, message: expect.stringContaining(message) }));
    const after = (await objects.read(created)) as any;
    expect(after.spec).toEqual(created.spec);
  });
});
