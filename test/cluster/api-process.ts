// The real API (api/src/main.ts) as its own process, as `make dev` runs it.
import { fileURLToPath } from "node:url";
import { startNodeProcess } from "./node-process.ts";

const MAIN = fileURLToPath(new URL("../../api/src/main.ts", import.meta.url));

export type ApiProcess = Awaited<ReturnType<typeof startApiProcess>>;

export async function startApiProcess(options: { kubeconfig: string; port: number; env?: Record<string, string> }) {
  const url = `http://127.0.0.1:${options.port}`;
  const proc = await startNodeProcess({
    name: "api",
    main: MAIN,
    nodeFlags: [],
    admin: url,
    env: { KUBECONFIG: options.kubeconfig, ATRIUM_API_ADDR: `127.0.0.1:${options.port}`, ...options.env },
  });
  return { ...proc, url };
}
