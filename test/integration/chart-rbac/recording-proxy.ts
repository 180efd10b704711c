// A pass-through between one component and the real apiserver that keeps the component's own
// credentials (its ServiceAccount token travels in the Authorization header unchanged) and
// records every answer's status: how the RBAC test sees each 403 a component ever got, whether
// or not the component logs it.
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { Agent, request } from "node:https";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";

export type Answer = { method: string; url: string; status: number; message?: string };

/**
 * An RBAC denial ("... is forbidden: User \"system:serviceaccount:...\" cannot patch ..."), as
 * opposed to the other 403s the apiserver answers, such as a write into a namespace that is
 * being deleted ("unable to create new content in namespace ... because it is being terminated").
 */
export const isRbacDenial = (a: Answer) => a.status === 403 && / cannot /.test(a.message ?? "");

export type RecordingProxy = Awaited<ReturnType<typeof startRecordingProxy>>;

/** Listens on loopback and writes `<dir>/<name>.kubeconfig`: plain HTTP to here, with the token. */
export async function startRecordingProxy(options: {
  server: string;
  ca: Buffer;
  token: string;
  dir: string;
  name: string;
}) {
  const upstream = new URL(options.server);
  const agent = new Agent({ keepAlive: true, ca: options.ca });
  const answers: Answer[] = [];
  const server = createServer((req, res) => {
    const out = request({
      agent,
      hostname: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers: { ...req.headers, host: upstream.host },
    });
    out.on("response", async (answer) => {
      const entry: Answer = { method: req.method ?? "GET", url: req.url ?? "/", status: answer.statusCode ?? 0 };
      answers.push(entry);
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      if (entry.status !== 403) return void pipeline(answer, res).catch(() => res.destroy());
      // A refusal is a small Status: kept, to tell an RBAC denial from other refusals.
      const chunks: Buffer[] = [];
      for await (const chunk of answer) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks);
      try {
        entry.message = String(JSON.parse(body.toString("utf8")).message ?? "");
      } catch {
        entry.message = body.toString("utf8").slice(0, 500);
      }
      res.end(body);
    });
    out.on("error", () => res.destroy());
    res.on("close", () => {
      if (!res.writableFinished) out.destroy();
    });
    pipeline(req, out).catch(() => out.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  const kubeconfig = join(options.dir, `${options.name}.kubeconfig`);
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true } }]
users: [{ name: ${options.name}, user: { token: ${JSON.stringify(options.token)} } }]
contexts: [{ name: c, context: { cluster: c, user: ${options.name} } }]
current-context: c
`,
  );
  return {
    kubeconfig,
    answers,
    /** Every RBAC denial this component got. */
    forbidden: () => answers.filter(isRbacDenial),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
