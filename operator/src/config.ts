import { DEFAULT_DELETION_GRACE, parseGrace } from "./organization/deletion.ts";
import { type Routing, routingConfig } from "./routing/config.ts";

export type OperatorConfig = {
  /** Apps answer at https://<app>.<org>.<baseDomain>. */
  baseDomain: string;
  /** The app URL shown in status, with {org} and {app}; unset: https://{app}.{org}.<baseDomain>. */
  appUrlTemplate?: string;
  /** Where the gateway runs: the only source the org NetworkPolicy admits. */
  gatewayNamespace: string;
  gatewayPodLabels: Record<string, string>;
  /** Default limits for containers that declare none (LimitRange). */
  defaultContainerCpu: string;
  defaultContainerMemory: string;
  /** From an organization's deletion request to its deletion (ATRIUM_ORG_DELETION_GRACE, default 30d). */
  orgDeletionGraceMs: number;
  /** The embedded gateway (default) or Gateway API mode (ATRIUM_ROUTING, routing/config.ts). */
  routing: Routing;
};

export const defaultConfig = (env: NodeJS.ProcessEnv = process.env): OperatorConfig => ({
  baseDomain: env.ATRIUM_BASE_DOMAIN ?? "atrium.localhost",
  ...(env.ATRIUM_APP_URL_TEMPLATE ? { appUrlTemplate: appUrlTemplate(env.ATRIUM_APP_URL_TEMPLATE) } : {}),
  gatewayNamespace: env.ATRIUM_GATEWAY_NAMESPACE ?? "atrium-system",
  gatewayPodLabels: { "app.kubernetes.io/name": "atrium-gateway" },
  defaultContainerCpu: "100m",
  defaultContainerMemory: "128Mi",
  orgDeletionGraceMs: parseGrace(env.ATRIUM_ORG_DELETION_GRACE || DEFAULT_DELETION_GRACE),
  routing: routingConfig(env),
});

/** An http(s) URL with {app} (and usually {org}) in it, checked at start with the variable named. */
function appUrlTemplate(text: string): string {
  const sample = text.replaceAll("{org}", "org").replaceAll("{app}", "app");
  let ok = text.includes("{app}");
  try {
    ok &&= ["http:", "https:"].includes(new URL(sample).protocol);
  } catch {
    ok = false;
  }
  if (!ok)
    throw new Error(
      `ATRIUM_APP_URL_TEMPLATE must be an http(s) URL containing {app} (and {org}), such as http://127.0.0.1:8081/apps/{org}/{app}/; got ${JSON.stringify(text)}`,
    );
  return text;
}
