// The charts' values, described once with TypeBox (as crds/ describes the custom resources):
// charts/generate.ts writes values.yaml (defaults, with each description as its comment),
// values.schema.json (what `helm install` checks values against, refusing unknown keys and
// bad values with the field named) and the values table of the chart's README from it.
import { EMAIL_INPUT_PATTERN, EMAIL_MAX_LENGTH } from "@atrium/crds";
import { type SchemaOptions, type TSchema, Type } from "@sinclair/typebox";

/** A string limited to the given values. */
const Enum = <const T extends readonly string[]>(values: T, options: SchemaOptions) =>
  Type.Unsafe<T[number]>({ type: "string", enum: [...values], ...options });

/** An object of our own: unknown keys are refused, so a typo is an error, not a silent default. */
const Obj = (properties: Record<string, TSchema>, options: SchemaOptions) =>
  Type.Object(properties, { additionalProperties: false, ...options });

/** Kubernetes' own structures (resources, affinity, ...): passed through as written. */
const Free = (description: string, value: unknown = {}) =>
  Type.Record(Type.String(), Type.Any(), { description, default: value });

const StringMap = (description: string) =>
  Type.Record(Type.String(), Type.String({ maxLength: 63 * 1024 }), { description, default: {} });

const HTTP_URL = "^https?://[^\\s/]+(/\\S*)?$";
const Url = (description: string) =>
  Type.String({ description, default: "", anyOf: [{ const: "" }, { pattern: HTTP_URL }] });

const DNS_NAME = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
const SECRET_NAME = { description: "", default: "", maxLength: 253, pattern: "^$|^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$" };
const SecretName = (description: string) => Type.String({ ...SECRET_NAME, description });
const SecretKey = (description: string, key: string) =>
  Type.String({ description, default: key, minLength: 1, maxLength: 253, pattern: "^[-._a-zA-Z0-9]+$" });

/**
 * A duration as the operator's parseGrace reads it (operator/src/organization/deletion.ts):
 * number-unit pairs, at least one number not all zeros, so the schema refuses what would stop
 * the operator at start. RE2-safe (no lookahead): Helm's schema validator is Go.
 */
const GRACE_PART = "[0-9]+(ms|s|m|h|d)";
const GRACE = `^(${GRACE_PART})*0*[1-9][0-9]*(ms|s|m|h|d)(${GRACE_PART})*$`;

/** A duration as the operator's parseDuration reads it (operator/src/appinstance/idle.ts): zero is allowed. */
const DURATION = "^([0-9]+(ms|s|m|h))+$";

const IPV4_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
const IPV4 = `(${IPV4_OCTET}\\.){3}${IPV4_OCTET}`;
const DNS_LABEL = "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?";

/**
 * A price the API reads as a number; empty leaves it to the API's default (OpenCost's list
 * price). A decimal string too: `helm --set` passes 0.05 as a string (it parses only integers).
 */
const Price = (description: string) =>
  Type.Unsafe<number | string>({
    type: ["number", "string"],
    minimum: 0,
    pattern: "^$|^[0-9]+(\\.[0-9]+)?$",
    default: "",
    description: `${description}; empty: OpenCost's default list price (api/src/config.ts).`,
  });

const EnvVar = Type.Object(
  { name: Type.String({ minLength: 1, pattern: "^[A-Za-z_][A-Za-z0-9_]*$" }) },
  { additionalProperties: true },
);

/** What each of the three Deployments takes. */
const workload = (what: string, replicas: number, resources: object) => {
  const What = what.charAt(0).toUpperCase() + what.slice(1);
  return {
    replicas: Type.Integer({ description: `${What} replicas.`, default: replicas, minimum: 0, maximum: 100 }),
    resources: Free(`${what} container resources.`, resources),
    podAnnotations: StringMap(`Annotations on ${what} pods.`),
    podLabels: StringMap(`Extra labels on ${what} pods.`),
    nodeSelector: StringMap(`${what} pods' node selector.`),
    tolerations: Type.Array(Type.Record(Type.String(), Type.Any()), {
      description: `${What} pods' tolerations.`,
      default: [],
    }),
    affinity: Free(`${what} pods' affinity.`),
    topologySpread: Type.Boolean({
      description: `Spread ${what} replicas over nodes (zones too, when nodes carry topology.kubernetes.io/zone), preferred not required.`,
      default: true,
    }),
    podDisruptionBudget: Obj(
      {
        enabled: Type.Boolean({
          description: `A PodDisruptionBudget keeping all but one ${what} replica up, rendered only with more than one replica.`,
          default: true,
        }),
      },
      { default: {} },
    ),
    extraEnv: Type.Array(EnvVar, {
      description: `Extra environment variables for ${what} (any ATRIUM_* setting the chart has no value for, e.g. timeouts and limits).`,
      default: [],
    }),
  };
};

export const values = Obj(
  {
    nameOverride: Type.String({ description: "Replaces the chart name in object names.", default: "", maxLength: 40 }),
    fullnameOverride: Type.String({
      description: "Replaces the release-chart prefix of object names.",
      default: "",
      maxLength: 40,
    }),
    image: Obj(
      {
        repository: Type.String({
          description: "The one Atrium image: its argument `operator`, `gateway` or `api` selects the program.",
          default: "ghcr.io/atrium-dev/atrium",
          minLength: 1,
        }),
        tag: Type.String({ description: "Image tag; empty: the chart's appVersion.", default: "" }),
        digest: Type.String({
          description: "Image digest (sha256:…); when given it is used instead of the tag.",
          default: "",
          pattern: "^$|^sha256:[a-f0-9]{64}$",
        }),
        pullPolicy: Enum(["Always", "IfNotPresent", "Never"], {
          description: "Image pull policy.",
          default: "IfNotPresent",
        }),
      },
      { default: {} },
    ),
    imagePullSecrets: Type.Array(Obj({ name: Type.String({ minLength: 1 }) }, {}), {
      description: "Secrets for pulling the image.",
      default: [],
    }),
    crds: Obj(
      {
        enabled: Type.Boolean({
          description:
            "Install and upgrade Atrium's CustomResourceDefinitions from the chart's templates (Helm never upgrades a chart's crds/ folder, so they are templates).",
          default: true,
        }),
        keep: Type.Boolean({
          description:
            "Keep the CRDs on `helm uninstall` (helm.sh/resource-policy: keep): deleting a CRD deletes every organization, member and app with it.",
          default: true,
        }),
      },
      { default: {} },
    ),
    baseDomain: Type.String({
      description: "Apps answer at <app>.<org>.<baseDomain> through the gateway (ATRIUM_BASE_DOMAIN).",
      default: "atrium.localhost",
      minLength: 1,
      maxLength: 200,
      pattern: DNS_NAME,
    }),
    appUrlTemplate: Type.String({
      description:
        "The app URL shown in status, with {org} and {app} (ATRIUM_APP_URL_TEMPLATE); empty: https://{app}.{org}.<baseDomain>.",
      default: "",
      pattern: "^$|^https?://.*\\{app\\}",
    }),
    operator: Obj(
      {
        ...workload("the operator", 2, {
          requests: { cpu: "50m", memory: "128Mi" },
          limits: { memory: "512Mi" },
        }),
        leaseDurationSeconds: Type.Integer({
          description: "Leader-election lease: a successor may lead this long after the leader stops renewing.",
          default: 15,
          minimum: 2,
          maximum: 300,
        }),
        organizationDeletionGrace: Type.String({
          description:
            "From an organization's deletion request to its deletion, during which an Admin may restore it (ATRIUM_ORG_DELETION_GRACE): a duration such as 30d, 720h, 1d12h or 90s, longer than zero.",
          default: "30d",
          pattern: GRACE,
        }),
      },
      { default: {} },
    ),
    gateway: Obj(
      {
        ...workload("the gateway", 2, { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "512Mi" } }),
        service: Obj(
          {
            type: Enum(["ClusterIP", "NodePort", "LoadBalancer"], {
              description: "The gateway Service's type.",
              default: "ClusterIP",
            }),
            port: Type.Integer({ description: "The gateway Service's port.", default: 80, minimum: 1, maximum: 65535 }),
            clusterIP: Type.String({
              description:
                "The gateway Service's IPv4 ClusterIP; empty: the cluster picks one. Required with routing.mode=gateway-api, where it is the activator's address in every stopped app's endpoints and must be known before install: a free address of the Service CIDR, or on an existing install the Service's current one (a ClusterIP cannot change).",
              default: "",
              pattern: `^$|^${IPV4}$`,
            }),
            annotations: StringMap("Annotations on the gateway Service (load balancer settings)."),
          },
          { default: {} },
        ),
        publicUrl: Url(
          "Where browsers reach the gateway, e.g. https://apps.atrium.example (ATRIUM_GATEWAY_PUBLIC_URL, so a login may return to an app).",
        ),
        apiUrl: Url(
          "Where the gateways reach the API, for forward-auth and usage reports (ATRIUM_GATEWAY_AUTH_URL); empty: the API Service's cluster DNS name. Set it where pods have no cluster DNS, or to go through another address.",
        ),
        trustedProxies: Type.String({
          description:
            "CIDRs of proxies in front of the gateway whose X-Forwarded-* headers are kept (ATRIUM_GATEWAY_TRUSTED_PROXIES); empty: replaced.",
          default: "",
          pattern: "^[0-9a-fA-F.:/, ]*$",
        }),
        ingress: Obj(
          {
            enabled: Type.Boolean({
              description: "An Ingress for *.<baseDomain> to the gateway.",
              default: false,
            }),
            className: Type.String({ description: "IngressClass.", default: "" }),
            annotations: StringMap("Annotations on the Ingress."),
            tlsSecretName: SecretName("TLS Secret for *.<baseDomain> (a wildcard certificate); empty: no TLS section."),
          },
          { default: {} },
        ),
        httpRoute: Obj(
          {
            enabled: Type.Boolean({
              description:
                "A Gateway API HTTPRoute for *.<baseDomain> to the gateway; rendered only when the cluster serves gateway.networking.k8s.io/v1.",
              default: false,
            }),
            parentRefs: Type.Array(Type.Record(Type.String(), Type.Any()), {
              description: "The Gateways the route attaches to.",
              default: [],
            }),
          },
          { default: {} },
        ),
      },
      { default: {} },
    ),
    routing: Obj(
      {
        mode: Enum(["embedded", "gateway-api"], {
          description:
            "embedded: app traffic goes through Atrium's gateway. gateway-api: through the cluster's Gateway API implementation, one HTTPRoute per app, Atrium's gateway only the activator while an app is stopped or waking (ATRIUM_ROUTING; the chart README says when to choose which).",
          default: "embedded",
        }),
        gatewayApi: Obj(
          {
            parentRef: Obj(
              {
                namespace: Type.String({
                  description:
                    "Namespace of the Gateway every app's HTTPRoute attaches to (ATRIUM_GATEWAY_API_PARENT); required in gateway-api mode.",
                  default: "",
                  pattern: `^$|^${DNS_LABEL}$`,
                }),
                name: Type.String({
                  description: "Name of that Gateway; required in gateway-api mode.",
                  default: "",
                  pattern: `^$|^${DNS_LABEL}$`,
                }),
                sectionName: Type.String({
                  description:
                    "Its listener; empty: every listener that admits routes from the organizations' org-* namespaces.",
                  default: "",
                  maxLength: 253,
                  pattern: `^$|${DNS_NAME.slice(1)}`,
                }),
              },
              { default: {} },
            ),
            stopGrace: Type.String({
              description:
                "How long a stopping app's endpoints point at the activator, from the data plane's confirmation, before its replicas go to zero; a request meanwhile cancels the stop (ATRIUM_STOP_GRACE), e.g. 30s, 1m30s.",
              default: "30s",
              pattern: DURATION,
            }),
            probeUrls: Type.Array(Type.String({ pattern: HTTP_URL, maxLength: 2048 }), {
              description:
                "The data plane's listeners, one per replica (http(s)://<address>:<port>), through which the operator probes that a stopping app's requests reach the activator before the grace counts (ATRIUM_DATA_PLANE_URLS; ADR 0024). A fixed list goes stale at a rollout, and a Service address confirms only the replica that answered: proxies that run as pods are better probed through dataPlane.listenerPort. Gateway API mode needs one of the two unless stopUnconfirmed.",
              default: [],
              maxItems: 64,
            }),
            stopDrainTimeout: Type.String({
              description:
                "How long past the grace requests still under way on a stopping app's pods (in the data plane's statistics, statsUrls) may hold its stop; an idle stop still busy then is cancelled (ATRIUM_STOP_DRAIN_TIMEOUT).",
              default: "1m",
              pattern: DURATION,
            }),
            stopUnconfirmed: Type.Boolean({
              description:
                "Stop apps without the check that has no address (ATRIUM_STOP_UNCONFIRMED): the probe's are probeUrls or dataPlane with its listenerPort, the re-check's statsUrls or dataPlane. Otherwise gateway-api mode needs both, and the chart refuses to render without them.",
              default: false,
            }),
            externalAuthorization: Enum(["envoy-gateway", "none"], {
              description:
                "Who checks access to apps that are not Public, now that their traffic no longer passes Atrium's gateway. envoy-gateway: an Envoy Gateway SecurityPolicy per app whose external authorization asks the API's forward-auth endpoint about every request (ATRIUM_EXT_AUTH_SERVICE is this release's API Service; docs/adr/0023); the operator's stop probe passes it with the keys Secret's probe-token, given to the operator and the API (ATRIUM_PROBE_TOKEN; docs/adr/0024). Public apps get an EnvoyExtensionPolicy instead, a Lua filter that keeps Atrium's session and CSRF cookies and API keys from the app: the Envoy Gateway must allow Lua (extensionApis.enableLua in its EnvoyGateway config). none: a Gateway API implementation without it; then apps that are not Public get no route at all (fail closed).",
              default: "envoy-gateway",
            }),
            statsUrls: Type.Array(Type.String({ pattern: HTTP_URL, maxLength: 2048 }), {
              description:
                "Fixed admin stats addresses of the data plane's proxies (Envoy: http://<host>:19001/stats/prometheus), read every 10 s by Atrium's gateway for running apps' activity, since their requests no longer pass it, and by the operator for the requests still under way before a stop (ATRIUM_DATAPLANE_STATS_URLS). Proxies that run as pods are better named by dataPlane, which both follow as they are scaled and rolled; with neither, a running app looks idle and stops at its idle timeout.",
              default: [],
              maxItems: 64,
            }),
            dataPlane: Obj(
              {
                namespace: Type.String({
                  description:
                    "Namespace of the data plane's pods (Envoy Gateway: envoy-gateway-system), admitted to app pods by every organization's NetworkPolicy, and whose ready pods' statistics Atrium's gateway reads for running apps' activity and the operator re-checks before a stop, and whose listeners the operator probes with listenerPort (a Role there lets the gateway watch pods; the operator reads pods everywhere anyway; ATRIUM_DATA_PLANE_NAMESPACE); empty: only Atrium's gateway is admitted, and a cluster enforcing NetworkPolicies blocks warm traffic.",
                  default: "",
                  pattern: `^$|^${DNS_LABEL}$`,
                }),
                podLabels: Type.Record(Type.String({ maxLength: 316 }), Type.String({ maxLength: 63 }), {
                  description:
                    "Labels of the data plane's pods (Envoy Gateway: gateway.envoyproxy.io/owning-gateway-name: <gateway>), with namespace (ATRIUM_DATA_PLANE_POD_LABELS).",
                  default: {},
                }),
                statsPort: Type.Integer({
                  description:
                    "The port each of those pods serves /stats/prometheus on (Envoy Gateway's proxies: 19001; ATRIUM_DATAPLANE_STATS_PORT).",
                  default: 19001,
                  minimum: 1,
                  maximum: 65535,
                }),
                listenerPort: Type.Integer({
                  description:
                    "The container port of the Gateway's HTTP listener on each of those pods, plain HTTP: the operator probes every ready pod there before a stop's grace counts (ATRIUM_DATA_PLANE_LISTENER_PORT; ADR 0024). Envoy Gateway maps a listener port below 1024 to port + 10000, so a Gateway listening on 80 is 10080 on its pods. 0: not probed through the pods (probeUrls, then).",
                  default: 0,
                  minimum: 0,
                  maximum: 65535,
                }),
              },
              { default: {} },
            ),
          },
          { default: {} },
        ),
      },
      { default: {} },
    ),
    api: Obj(
      {
        ...workload("the API", 1, { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "1Gi" } }),
        publicUrl: Url(
          "Where browsers reach the API and console, the base of login redirects and invitation links (ATRIUM_PUBLIC_URL); empty: the API Service's cluster address.",
        ),
        consoleUrl: Url("Where the console is served, if not at publicUrl (ATRIUM_CONSOLE_URL)."),
        platformAdmins: Type.Array(
          Type.String({
            // What the API's ATRIUM_PLATFORM_ADMINS accepts (any case, spaces around): no commas.
            pattern: EMAIL_INPUT_PATTERN,
            maxLength: EMAIL_MAX_LENGTH,
          }),
          {
            description:
              "Email addresses of the platform administrators, who create organizations and see them all, once logged in with that verified address (ATRIUM_PLATFORM_ADMINS); empty: nobody.",
            default: [],
            uniqueItems: true,
          },
        ),
        platformAdminGroup: Type.String({
          description:
            "A value of the login's OIDC groups claim whose members are platform administrators too (ATRIUM_PLATFORM_ADMIN_GROUP); empty: none by group.",
          default: "",
          maxLength: 256,
        }),
        prices: Obj(
          {
            cpuHour: Price(
              "USD per CPU core-hour in the dashboard's saved-by-auto-stop estimate (ATRIUM_PRICE_CPU_HOUR)",
            ),
            gibHour: Price("USD per GiB-hour of memory in that estimate (ATRIUM_PRICE_GIB_HOUR)"),
          },
          { default: {} },
        ),
        cookieDomain: Type.String({
          description:
            "The session cookie's Domain, e.g. atrium.example, so apps at <app>.<org>.atrium.example see the login (ATRIUM_COOKIE_DOMAIN).",
          default: "",
          pattern: `^$|${DNS_NAME.slice(1)}`,
        }),
        trustProxy: Type.String({
          description:
            "Express trust proxy for the client address behind a load balancer (ATRIUM_TRUST_PROXY), e.g. 1 or 10.0.0.0/8.",
          default: "",
        }),
        service: Obj(
          {
            type: Enum(["ClusterIP", "NodePort", "LoadBalancer"], {
              description: "The API Service's type.",
              default: "ClusterIP",
            }),
            port: Type.Integer({ description: "The API Service's port.", default: 80, minimum: 1, maximum: 65535 }),
            annotations: StringMap("Annotations on the API Service."),
          },
          { default: {} },
        ),
        database: Obj(
          {
            type: Enum(["sqlite", "postgresql"], {
              description:
                "sqlite: a file on a PersistentVolumeClaim, one API replica (Recreate). postgresql: an external server from an existing Secret, any number of replicas.",
              default: "sqlite",
            }),
            sqlite: Obj(
              {
                size: Type.String({
                  description: "Size of the SQLite volume.",
                  default: "1Gi",
                  pattern: "^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti)?$",
                }),
                storageClassName: Type.String({
                  description: "StorageClass of the volume; empty: the default.",
                  default: "",
                }),
                existingClaim: SecretName("Use this PersistentVolumeClaim instead of making one."),
              },
              { default: {} },
            ),
            postgresql: Obj(
              {
                existingSecret: SecretName("Secret holding the PostgreSQL URL (postgresql://user:password@host/db)."),
                urlKey: SecretKey("The key of the URL in that Secret.", "url"),
              },
              { default: {} },
            ),
          },
          { default: {} },
        ),
        oidc: Obj(
          {
            issuer: Url(
              "The OIDC issuer users log in with (ATRIUM_OIDC_ISSUER); empty: login disabled, API keys only.",
            ),
            clientId: Type.String({ description: "OIDC client ID.", default: "atrium", minLength: 1 }),
            existingSecret: SecretName("Secret holding the OIDC client secret."),
            clientSecretKey: SecretKey("The key of the client secret in that Secret.", "client-secret"),
          },
          { default: {} },
        ),
        smtp: Obj(
          {
            existingSecret: SecretName(
              "Secret holding the SMTP URL (smtp[s]://user:password@host:port) for invitations; empty: emails are logged, not sent.",
            ),
            urlKey: SecretKey("The key of the URL in that Secret.", "url"),
            from: Type.String({
              description: "Sender of Atrium's emails (ATRIUM_MAIL_FROM).",
              default: "Atrium <no-reply@atrium.localhost>",
              minLength: 3,
            }),
          },
          { default: {} },
        ),
        billing: Obj(
          {
            autopay: Type.Boolean({
              description:
                "Invoices are paid the moment they are issued by the built-in local ledger, for demonstrations (ATRIUM_BILLING_AUTOPAY).",
              default: false,
            }),
          },
          { default: {} },
        ),
        keys: Obj(
          {
            existingSecret: SecretName(
              "Secret holding the API key peppers under key-peppers (1:<random>, comma-separated for rotation), the gateways' usage token under usage-token, the audit log's pseudonym key under pseudonym-key (each at least 16 characters) and, for Gateway API mode with external authorization, the operator's stop-probe token under probe-token (at least 32 characters; ADR 0024); empty: the chart makes them at install and keeps them across upgrades.",
            ),
          },
          { default: {} },
        ),
      },
      { default: {} },
    ),
    podSecurityContext: Free("Pod security context of every Atrium pod (restricted Pod Security).", {
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      fsGroup: 10001,
      seccompProfile: { type: "RuntimeDefault" },
    }),
    securityContext: Free("Container security context of every Atrium container.", {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    }),
    networkPolicy: Obj(
      {
        enabled: Type.Boolean({
          description:
            "NetworkPolicies admitting only each component's ports to its pods (egress stays open: the API reaches OIDC, SMTP and PostgreSQL wherever they are).",
          default: true,
        }),
      },
      { default: {} },
    ),
    serviceMonitor: Obj(
      {
        enabled: Type.Boolean({
          description: "Prometheus Operator ServiceMonitors for the three components' /metrics.",
          default: false,
        }),
        interval: Type.String({ description: "Scrape interval.", default: "30s", pattern: "^[0-9]+(ms|s|m|h)$" }),
        labels: StringMap("Labels on the ServiceMonitors (for the Prometheus selecting them)."),
      },
      { default: {} },
    ),
    tests: Obj(
      {
        enabled: Type.Boolean({
          description: "The `helm test` Pod, which asks each component's /readyz through its Service.",
          default: true,
        }),
      },
      { default: {} },
    ),
  },
  {
    title: "Atrium chart values",
    // SQLite is one file on one volume: a second API replica would corrupt it or fail to start.
    allOf: [
      {
        if: { properties: { api: { properties: { database: { properties: { type: { const: "sqlite" } } } } } } },
        // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then, not a thenable
        then: {
          properties: {
            api: {
              properties: {
                replicas: {
                  maximum: 1,
                  description: "SQLite holds one API replica; use api.database.type=postgresql for more",
                },
              },
            },
          },
        },
      },
      {
        if: {
          properties: { api: { properties: { database: { properties: { type: { const: "postgresql" } } } } } },
          required: ["api"],
        },
        // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then, not a thenable
        then: {
          properties: {
            api: {
              properties: {
                database: {
                  properties: { postgresql: { properties: { existingSecret: { minLength: 1 } } } },
                },
              },
            },
          },
        },
      },
      {
        // Gateway API mode cannot work without the Gateway to attach to and the activator's
        // address: the operator would stop at start (operator/src/routing/config.ts).
        if: { properties: { routing: { properties: { mode: { const: "gateway-api" } } } }, required: ["routing"] },
        // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then, not a thenable
        then: {
          properties: {
            routing: {
              properties: {
                gatewayApi: {
                  properties: {
                    parentRef: { properties: { namespace: { minLength: 1 }, name: { minLength: 1 } } },
                  },
                },
              },
            },
            gateway: { properties: { service: { properties: { clusterIP: { minLength: 1 } } } } },
          },
        },
      },
    ],
  },
);

/** The atrium-catalog chart's one value; the names come from crds/catalog/ (charts/generate.ts). */
export const catalogValuesFor = (names: readonly string[]) =>
  Obj(
    {
      exclude: Type.Array(Enum(names, { description: "A sample AppTemplate's name." }), {
        description: "Sample apps to leave out of the catalog, by AppTemplate name.",
        default: [],
        uniqueItems: true,
      }),
    },
    { title: "Atrium sample catalog chart values" },
  );
