// One HTTP request to the data plane's listener with the Host of an app (fetch cannot set Host),
// answered in full: what tests that look at more than status and body (requestThrough in
// dataplane.ts) send through Envoy: their own method and headers, and the answer's headers.
import { type IncomingHttpHeaders, request } from "node:http";
import type { Dataplane } from "./dataplane.ts";

export type DataplaneAnswer = { status: number; body: string; headers: IncomingHttpHeaders };

export function requestVia(
  dataplane: Pick<Dataplane, "host" | "port">,
  options: { host: string; path?: string; method?: string; headers?: Record<string, string> },
): Promise<DataplaneAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: dataplane.host,
        port: dataplane.port,
        path: options.path ?? "/",
        method: options.method ?? "GET",
        headers: { host: options.host, ...options.headers },
        agent: false,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d) => {
          body += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}
