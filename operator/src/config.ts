export type OperatorConfig = {
  /** Apps answer at https://<app>.<org>.<baseDomain>. */
  baseDomain: string;
  /** Where the gateway runs: the only source the org NetworkPolicy admits. */
  gatewayNamespace: string;
  gatewayPodLabels: Record<string, string>;
  /** Default limits for containers that declare none (LimitRange). */
  defaultContainerCpu: string;
  defaultContainerMemory: string;
};

export const defaultConfig = (env: NodeJS.ProcessEnv = process.env): OperatorConfig => ({
  baseDomain: env.ATRIUM_BASE_DOMAIN ?? "atrium.localhost",
  gatewayNamespace: env.ATRIUM_GATEWAY_NAMESPACE ?? "atrium-system",
  gatewayPodLabels: { "app.kubernetes.io/name": "atrium-gateway" },
  defaultContainerCpu: "100m",
  defaultContainerMemory: "128Mi",
});
