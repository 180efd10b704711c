// gateway-warm's contender on Node's public APIs only: what the gateway would cost if it left
// node:_http_common's parser and socket handles (docs/adr/0007). A node:http server, and as its
// client either node:http's Agent (keep-alive) or undici's Pool, forwarding everything to one
// backend: no routing, access check, activity or metrics, so it is the least such a gateway
// would spend (a floor, not an estimate). Headers are handled as nginx's configuration in the
// scenario does: hop-by-hop ones dropped, Host kept, X-Forwarded-For appended.
//   node bench/public-api-proxy.ts <agent|undici> <listen host:port> <backend host:port>
import { Agent, createServer, type IncomingHttpHeaders, type IncomingMessage, request } from "node:http";
import { Pool } from "undici";

const [client, listen = "", backend = ""] = process.argv.slice(2);
const [host, port] = listen.split(":") as [string, string];
const [backendHost, backendPort] = backend.split(":") as [string, string];
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"];

/** The request's headers as they go to the app: hop-by-hop dropped, the client's address appended. */
function forwarded(req: IncomingMessage): IncomingHttpHeaders {
  const headers = { ...req.headers };
  for (const name of HOP_BY_HOP) delete headers[name];
  const peer = req.socket.remoteAddress ?? "";
  headers["x-forwarded-for"] = headers["x-forwarded-for"] ? `${headers["x-forwarded-for"]}, ${peer}` : peer;
  return headers;
}

/** The app's response headers as they go to the client. */
function answered(headers: Record<string, string | string[] | undefined>) {
  const out = { ...headers };
  for (const name of HOP_BY_HOP) delete out[name];
  return out;
}

const badGateway = (res: import("node:http").ServerResponse) => {
  if (!res.headersSent) res.writeHead(502).end("bad gateway");
  else res.destroy();
};

// 64 idle upstream connections at most, as nginx's `keepalive 64` and the gateway's pool.
const agent = new Agent({ keepAlive: true, maxFreeSockets: 64 });
const pool = new Pool(`http://${backend}`, { connections: 64, pipelining: 1 });

const server = createServer((req, res) => {
  if (client === "undici") {
    pool
      .stream(
        {
          path: req.url ?? "/",
          method: req.method as "GET",
          headers: forwarded(req) as Record<string, string>,
          body: req.method === "GET" || req.method === "HEAD" ? null : req,
        },
        ({ statusCode, headers }) => {
          res.writeHead(statusCode, answered(headers));
          return res;
        },
      )
      .catch(() => badGateway(res));
    return;
  }
  const up = request(
    { host: backendHost, port: Number(backendPort), method: req.method, path: req.url, headers: forwarded(req), agent },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answered(answer.headers));
      answer.pipe(res);
    },
  );
  up.on("error", () => badGateway(res));
  req.pipe(up);
});
server.keepAliveTimeout = 65_000; // as the gateway's client connections
server.listen(Number(port), host);
