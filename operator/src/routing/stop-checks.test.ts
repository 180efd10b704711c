import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { app } from "../appinstance/fixtures.ts";
import type { Deps } from "../deps.ts";
import type { GatewayApiRouting } from "./gateway-api.ts";
import { type DataPlaneChecks, httpChecks, probeTokenFor, stopChecks } from "./stop-checks.ts";

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

describe("the stop's checks following the data plane's pods", () => {
  const T0 = Date.parse("2026-06-01T10:00:00Z");
  const KEY = "org-acme/docs";
  const pod = (name: string, ip: string) => ({ key: `pod/eg/${name}/uid-${name}`, host: ip });
  const pods = {
    ...routing,
    extAuth: undefined,
    stopGraceMs: 30_000,
    stopChecks: {
      probeUrls: ["http://10.96.0.80"],
      statsUrls: ["http://10.96.0.81:19000"],
      drainMs: 60_000,
      unconfirmed: false,
      pods: { statsPort: 19001, listenerPort: 10080 },
    },
  } as unknown as GatewayApiRouting;

  /** The checks against a data plane whose addresses answer as `activator` and `active` say now. */
  function world(ready: { key: string; host: string }[]) {
    let now = T0;
    const activator = new Map<string, boolean>();
    const active = new Map<string, number>();
    const probes: string[] = [];
    const reads: string[] = [];
    let onProbe = (_url: string) => {};
    const checks: DataPlaneChecks = {
      probe: async (url) => {
        probes.push(url);
        onProbe(url);
        if (activator.get(url) === false) throw new Error(`${url} answered 200 without the activator's mark`);
      },
      activeRequests: async (url) => {
        reads.push(url);
        return active.get(url) ?? 0;
      },
    };
    const events: string[] = [];
    const deps = {
      config: { baseDomain: "apps.example" },
      log: () => {},
      record: (_o: unknown, type: string, reason: string) => events.push(`${type} ${reason}`),
      now: () => new Date(now),
    } as unknown as Deps;
    const sc = stopChecks(deps, pods, checks, () => ready);
    const instance = app({ access: { policy: "Public" } });
    /** One pass of the stop sequence begun at T0: what stopStep asks for, then the checks' answers. */
    const pass = async (step: { probe?: boolean; recheck?: boolean }) => {
      sc.track(KEY, true, { replicas: 1, mode: "proxy", proxySince: T0, ...step });
      sc.run(instance);
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      return sc.inputs(KEY, T0);
    };
    return {
      activator,
      active,
      probes,
      reads,
      events,
      pass,
      at: (t: number) => {
        now = t;
      },
      onProbe: (f: (url: string) => void) => {
        onProbe = f;
      },
    };
  }

  it("begins the grace only once every listed listener and every ready pod answered from the activator", async () => {
    const w = world([pod("a", "10.0.3.7"), pod("b", "10.0.3.8")]);
    w.activator.set("http://10.0.3.8:10080", false); // pod b still has the app's pod endpoints
    expect((await w.pass({ probe: true })).confirmedAt).toBeUndefined();
    expect(w.probes.sort()).toEqual(["http://10.0.3.7:10080", "http://10.0.3.8:10080", "http://10.96.0.80"]);
    w.activator.set("http://10.0.3.8:10080", true);
    w.at(T0 + 300); // past the first backoff
    expect((await w.pass({ probe: true })).confirmedAt).toBe(T0 + 300);
    // Only the one that had not answered was probed again.
    expect(w.probes.slice(3)).toEqual(["http://10.0.3.8:10080"]);
  });

  it("probes a pod that became ready while the others were probed before the grace begins", async () => {
    const ready = [pod("a", "10.0.3.7")];
    const w = world(ready);
    w.onProbe((url) => {
      if (url === "http://10.0.3.7:10080" && ready.length === 1) ready.push(pod("c", "10.0.3.9"));
    });
    expect((await w.pass({ probe: true })).confirmedAt).toBeUndefined();
    w.at(T0 + 10); // no backoff: nothing failed
    expect((await w.pass({ probe: true })).confirmedAt).toBe(T0 + 10);
    expect(w.probes.slice(2)).toEqual(["http://10.0.3.9:10080"]);
  });

  it("confirms nothing and counts nothing with no pod of the data plane ready (fail closed)", async () => {
    const w = world([]);
    for (let t = T0; t <= T0 + 40_000; t += 500) {
      w.at(t);
      expect((await w.pass({ probe: true })).confirmedAt).toBeUndefined();
    }
    // The listed listener answered: the missing pods alone hold the stop, and are told.
    expect(new Set(w.probes)).toEqual(new Set(["http://10.96.0.80"]));
    expect(w.events).toEqual(["Warning StopNotConfirmed"]);
  });

  it("re-checks the requests under way in every listed Envoy and every pod ready then, and sums them", async () => {
    const ready = [pod("a", "10.0.3.7")];
    const w = world(ready);
    await w.pass({ probe: true });
    // A pod ready after the confirmation is not probed (its first configuration already had the
    // activator's endpoints), but the requests under way on it are counted.
    ready.push(pod("b", "10.0.3.8"));
    w.active.set("http://10.96.0.81:19000", 1);
    w.active.set("http://10.0.3.8:19001/stats/prometheus", 2);
    w.at(T0 + 30_000);
    expect((await w.pass({ recheck: true })).activeRequests).toBe(3);
    expect(w.reads.sort()).toEqual([
      "http://10.0.3.7:19001/stats/prometheus",
      "http://10.0.3.8:19001/stats/prometheus",
      "http://10.96.0.81:19000",
    ]);
    expect(w.probes).not.toContain("http://10.0.3.8:10080");
    // Every pod gone: unknown, not zero.
    ready.splice(0);
    w.active.clear();
    w.at(T0 + 31_000);
    expect((await w.pass({ recheck: true })).activeRequests).toBeUndefined();
  });
});
