import { describe, expect, it } from "vitest";
import { routingConfig } from "./config.ts";

const gatewayApi = {
  ATRIUM_ROUTING: "gateway-api",
  ATRIUM_GATEWAY_API_PARENT: "edge/public",
  ATRIUM_ACTIVATOR_ADDRESSES: "10.96.0.20, 10.96.0.21",
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
});
