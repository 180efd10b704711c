// The Helm chart's static checks (charts/check.sh: helm lint --strict, helm-unittest,
// kubeconform against schemas made offline, checkov with justified skips) on the committed
// chart; a broken copy of it failing them; values.schema.json refusing bad values with the
// field named; the generated files (CRD templates, values.yaml, values.schema.json, the README's
// values table, the atrium-catalog chart) matching what charts/generate.ts makes now; the
// catalog chart leaving out exactly the sample apps named; every ATRIUM_* setting the chart
// gives a program being one that program reads, accepted by its config loader (the keys
// Secret's usage token reaching the API and the gateway alike; Gateway API mode's settings from
// ci/gateway-api-values.yaml, refused by the schema and the templates without the Gateway or the
// gateway Service's ClusterIP); and the Helm built for these checks rendering for Kubernetes 1.34.
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { loadConfig, OPENCOST_DEFAULT_PRICES } from "../../api/src/config.ts";
import {
  CATALOG_CHART_DIR,
  CHART_DIR,
  catalogEntries,
  catalogSchema,
  catalogTemplates,
  catalogValuesYaml,
  crdTemplates,
  readmeWithTable,
  valuesSchema,
  valuesYaml,
} from "../../charts/src/render.ts";
import { defaultGatewayConfig } from "../../gateway/src/gateway.ts";
import { defaultConfig } from "../../operator/src/config.ts";
import { parseGrace } from "../../operator/src/organization/deletion.ts";
import { routingConfig } from "../../operator/src/routing/config.ts";

/** A working Gateway API mode environment for the operator, to vary one setting of. */
const GATEWAY_API_ENV = {
  ATRIUM_ROUTING: "gateway-api",
  ATRIUM_GATEWAY_API_PARENT: "gateways/public",
  ATRIUM_ACTIVATOR_ADDRESSES: "10.96.0.20",
  ATRIUM_DATA_PLANE_URLS: "http://10.96.0.80",
  ATRIUM_DATAPLANE_STATS_URLS: "http://10.0.3.7:19001/stats/prometheus",
};

const root = join(import.meta.dirname, "..", "..");
const CHECK = join(root, "charts", "check.sh");
let tools: string;
const scratch = mkdtempSync(join(tmpdir(), "atrium-chart-"));

beforeAll(() => {
  // Built once and cached (a first build takes a few minutes).
  const out = execFileSync("bash", [join(root, "charts", "tools.sh")], { encoding: "utf8" }).trim();
  tools = out.slice(out.lastIndexOf("\n") + 1);
}, 900_000);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const check = (chart?: string) =>
  spawnSync("bash", [CHECK], {
    encoding: "utf8",
    env: { ...process.env, ...(chart ? { ATRIUM_CHART: chart } : {}) },
    timeout: 300_000,
  });

const template = (...args: string[]) =>
  spawnSync(join(tools, "helm"), ["template", "t", CHART_DIR, ...args], { encoding: "utf8" });

describe("the chart's static checks", () => {
  it("pass on the committed chart: lint, unit tests, kubeconform and checkov", () => {
    const run = check();
    if (run.status !== 0) console.log(run.stdout, run.stderr);
    expect(run.status).toBe(0);
    expect(run.stderr).toContain("all chart checks passed");
    // Every values set was linted and checked, not only the defaults.
    for (const values of ["default", ...readdirSync(join(CHART_DIR, "ci")).map((f) => f.replace(/\.yaml$/, ""))])
      expect(run.stderr).toContain(`kubeconform (${values})`);
  }, 300_000);

  it("fail on a chart whose Deployment has a misspelt field, naming it", () => {
    const copy = join(scratch, "broken");
    cpSync(CHART_DIR, copy, { recursive: true });
    const file = join(copy, "templates", "operator.yaml");
    writeFileSync(file, readFileSync(file, "utf8").replace("  revisionHistoryLimit: 3", "  revisionHistoryLimits: 3"));
    const run = check(copy);
    expect(run.status).not.toBe(0);
    expect(run.stdout + run.stderr).toMatch(/additional properties 'revisionHistoryLimits' not allowed/);
  }, 300_000);

  it("fail on a chart whose container runs with a writable root filesystem", () => {
    const copy = join(scratch, "writable");
    cpSync(CHART_DIR, copy, { recursive: true });
    const file = join(copy, "values.yaml");
    writeFileSync(
      file,
      readFileSync(file, "utf8").replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"),
    );
    const run = check(copy);
    expect(run.status).not.toBe(0);
    expect(run.stdout).toContain("CKV_K8S_22");
  }, 300_000);
});

describe("the tools", () => {
  it("render for Kubernetes 1.34 by default (Helm built with its version flags, not the 1.20 fallback)", () => {
    const chart = join(scratch, "capabilities");
    mkdirSync(join(chart, "templates"), { recursive: true });
    writeFileSync(join(chart, "Chart.yaml"), "apiVersion: v2\nname: capabilities\nversion: 0.1.0\n");
    writeFileSync(join(chart, "templates", "version.yaml"), "kubeVersion: {{ .Capabilities.KubeVersion.Version }}\n");
    const out = execFileSync(join(tools, "helm"), ["template", "v", chart], { encoding: "utf8" });
    expect(out).toMatch(/kubeVersion: v1\.34\./);
  });
});

describe("the settings the chart gives each program", () => {
  type Env = { name: string; value?: string; valueFrom?: { secretKeyRef?: { key: string }; fieldRef?: unknown } };
  /** What a Secret or the downward API would supply, for the keys the chart reads. */
  const SECRET_VALUES: Record<string, string> = {
    "key-peppers": "1:0123456789abcdef0123456789",
    url: "postgresql://atrium:secret@db.example:5432/atrium",
    "client-secret": "secret",
    "usage-token": "the-gateways-usage-token",
    "pseudonym-key": "the-audit-logs-pseudonym-key",
    "probe-token": "the-operators-stop-probe-token-0123456789",
  };
  const envOf = (deployment: any): Record<string, string> =>
    Object.fromEntries(
      (deployment.spec.template.spec.containers[0].env as Env[]).map((e) => [
        e.name,
        e.value ?? (e.valueFrom?.secretKeyRef ? SECRET_VALUES[e.valueFrom.secretKeyRef.key] : "pod-0") ?? "",
      ]),
    );
  /** Every ATRIUM_* name a program's source mentions (its own, and @atrium/kube's). */
  const readBy = (...dirs: string[]) => {
    const names = new Set<string>();
    for (const dir of [...dirs, "kube/src"])
      for (const file of readdirSync(join(root, dir), { recursive: true, encoding: "utf8" }))
        if (file.endsWith(".ts") && !file.endsWith(".test.ts"))
          for (const m of readFileSync(join(root, dir, file), "utf8").matchAll(/ATRIUM_[A-Z0-9_]+/g)) names.add(m[0]);
    return names;
  };
  const sources = { operator: ["operator/src"], gateway: ["gateway/src"], api: ["api/src"] } as const;

  for (const values of ["default", "postgresql-values", "minimal-values", "gateway-api-values"])
    it(`are all read by the programs and accepted by their config loaders (${values})`, async () => {
      const args = values === "default" ? [] : ["-f", join(CHART_DIR, "ci", `${values}.yaml`)];
      const rendered = template("--namespace", "atrium-system", ...args);
      expect(rendered.status, rendered.stderr).toBe(0);
      const deployments = Object.fromEntries(
        parseAllDocuments(rendered.stdout)
          .map((d) => d.toJSON())
          .filter((d) => d?.kind === "Deployment")
          .map((d) => [d.spec.template.spec.containers[0].name, d]),
      );
      for (const [component, dirs] of Object.entries(sources)) {
        const known = readBy(...dirs);
        const unknown = Object.keys(envOf(deployments[component])).filter((n) => !known.has(n));
        expect(unknown, `${component} is given settings it never reads`).toEqual([]);
      }
      const api = loadConfig(envOf(deployments.api));
      expect([api.mode, api.addr, api.adminAddr]).toEqual(["production", "0.0.0.0:8080", "0.0.0.0:9090"]);
      const gateway = defaultGatewayConfig(envOf(deployments.gateway));
      expect(gateway.authUrl).toBe("http://t-atrium-api.atrium-system.svc/"); // URL drops the default port
      const operator = defaultConfig(envOf(deployments.operator));
      expect(operator.gatewayNamespace).toBe("atrium-system");
      expect(operator.orgDeletionGraceMs).toBe(30 * 86_400_000);
      // ci/gateway-api-values.yaml: the operator attaches routes to the Gateway and points stopped
      // apps at the gateway Service's ClusterIP and port; the gateway is then the activator.
      const gatewayApi = values === "gateway-api-values";
      expect(operator.routing).toEqual(
        gatewayApi
          ? {
              mode: "gateway-api",
              parent: { namespace: "gateways", name: "public", sectionName: "https" },
              activator: { addresses: ["10.96.0.20"], port: 80 },
              stopGraceMs: 60_000,
              // The stop's checks through the data plane (ADR 0024): its listener, its statistics.
              stopChecks: {
                probeUrls: ["https://10.96.0.80"],
                statsUrls: ["http://10.0.0.7:19001/stats/prometheus"],
                drainMs: 60_000,
                unconfirmed: false,
                // Past the data plane's access check: the token the API checks (below).
                probeToken: "the-operators-stop-probe-token-0123456789",
                // And every ready pod of the data plane: its statistics, its listener (ADR 0024).
                pods: { statsPort: 19001, listenerPort: 10080 },
              },
              excludePaths: ["/healthz", "/readyz", "/livez", "/ping"],
              // Admitted to the apps by every organization's NetworkPolicy.
              dataPlane: {
                namespace: "envoy-gateway-system",
                podLabels: { "gateway.envoyproxy.io/owning-gateway-name": "public" },
              },
              // Envoy asks this release's API about apps that are not Public (ADR 0023).
              extAuth: { namespace: "atrium-system", name: "t-atrium-api", port: 80 },
            }
          : { mode: "gateway" },
      );
      expect(gateway.activator).toBe(gatewayApi);
      // Running apps' activity: the fixed statistics addresses, and the data plane's pods the
      // gateway follows (the operator's very selector, on Envoy Gateway's stats port).
      expect(gateway.dataplaneStats).toEqual(
        gatewayApi
          ? {
              urls: ["http://10.0.0.7:19001/stats/prometheus"],
              pods: {
                namespace: "envoy-gateway-system",
                podLabels: { "gateway.envoyproxy.io/owning-gateway-name": "public" },
                port: 19001,
              },
              intervalMs: 10_000,
            }
          : undefined,
      );
      // ci/postgresql-values.yaml names two, one in upper case: the API keeps them canonical.
      expect([...api.platformAdmins.emails]).toEqual(
        values === "postgresql-values" ? ["ops@atrium.example", "ann@example.com"] : [],
      );
      // Both read the keys Secret: the gateway's usage batches carry the token the API checks.
      expect(api.usage.token).toBe("the-gateways-usage-token");
      expect(gateway.usageToken).toBe(api.usage.token);
      expect(api.pseudonymKey).toBe("the-audit-logs-pseudonym-key");
      // The operator's stop probe carries the token the API's data-plane check lets through.
      expect(api.probeToken).toBe(gatewayApi ? "the-operators-stop-probe-token-0123456789" : undefined);
      // ci/postgresql-values.yaml names a group and prices (one as a string, as `--set` gives it).
      const custom = values === "postgresql-values";
      expect(api.platformAdmins.group).toBe(custom ? "atrium-platform" : undefined);
      expect(api.prices).toEqual(custom ? { cpuHour: 0.05, gibHour: 0.0065 } : OPENCOST_DEFAULT_PRICES);
    });
});

describe("values.schema.json", () => {
  it("refuses two API replicas on SQLite", () => {
    const run = template("--set", "api.replicas=2");
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain("at '/api/replicas': maximum: got 2, want 1");
    expect(
      template(
        "--set",
        "api.replicas=2",
        "--set",
        "api.database.type=postgresql",
        "--set",
        "api.database.postgresql.existingSecret=db",
      ).status,
    ).toBe(0);
  });

  it("takes exactly the grace periods the operator accepts", () => {
    const schema = JSON.parse(valuesSchema());
    const pattern = new RegExp(schema.properties.operator.properties.organizationDeletionGrace.pattern);
    const accepts = (text: string) => {
      try {
        return parseGrace(text) > 0;
      } catch {
        return false;
      }
    };
    for (const text of [
      "30d",
      "720h",
      "1d12h",
      "90s",
      "500ms",
      "0d10s",
      "0s",
      "00d",
      "0m0s",
      "30",
      "d",
      "1x",
      "-1d",
      "",
    ])
      expect(pattern.test(text), text).toBe(accepts(text));
  });

  it("has the templates refuse gateway-api mode without its settings too, when the schema is skipped", () => {
    const run = (...sets: string[]) =>
      template(
        "--skip-schema-validation",
        ...sets.flatMap((set) => ["--set", set]),
        "--set",
        "routing.mode=gateway-api",
      );
    expect(run().stderr).toContain("routing.gatewayApi.parentRef: name the Gateway every app's HTTPRoute attaches to");
    const withParent = ["routing.gatewayApi.parentRef.namespace=gateways", "routing.gatewayApi.parentRef.name=public"];
    expect(run(...withParent).stderr).toContain("gateway.service.clusterIP: give the gateway Service's ClusterIP");
    const withActivator = [...withParent, "gateway.service.clusterIP=10.96.0.20"];
    expect(run(...withActivator).stderr).toContain("routing.gatewayApi.probeUrls and statsUrls");
    expect(run(...withActivator, "routing.gatewayApi.stopUnconfirmed=true").status).toBe(0);
  });

  it("takes exactly the stop grace periods the operator accepts", () => {
    const schema = JSON.parse(valuesSchema());
    const pattern = new RegExp(schema.properties.routing.properties.gatewayApi.properties.stopGrace.pattern);
    const accepts = (text: string) => {
      try {
        return routingConfig({ ...GATEWAY_API_ENV, ATRIUM_STOP_GRACE: text }).mode === "gateway-api";
      } catch {
        return false;
      }
    };
    for (const text of ["30s", "1m30s", "500ms", "2h", "0s", "30", "1d", "s", "-1s", "30 s"])
      expect(pattern.test(text), text).toBe(accepts(text));
  });

  it("refuses unknown keys, bad enums, bad URLs and bad digests, naming the field", () => {
    const refusals: [string, string][] = [
      ["operator.replica=2", "at '/operator': additional properties 'replica' not allowed"],
      ["api.database.type=mysql", "at '/api/database/type'"],
      ["api.publicUrl=atrium.example", "at '/api/publicUrl'"],
      ["image.digest=latest", "at '/image/digest'"],
      ["api.database.type=postgresql", "at '/api/database/postgresql/existingSecret'"],
      // What the operator's parseGrace and the API's ATRIUM_PLATFORM_ADMINS would stop at start on.
      ["operator.organizationDeletionGrace=0s", "at '/operator/organizationDeletionGrace'"],
      ["operator.organizationDeletionGrace=30", "at '/operator/organizationDeletionGrace'"],
      ["api.platformAdmins[0]=Ann <ann@example.com>", "at '/api/platformAdmins/0'"],
      // A price the API's envNumber would stop at start on (a string: --set gives decimals so).
      ["api.prices.cpuHour=-1", "at '/api/prices/cpuHour'"],
      ["api.prices.gibHour=0.5$", "at '/api/prices/gibHour'"],
      // Gateway API mode without the Gateway or the activator's address: the operator would stop at start.
      ["routing.mode=gateway-api", "at '/routing/gatewayApi/parentRef/name': minLength: got 0, want 1"],
      ["routing.mode=gateway-api", "at '/routing/gatewayApi/parentRef/namespace': minLength: got 0, want 1"],
      ["routing.mode=gateway-api", "at '/gateway/service/clusterIP': minLength: got 0, want 1"],
      ["routing.mode=ingress", "at '/routing/mode'"],
      ["gateway.service.clusterIP=None", "at '/gateway/service/clusterIP'"],
      ["gateway.service.clusterIP=10.96.0.256", "at '/gateway/service/clusterIP'"],
      ["routing.gatewayApi.stopGrace=30", "at '/routing/gatewayApi/stopGrace'"],
    ];
    for (const [set, message] of refusals) {
      const run = template("--set", set);
      expect(run.status, set).not.toBe(0);
      expect(run.stderr, set).toContain(message);
    }
  });
});

describe("generated files", () => {
  it("match charts/generate.ts (run `node charts/generate.ts` after changing crds/src or charts/src/values.ts)", () => {
    const crdDir = join(CHART_DIR, "templates", "crds");
    const expected = crdTemplates();
    expect(readdirSync(crdDir).sort()).toEqual([...expected.keys()].sort());
    for (const [name, text] of expected) expect(readFileSync(join(crdDir, name), "utf8"), name).toBe(text);
    expect(readFileSync(join(CHART_DIR, "values.yaml"), "utf8")).toBe(valuesYaml());
    expect(readFileSync(join(CHART_DIR, "values.schema.json"), "utf8")).toBe(valuesSchema());
    const readme = readFileSync(join(CHART_DIR, "README.md"), "utf8");
    expect(readme).toBe(readmeWithTable(readme));
    const catalog = catalogTemplates();
    const catalogDir = join(CATALOG_CHART_DIR, "templates");
    expect(
      readdirSync(catalogDir)
        .filter((f) => f.endsWith(".yaml"))
        .sort(),
    ).toEqual([...catalog.keys()].sort());
    for (const [name, text] of catalog) expect(readFileSync(join(catalogDir, name), "utf8"), name).toBe(text);
    expect(readFileSync(join(CATALOG_CHART_DIR, "values.yaml"), "utf8")).toBe(catalogValuesYaml());
    expect(readFileSync(join(CATALOG_CHART_DIR, "values.schema.json"), "utf8")).toBe(catalogSchema());
  });

  it("leave out of the sample catalog only the apps named, refusing names it does not have", () => {
    const render = (...args: string[]) =>
      spawnSync(join(tools, "helm"), ["template", "c", CATALOG_CHART_DIR, ...args], { encoding: "utf8" });
    const names = (text: string) => [...text.matchAll(/^ {2}name: (\S+)$/gm)].map((m) => m[1]).sort();
    const all = names(render().stdout);
    expect(all).toEqual(
      catalogEntries()
        .map((e) => e.name)
        .sort(),
    );
    expect(names(render("--set", "exclude={gitea,n8n}").stdout)).toEqual(
      all.filter((n) => n !== "gitea" && n !== "n8n"),
    );
    const refused = render("--set", "exclude={gitlab}");
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain("at '/exclude/0'");
  });
});
