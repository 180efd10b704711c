// Gateway API mode on the harness's real data plane (issue 17): the real operator attaching
// apps' routes to the data plane's Gateway, and the real gateway as the activator only, at an
// address of its own that EndpointSlices accept. What each test tunes (the stop's grace, the
// gateway's flush interval, its statistics) comes in `operatorEnv` and `gatewayEnv`.
import type { Dataplane } from "./dataplane.ts";
import { type GatewayProcess, startGateway } from "./gateway-process.ts";
import { type OperatorProcess, startOperator } from "./operator-process.ts";
import { freePorts } from "./ports.ts";

export type ActivatorMode = { operator: OperatorProcess; gateway: GatewayProcess; activatorPort: number };

export async function startActivatorMode(options: {
  kubeconfig: string;
  /** The operator's id (its lease holder name and log file). */
  id: string;
  baseDomain: string;
  dataplane: Dataplane;
  /**
   * Where the activator answers for Envoy: EndpointSlices refuse loopback and link-local
   * addresses, and the harness makes all of 198.18.0.0/16 local (Envoy's namespace reaches it
   * through its veth) while fake pods get low addresses of their cluster's /20, so a high one
   * is nobody's pod. Several tests may share one: each activator has its own free port.
   */
  activatorIp: string;
  /** ATRIUM_STOP_GRACE: how long the endpoints are at the activator before zero replicas. */
  graceMs: number;
  operatorEnv?: Record<string, string>;
  gatewayEnv?: Record<string, string>;
}): Promise<ActivatorMode> {
  const { dataplane } = options;
  const [activatorPort] = (await freePorts(1)) as [number];
  const operator = await startOperator({
    kubeconfig: options.kubeconfig,
    id: options.id,
    leaseNamespace: "atrium-system",
    leaseDurationMs: 4000,
    env: {
      ATRIUM_BASE_DOMAIN: options.baseDomain,
      ATRIUM_ROUTING: "gateway-api",
      ATRIUM_GATEWAY_API_PARENT: `${dataplane.gateway.namespace}/${dataplane.gateway.name}/http`,
      ATRIUM_ACTIVATOR_ADDRESSES: options.activatorIp,
      ATRIUM_ACTIVATOR_PORT: String(activatorPort),
      ATRIUM_STOP_GRACE: `${options.graceMs}ms`,
      // The stop's checks through the data plane: its probe through Envoy's listener, and
      // requests under way on the pod in Envoy's statistics.
      ATRIUM_DATA_PLANE_URLS: dataplane.url,
      ATRIUM_DATAPLANE_STATS_URLS: dataplane.adminUrl,
      ...options.operatorEnv,
    },
  });
  try {
    const gateway = await startGateway({
      kubeconfig: options.kubeconfig,
      port: activatorPort,
      env: {
        // Every local address: 127.0.0.1 for the harness's readiness check, the activator's for Envoy.
        ATRIUM_GATEWAY_ADDR: `0.0.0.0:${activatorPort}`,
        ATRIUM_ROUTING: "gateway-api",
        ATRIUM_BASE_DOMAIN: options.baseDomain,
        ATRIUM_GATEWAY_WAKE_TIMEOUT_MS: "20000",
        ...options.gatewayEnv,
      },
    });
    return { operator, gateway, activatorPort };
  } catch (error) {
    await operator.kill();
    throw error;
  }
}
