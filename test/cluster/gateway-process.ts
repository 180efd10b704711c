// The real gateway (gateway/src/main.ts) as its own process.
import { fileURLToPath } from "node:url";
import { gatewayNodeFlags } from "../../gateway/src/node-flags.ts";
import { startNodeProcess } from "./node-process.ts";
import { freePorts } from "./ports.ts";

const MAIN = fileURLToPath(new URL("../../gateway/src/main.ts", import.meta.url));

export type GatewayProcess = Awaited<ReturnType<typeof startGateway>>;

export async function startGateway(options: { kubeconfig: string; port?: number; env?: Record<string, string> }) {
  const [free, adminPort] = (await freePorts(2)) as [number, number];
  const port = options.port ?? free;
  const proc = await startNodeProcess({
    name: "gateway",
    main: MAIN,
    // On its command line, as main.ts would otherwise start itself again with them.
    nodeFlags: gatewayNodeFlags(),
    admin: `http://127.0.0.1:${adminPort}`,
    env: {
      KUBECONFIG: options.kubeconfig,
      ATRIUM_GATEWAY_ADDR: `127.0.0.1:${port}`,
      ATRIUM_GATEWAY_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
      // Tests stop gateways often; the one that tests the delay sets it.
      ATRIUM_GATEWAY_SHUTDOWN_DELAY_MS: "0",
      ...options.env,
    },
  });
  await proc.waitUntil("the proxy port", () => fetch(`http://127.0.0.1:${port}/`).then(() => true));
  return { ...proc, port, url: `http://127.0.0.1:${port}`, adminUrl: `http://127.0.0.1:${adminPort}` };
}
