import { describe, expect, it } from "vitest";
import { routingConfig } from "./config.ts";

const gatewayApi = {
  ATRIUM_ROUTING: "gateway-api",
  ATRIUM_GATEWAY_API_PARENT: "edge/public",
  ATRIUM_ACTIVATOR_ADDRESSES: "10.96.0.20, 10.96.0.21",
  ATRIUM_DATA_PLANE_URLS: "http://10.96.0.80:80/",
  ATRIUM_DATAPLANE_STATS_URLS: "http://10.0.3.7:19001/stats/prometheus, http://10.0.3.8:19001",
};

describe("routing configuration", () => {
  it("is the embedded gateway unless told otherwise", () => {
    expect(routingConfig({})).toEqual({ mode: "gateway" });
    expect(routingConfig({ ATRIUM_ROUTING: "gateway" })).toEqual({ mode: "gateway" });
  });

  it("reads Gateway API mode's parent, activator, grace and health paths", () => {
    expect(routingConfig(gatewayApi)).toEqual({
      mode: "gateway-api",
      parent: { namespace: "edge", name: "public" },
      activator: { addresses: ["10.96.0.20", "10.96.0.21"], port: 8081 },
      stopGraceMs: 30_000,
      stopChecks: {
        probeUrls: ["http://10.96.0.80:80"],
        statsUrls: ["http://10.0.3.7:19001/stats/prometheus", "http://10.0.3.8:19001"],
        drainMs: 60_000,
        unconfirmed: false,
      },
      excludePaths: ["/healthz", "/readyz", "/livez", "/ping"],
    });
    expect(
      routingConfig({
        ...gatewayApi,
        ATRIUM_GATEWAY_API_PARENT: "edge/public/https",
        ATRIUM_ACTIVATOR_PORT: "9000",
        ATRIUM_STOP_GRACE: "2s",
        ATRIUM_ROUTE_EXCLUDE_PATHS: "",
      }),
    ).toMatchObject({
      parent: { namespace: "edge", name: "public", sectionName: "https" },
      activator: { port: 9000 },
      stopGraceMs: 2000,
      excludePaths: [],
    });
  });

  it("reads the data plane's pods, both settings or neither", () => {
    const dataPlane = { ATRIUM_DATA_PLANE_NAMESPACE: "envoy-gateway-system" };
    expect(
      routingConfig({ ...gatewayApi, ...dataPlane, ATRIUM_DATA_PLANE_POD_LABELS: "a.io/gw=public, tier=edge" }),
    ).toMatchObject({
      dataPlane: { namespace: "envoy-gateway-system", podLabels: { "a.io/gw": "public", tier: "edge" } },
    });
    expect(() => routingConfig({ ...gatewayApi, ...dataPlane })).toThrow(/ATRIUM_DATA_PLANE_POD_LABELS/);
    expect(() => routingConfig({ ...gatewayApi, ATRIUM_DATA_PLANE_POD_LABELS: "a=b" })).toThrow(
      /ATRIUM_DATA_PLANE_NAMESPACE/,
    );
    for (const labels of ["a", "a=b=c", "a b=c", "=b"])
      expect(() => routingConfig({ ...gatewayApi, ...dataPlane, ATRIUM_DATA_PLANE_POD_LABELS: labels })).toThrow(
        /ATRIUM_DATA_PLANE_POD_LABELS/,
      );
  });

  it("refuses settings that cannot work, naming the variable", () => {
    expect(() => routingConfig({ ATRIUM_ROUTING: "envoy" })).toThrow(/ATRIUM_ROUTING/);
    expect(() => routingConfig({ ...gatewayApi, ATRIUM_GATEWAY_API_PARENT: "" })).toThrow(/ATRIUM_GATEWAY_API_PARENT/);
    expect(() => routingConfig({ ...gatewayApi, ATRIUM_GATEWAY_API_PARENT: "Edge/x" })).toThrow(/PARENT/);
    expect(() => routingConfig({ ...gatewayApi, ATRIUM_ACTIVATOR_ADDRESSES: "" })).toThrow(
      /ATRIUM_ACTIVATOR_ADDRESSES/,
    );
    // EndpointSlices refuse loopback addresses.
    expect(() => routingConfig({ ...gatewayApi, ATRIUM_ACTIVATOR_ADDRESSES: "127.0.0.1" })).toThrow(/loopback/);
    expect(() => routingConfig({ ...gatewayApi, ATRIUM_ACTIVATOR_ADDRESSES: "gateway.local" })).toThrow(/IPv4/);
    expect(() => routingConfig({ ...gatewayApi, ATRIUM_ACTIVATOR_PORT: "99999" })).toThrow(/ATRIUM_ACTIVATOR_PORT/);
    expect(() => routingConfig({ ...gatewayApi, ATRIUM_STOP_GRACE: "soon" })).toThrow(/ATRIUM_STOP_GRACE/);
  });

  it("refuses to start without the data plane's addresses to confirm a stop, unless told to stop unconfirmed", () => {
    const { ATRIUM_DATA_PLANE_URLS, ATRIUM_DATAPLANE_STATS_URLS, ...bare } = gatewayApi;
    for (const env of [bare, { ...bare, ATRIUM_DATA_PLANE_URLS }, { ...bare, ATRIUM_DATAPLANE_STATS_URLS }])
      expect(() => routingConfig(env)).toThrow(
        /ATRIUM_DATA_PLANE_URLS.*ATRIUM_DATAPLANE_STATS_URLS.*ATRIUM_STOP_UNCONFIRMED/,
      );
    expect(() => routingConfig({ ...bare, ATRIUM_STOP_UNCONFIRMED: "false" })).toThrow(/ATRIUM_STOP_UNCONFIRMED=true/);
    expect(routingConfig({ ...bare, ATRIUM_STOP_UNCONFIRMED: "true", ATRIUM_DATA_PLANE_URLS })).toMatchObject({
      stopChecks: { probeUrls: ["http://10.96.0.80:80"], statsUrls: [], unconfirmed: true },
    });
    expect(() => routingConfig({ ...bare, ATRIUM_STOP_UNCONFIRMED: "yes" })).toThrow(/ATRIUM_STOP_UNCONFIRMED must be/);
  });

  it("follows the data plane's pods for the checks: the re-check at the stats port, the probe with a listener port", () => {
    const { ATRIUM_DATA_PLANE_URLS, ATRIUM_DATAPLANE_STATS_URLS, ...bare } = gatewayApi;
    const pods = { ATRIUM_DATA_PLANE_NAMESPACE: "envoy-gateway-system", ATRIUM_DATA_PLANE_POD_LABELS: "gw=public" };
    // The pods and their listener port replace both lists.
    expect(routingConfig({ ...bare, ...pods, ATRIUM_DATA_PLANE_LISTENER_PORT: "10080" })).toMatchObject({
      stopChecks: { probeUrls: [], statsUrls: [], unconfirmed: false, pods: { statsPort: 19001, listenerPort: 10080 } },
    });
    expect(
      routingConfig({
        ...bare,
        ...pods,
        ATRIUM_DATA_PLANE_LISTENER_PORT: "10080",
        ATRIUM_DATAPLANE_STATS_PORT: "19000",
      }),
    ).toMatchObject({ stopChecks: { pods: { statsPort: 19000 } } });
    // Without a listener port the pods serve the re-check only: the probe needs its list.
    expect(routingConfig({ ...bare, ...pods, ATRIUM_DATA_PLANE_URLS })).toMatchObject({
      stopChecks: { probeUrls: ["http://10.96.0.80:80"], statsUrls: [], pods: { statsPort: 19001 } },
    });
    expect(routingConfig({ ...bare, ...pods, ATRIUM_DATA_PLANE_URLS })).not.toHaveProperty(
      "stopChecks.pods.listenerPort",
    );
    expect(() => routingConfig({ ...bare, ...pods })).toThrow(/no address for its probe:.*LISTENER_PORT/);
    // Both lists and the pods: all of them.
    expect(routingConfig({ ...gatewayApi, ...pods, ATRIUM_DATA_PLANE_LISTENER_PORT: "10080" })).toMatchObject({
      stopChecks: { probeUrls: ["http://10.96.0.80:80"], pods: { listenerPort: 10080 } },
    });
    // Without the pods, no pod is followed.
    expect(routingConfig(gatewayApi)).not.toHaveProperty("stopChecks.pods");
  });

  it("refuses a listener port without the pods, or a bad port, naming the variable", () => {
    const pods = { ATRIUM_DATA_PLANE_NAMESPACE: "envoy-gateway-system", ATRIUM_DATA_PLANE_POD_LABELS: "gw=public" };
    expect(() => routingConfig({ ...gatewayApi, ATRIUM_DATA_PLANE_LISTENER_PORT: "10080" })).toThrow(
      /ATRIUM_DATA_PLANE_LISTENER_PORT is the port of the data plane's pods' listener: set ATRIUM_DATA_PLANE_NAMESPACE/,
    );
    for (const port of ["0", "70000", "80.5", "http"]) {
      expect(() => routingConfig({ ...gatewayApi, ...pods, ATRIUM_DATA_PLANE_LISTENER_PORT: port })).toThrow(
        /ATRIUM_DATA_PLANE_LISTENER_PORT must be a port number/,
      );
      expect(() => routingConfig({ ...gatewayApi, ...pods, ATRIUM_DATAPLANE_STATS_PORT: port })).toThrow(
        /ATRIUM_DATAPLANE_STATS_PORT must be a port number/,
      );
    }
  });

  it("refuses to start without the probe token when the probe passes the data plane's access check", () => {
    const extAuth = { ...gatewayApi, ATRIUM_EXT_AUTH_SERVICE: "atrium/atrium-api:8080" };
    // Fail closed: without it, no idle stop of an app that is not Public would be confirmed.
    expect(() => routingConfig(extAuth)).toThrow(/ATRIUM_PROBE_TOKEN is required/);
    const token = "t".repeat(32);
    expect(routingConfig({ ...extAuth, ATRIUM_PROBE_TOKEN: token })).toMatchObject({
      stopChecks: { probeToken: token },
    });
    expect(() => routingConfig({ ...extAuth, ATRIUM_PROBE_TOKEN: "t".repeat(31) })).toThrow(/at least 32/);
    expect(() => routingConfig({ ...gatewayApi, ATRIUM_PROBE_TOKEN: "short" })).toThrow(/at least 32/);
    // Not needed without the access check, or without a probe through the data plane.
    expect(routingConfig(gatewayApi)).not.toHaveProperty("stopChecks.probeToken");
    // A probe through the pods' listeners passes the same check.
    const { ATRIUM_DATA_PLANE_URLS: _urls, ...viaPods } = extAuth;
    const pods = { ATRIUM_DATA_PLANE_NAMESPACE: "eg", ATRIUM_DATA_PLANE_POD_LABELS: "gw=public" };
    expect(() => routingConfig({ ...viaPods, ...pods, ATRIUM_DATA_PLANE_LISTENER_PORT: "10080" })).toThrow(
      /ATRIUM_PROBE_TOKEN is required/,
    );
    const { ATRIUM_DATA_PLANE_URLS: _, ...noProbe } = extAuth;
    expect(routingConfig({ ...noProbe, ATRIUM_STOP_UNCONFIRMED: "true" })).toMatchObject({
      extAuth: { name: "atrium-api" },
    });
  });

  it("reads the drain bound, and refuses URLs that are not http(s) without a query", () => {
    expect(routingConfig({ ...gatewayApi, ATRIUM_STOP_DRAIN_TIMEOUT: "1m30s" })).toMatchObject({
      stopChecks: { drainMs: 90_000 },
    });
    expect(() => routingConfig({ ...gatewayApi, ATRIUM_STOP_DRAIN_TIMEOUT: "long" })).toThrow(
      /ATRIUM_STOP_DRAIN_TIMEOUT/,
    );
    expect(() => routingConfig({ ...gatewayApi, ATRIUM_DATA_PLANE_URLS: "envoy:80" })).toThrow(
      /ATRIUM_DATA_PLANE_URLS/,
    );
    expect(() => routingConfig({ ...gatewayApi, ATRIUM_DATAPLANE_STATS_URLS: "http://e:19001/stats?x=1" })).toThrow(
      /ATRIUM_DATAPLANE_STATS_URLS/,
    );
  });
});
