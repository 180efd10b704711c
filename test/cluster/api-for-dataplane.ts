// The API where the data plane's external authorization finds it (issue 17 item 4): Envoy
// Gateway resolves the SecurityPolicy's backend, the API's Service, through its EndpointSlice,
// as it would reach the API's pods in a cluster. Here the API listens on loopback and Envoy runs
// in a network namespace of its own (dataplane.ts), so the Service is selector-less, its slice
// names a local address of the machine (198.18.0.0/16 is local here) and a forwarder on that
// address hands each connection to the API's port. Used by dataplane-extauth.test.ts and the
// dataplane-warm benchmark, as are the API with its OIDC provider and a member's login below.
import type { Server } from "node:net";
import { KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import { type ApiStack, call, startApi } from "./api-stack.ts";
import { forward } from "./dataplane.ts";
import { loginWithOidc } from "./oidc-login.ts";
import { type OidcProviderHandle, startOidcProvider } from "./oidc-provider.ts";

export type ApiForDataplane = {
  /** ATRIUM_EXT_AUTH_SERVICE for the operator: `<namespace>/<name>:<port>`. */
  extAuthService: string;
  close(): void;
};

export async function exposeApiToDataplane(options: {
  kubeconfig: string;
  /** The API's loopback port. */
  apiPort: number;
  /** A local address no pod has, e.g. 198.18.255.250. */
  address: string;
  namespace?: string;
  name?: string;
  servicePort?: number;
}): Promise<ApiForDataplane> {
  const { apiPort, address } = options;
  const namespace = options.namespace ?? "atrium-system";
  const name = options.name ?? "atrium-api";
  const servicePort = options.servicePort ?? 8080;
  const kc = new KubeConfig();
  kc.loadFromFile(options.kubeconfig);
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const forwarder: Server = await forward(address, apiPort, "127.0.0.1");
  try {
    await objects.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } }).catch(() => undefined);
    await objects.create({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace },
      spec: { ports: [{ name: "http", port: servicePort, targetPort: apiPort, protocol: "TCP" }] },
    } as never);
    await objects.create({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name, namespace, labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      endpoints: [{ addresses: [address], conditions: { ready: true } }],
      ports: [{ name: "http", port: apiPort, protocol: "TCP" }],
    } as never);
  } catch (error) {
    forwarder.close();
    throw error;
  }
  return { extAuthService: `${namespace}/${name}:${servicePort}`, close: () => forwarder.close() };
}

/**
 * The API (api-stack.ts) with the real OIDC provider, whose client `atrium` returns to the API's
 * callback on `port`: the port is chosen before either starts.
 */
export async function startApiWithOidc(
  options: Omit<Parameters<typeof startApi>[0], "oidcIssuer" | "port"> & { port: number },
): Promise<{ api: ApiStack; oidc: OidcProviderHandle }> {
  const oidc = await startOidcProvider({
    clients: [
      {
        clientId: "atrium",
        clientSecret: "atrium-test-secret",
        redirectUris: [`http://127.0.0.1:${options.port}/api/auth/callback`],
      },
    ],
    users: [],
  });
  try {
    return { api: await startApi({ ...options, oidcIssuer: oidc.issuer }), oidc };
  } catch (error) {
    await oidc.stop();
    throw error;
  }
}

/** A logged-in person: the session's Cookie header (session and CSRF cookies) and CSRF token. */
export type Session = { cookie: string; csrf: string; email: string };

/**
 * A Member of an org, declared on the apiserver and seen by the API's directory, logged in
 * through the OIDC provider; fails unless the API then knows the session (/api/me).
 */
export async function loginMember(
  objects: KubernetesObjectApi,
  { api, oidc }: { api: ApiStack; oidc: OidcProviderHandle },
  member: {
    /** The org's namespace, `org-<name>`. */
    namespace: string;
    /** The Member object's name. */
    name: string;
    email: string;
    role: string;
    displayName: string;
    /** The person's name at the OIDC provider. */
    personName: string;
  },
): Promise<Session> {
  const { email } = member;
  const created = await objects.create({
    apiVersion: "atrium.dev/v1alpha1",
    kind: "Member",
    metadata: { name: member.name, namespace: member.namespace },
    spec: { email, role: member.role, displayName: member.displayName },
  } as never);
  await api.directory.observed(created as never);
  oidc.addUser({ email, name: member.personName });
  const result = await loginWithOidc({ apiBase: api.base, email });
  const me = await call(api.base, { cookie: result.cookieHeader }, "GET", "/api/me");
  if (me.status !== 200) throw new Error(`login of ${email} failed: ${me.status}`);
  return { cookie: result.cookieHeader, csrf: me.body.csrfToken as string, email };
}
