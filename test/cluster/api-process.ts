// The real API (api/src/main.ts) as its own process, as `make dev` runs it.
import { fileURLToPath } from "node:url";
import { startNodeProcess } from "./node-process.ts";
import { freePorts } from "./ports.ts";

const MAIN = fileURLToPath(new URL("../../api/src/main.ts", import.meta.url));

export type ApiProcess = Awaited<ReturnType<typeof startApiProcess>>;

/** `env` holds the rest of its settings: ATRIUM_KEY_PEPPERS, or ATRIUM_ENV=development to have one made. */
export async function startApiProcess(options: { kubeconfig: string; port: number; env?: Record<string, string> }) {
  const url = `http://127.0.0.1:${options.port}`;
  const [adminPort] = (await freePorts(1)) as [number];
  const admin = `http://127.0.0.1:${adminPort}`;
  const proc = await startNodeProcess({
    name: "api",
    main: MAIN,
    nodeFlags: [],
    admin,
    env: {
      KUBECONFIG: options.kubeconfig,
      ATRIUM_API_ADDR: `127.0.0.1:${options.port}`,
      ATRIUM_API_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
      ...options.env,
    },
  });
  return { ...proc, url, admin };
}
