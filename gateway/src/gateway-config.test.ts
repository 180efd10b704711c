import { describe, expect, it } from "vitest";
import { defaultGatewayConfig } from "./gateway.ts";

describe("defaultGatewayConfig", () => {
  it("takes the API's forward-auth and login URLs", () => {
    const config = defaultGatewayConfig({
      ATRIUM_GATEWAY_AUTH_URL: "http://atrium-api:8080",
      ATRIUM_GATEWAY_LOGIN_URL: "https://atrium.example/api/auth/login",
    });
    expect([config.authUrl, config.loginUrl]).toEqual([
      "http://atrium-api:8080/",
      "https://atrium.example/api/auth/login",
    ]);
    expect(defaultGatewayConfig({})).toMatchObject({ authUrl: undefined, loginUrl: undefined });
  });

  it("refuses URLs that are not http(s) at start, naming the variable", () => {
    expect(() => defaultGatewayConfig({ ATRIUM_GATEWAY_LOGIN_URL: "atrium.example/login" })).toThrow(
      /ATRIUM_GATEWAY_LOGIN_URL/,
    );
    expect(() => defaultGatewayConfig({ ATRIUM_GATEWAY_AUTH_URL: "atrium-api:8080" })).toThrow(
      /ATRIUM_GATEWAY_AUTH_URL/,
    );
  });
});
