// The real gateway (gateway/src/main.ts) as its own process.
import { fileURLToPath } from "node:url";
import { GATEWAY_NODE_FLAGS } from "../../gateway/src/node-flags.ts";
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
    nodeFlags: process.env.ATRIUM_GATEWAY_NODE_FLAGS?.split(" ").filter(Boolean) ?? GATEWAY_NODE_FLAGS,
    admin: `http://127.0.0.1:${adminPort}`,
    env: {
      KUBECONFIG: options.kubeconfig,
      ATRIUM_GATEWAY_ADDR: `127.0.0.1:${port}`,
      ATRIUM_GATEWAY_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
      ...options.env,
    },
  });
  await proc.waitUntil("the proxy port", () => fetch(`http://127.0.0.1:${port}/`).then(() => true));
  return { ...proc, port, url: `http://127.0.0.1:${port}` };
}
