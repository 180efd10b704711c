import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { app } from "../appinstance/fixtures.ts";
import type { GatewayApiRouting } from "./gateway-api.ts";
import { httpChecks, probeTokenFor } from "./stop-checks.ts";

const TOKEN = "p".repeat(40);
const routing = {
  extAuth: { namespace: "atrium", name: "atrium-api", port: 8080 },
  stopChecks: {
    probeUrls: ["http://10.96.0.80"],
    statsUrls: [],
    drainMs: 60_000,
    unconfirmed: false,
    probeToken: TOKEN,
  },
} as unknown as GatewayApiRouting;

describe("the probe token a stop probe carries", () => {
  it("goes only with apps behind the data plane's access check: a Public app's probe may reach its pod unchecked", () => {
    expect(probeTokenFor(app(), routing)).toBe(TOKEN); // Members by default
    expect(probeTokenFor(app({ access: { policy: "Roles", roles: ["admin"] } }), routing)).toBe(TOKEN);
    expect(probeTokenFor(app({ access: { policy: "Public" } }), routing)).toBeUndefined();
    const { extAuth: _, ...unchecked } = routing;
    expect(probeTokenFor(app(), unchecked as GatewayApiRouting)).toBeUndefined();
  });
});

describe("the probe over HTTP", () => {
  let seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { "x-atrium-activator": "acme/docs" }).end("activator\n");
  });
  let url = "";
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => server.close());

  it("sends the app's Host and the probe header, and the token only when given one", async () => {
    seen = [];
    await httpChecks().probe(url, "docs.acme.apps.example", "acme/docs", TOKEN);
    await httpChecks().probe(url, "docs.acme.apps.example", "acme/docs");
    expect(seen[0]).toMatchObject({
      host: "docs.acme.apps.example",
      "x-atrium-probe": "activator",
      "x-atrium-probe-token": TOKEN,
    });
    expect(seen[1]).toMatchObject({ host: "docs.acme.apps.example", "x-atrium-probe": "activator" });
    expect(seen[1]).not.toHaveProperty("x-atrium-probe-token");
  });
});
