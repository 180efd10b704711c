// The gateway: the only path to app pods. It routes `<app>.<org>.<domain>` (or
// /apps/<org>/<app>/) to a ready endpoint of the app's Service, counts activity, and holds the
// requests for a stopped app while it wakes it, once, however many requests arrive. An app
// billing does not allow to run is answered 402 and never woken (entitlement.ts).
import { connect, type Socket } from "node:net";
import {
  ACTIVATOR_MARKER_HEADER,
  ACTIVATOR_PROBE_HEADER,
  APP_IDENTITY_HEADER,
  type AppInstance,
  type AppTemplate,
  DEFAULT_HEALTH_CHECK_PATHS,
  LABEL_SLICE_MANAGER,
  namespaceFor,
  orgOfNamespace,
  ROUTE_SLICE_MANAGER,
} from "@atrium/crds";
import {
  envList,
  envNumber,
  envUrl,
  errorMessage,
  Informer,
  KubeClient,
  type KubeObject,
  type Logger,
  R,
} from "@atrium/kube";
import type { KubeConfig } from "@kubernetes/client-node";
import { probedApp, routeOfIdentity } from "./activator.ts";
import { ActivityTracker } from "./activity.ts";
import { DataplaneActivity, type DataplaneStatsConfig, dataplaneStatsFor } from "./dataplane-activity.ts";
import { followDataplanePods } from "./dataplane-pods.ts";
import { type SliceEndpoint, usableEndpoints } from "./endpoints.ts";
import { billingCheck, paymentRequiredBody } from "./entitlement.ts";
import { ForwardAuth } from "./forward-auth.ts";
import { clientOrigin, parseTrustedProxies, requestHead, trustedPeers } from "./headers.ts";
import type { GatewayMetrics } from "./metrics.ts";
import { errorPage, startingPage } from "./pages.ts";
import { closingAnswer, statusOfAnswer } from "./refusal.ts";
import { type Exclusions, isExcluded, type Route, routeOf, wantsHtml } from "./routes.ts";
import { HttpServer, type Request, type Response, type ServerOptions, throttled } from "./server.ts";
import { addressOf, type Endpoint, UpstreamError, UpstreamPool } from "./upstream.ts";
import { UsageReporter } from "./usage.ts";

export type GatewayConfig = {
  baseDomain: string;
  exclusions: Exclusions;
  /** lastActivity is written at most this often per app (default one minute). */
  flushIntervalMs: number;
  /** How long a request for a stopped app is held before 503 + Retry-After. */
  wakeTimeoutMs: number;
  /** Requests held per waking app at most; more get 503 at once. */
  maxHeldPerApp: number;
  /** Browsers get a self-refreshing "Starting…" page instead of a held request. */
  startingPage: boolean;
  retryAfterSeconds: number;
  maxHeaderBytes: number;
  maxBodyBytes: number;
  /** Client limits and timeouts (server.ts: headers, body, connections). */
  limits: Pick<ServerOptions, "headersTimeoutMs" | "bodyTimeoutMs" | "bodyMinRate" | "maxConnections">;
  /** How long an app may stay silent while it owes response bytes (upstream.ts). */
  upstreamTimeoutMs: number;
  /**
   * On SIGTERM, /readyz answers 503 for this long while requests are still served, so that load
   * balancers and endpoints stop sending before the gateway drains and exits (main.ts).
   */
  shutdownDelayMs: number;
  /**
   * After that delay, how long the requests under way may still take before they are cut. At
   * least the wake timeout, so that a request held for a wake when SIGTERM came (a rollout) gets
   * its answer; the pod's termination grace must cover the delay and this (the chart: 90 s).
   */
  drainTimeoutMs: number;
  /**
   * The Atrium API, asked whether a caller may open an app that is not Public (forward-auth).
   * Unset: only Public apps are served; the others answer 503 (fail closed; main.ts warns).
   */
  authUrl: string | undefined;
  /** How long a grant is cached per caller and app. */
  authCacheMs: number;
  /** How long a refusal (401/403/404) is cached per caller and app. */
  authRefusalCacheMs: number;
  /** The forward-auth cache's bound in (estimated) bytes; the oldest answers go first. */
  authCacheBytes: number;
  /** Peers (CIDRs) whose X-Forwarded-*, X-Real-IP and Forwarded are believed; empty: none. */
  trustedProxies: string[];
  /**
   * The API's login URL as browsers reach it (e.g. https://atrium.example/api/auth/login): a
   * browser that must log in to open an app is sent there and comes back to the app. Unset: 401.
   */
  loginUrl: string | undefined;
  /**
   * Where browsers reach the Atrium console (ATRIUM_CONSOLE_URL, the API's setting of the same
   * name): the 402 for an unpaid app links to the organization's billing there. Unset: no link.
   */
  consoleUrl: string | undefined;
  /**
   * The secret the API takes usage batches with (ATRIUM_USAGE_TOKEN): requests, 5xx answers and
   * wakes per app go to the API at authUrl (usage.ts). Unset (or no authUrl): no reporting.
   */
  usageToken: string | undefined;
  /** At most one usage batch per this interval (ATRIUM_USAGE_INTERVAL_MS, default a minute). */
  usageIntervalMs: number;
  /**
   * Gateway API mode (ATRIUM_ROUTING=gateway-api): this gateway is the activator behind the
   * cluster's data plane, and a request's app is the one its route named in APP_IDENTITY_HEADER.
   */
  activator: boolean;
  /**
   * Gateway API mode only: the data plane's Envoy admins whose statistics give running apps'
   * activity (ATRIUM_DATAPLANE_STATS_URLS, and the data plane's pods found by
   * ATRIUM_DATA_PLANE_NAMESPACE and ATRIUM_DATA_PLANE_POD_LABELS: dataplane-activity.ts,
   * dataplane-pods.ts). Unset: no such activity.
   */
  dataplaneStats?: DataplaneStatsConfig;
};

export const defaultGatewayConfig = (env: NodeJS.ProcessEnv = process.env): GatewayConfig => ({
  baseDomain: env.ATRIUM_BASE_DOMAIN ?? "atrium.localhost",
  exclusions: {
    // Trimmed like the operator's ATRIUM_ROUTE_EXCLUDE_PATHS (a request path never holds a space).
    paths: envList(env, "ATRIUM_GATEWAY_EXCLUDE_PATHS", DEFAULT_HEALTH_CHECK_PATHS),
    userAgents: (env.ATRIUM_GATEWAY_EXCLUDE_USER_AGENTS ?? "kube-probe,UptimeRobot,Pingdom,StatusCake,Better Uptime")
      .split(",")
      .filter(Boolean),
  },
  flushIntervalMs: envNumber(env, "ATRIUM_GATEWAY_FLUSH_INTERVAL_MS", 60_000, 100),
  wakeTimeoutMs: envNumber(env, "ATRIUM_GATEWAY_WAKE_TIMEOUT_MS", 60_000, 100),
  maxHeldPerApp: envNumber(env, "ATRIUM_GATEWAY_MAX_HELD", 1000, 1),
  startingPage: env.ATRIUM_GATEWAY_STARTING_PAGE !== "false",
  retryAfterSeconds: envNumber(env, "ATRIUM_GATEWAY_RETRY_AFTER_S", 5, 1),
  maxHeaderBytes: 16 * 1024,
  maxBodyBytes: envNumber(env, "ATRIUM_GATEWAY_MAX_BODY_BYTES", 100 * 1024 * 1024, 0),
  limits: {
    headersTimeoutMs: envNumber(env, "ATRIUM_GATEWAY_HEADERS_TIMEOUT_MS", 30_000, 100),
    bodyTimeoutMs: envNumber(env, "ATRIUM_GATEWAY_BODY_TIMEOUT_MS", 60_000, 100),
    bodyMinRate: envNumber(env, "ATRIUM_GATEWAY_BODY_MIN_RATE", 500, 0),
    maxConnections: envNumber(env, "ATRIUM_GATEWAY_MAX_CONNECTIONS", 10_000, 1),
  },
  upstreamTimeoutMs: envNumber(env, "ATRIUM_GATEWAY_UPSTREAM_TIMEOUT_MS", 60_000, 100),
  shutdownDelayMs: envNumber(env, "ATRIUM_GATEWAY_SHUTDOWN_DELAY_MS", 5000, 0),
  drainTimeoutMs: envNumber(env, "ATRIUM_GATEWAY_DRAIN_TIMEOUT_MS", 75_000, 0),
  authUrl: envUrl(env, "ATRIUM_GATEWAY_AUTH_URL")?.href,
  authCacheMs: envNumber(env, "ATRIUM_GATEWAY_AUTH_CACHE_MS", 5000, 0),
  authRefusalCacheMs: envNumber(env, "ATRIUM_GATEWAY_AUTH_REFUSAL_CACHE_MS", 2000, 0),
  authCacheBytes: envNumber(env, "ATRIUM_GATEWAY_AUTH_CACHE_BYTES", 4 * 1024 * 1024, 0),
  trustedProxies: parseTrustedProxies(env.ATRIUM_GATEWAY_TRUSTED_PROXIES, "ATRIUM_GATEWAY_TRUSTED_PROXIES"),
  loginUrl: envUrl(env, "ATRIUM_GATEWAY_LOGIN_URL")?.href,
  consoleUrl: envUrl(env, "ATRIUM_CONSOLE_URL")?.href,
  usageToken: env.ATRIUM_USAGE_TOKEN || undefined,
  usageIntervalMs: envNumber(env, "ATRIUM_USAGE_INTERVAL_MS", 60_000, 100),
  activator: env.ATRIUM_ROUTING === "gateway-api",
  dataplaneStats: dataplaneStatsFor(env),
});

type App = AppInstance & KubeObject;
type Template = AppTemplate & KubeObject;
type Slice = KubeObject & {
  endpoints?: SliceEndpoint[];
  ports?: { name?: string; port?: number }[];
};

const NONE: readonly string[] = [];

/** The informer key of the app a route names. */
const appKey = (route: Route) => `${namespaceFor(route.org)}/${route.app}`;

class HttpError extends Error {
  readonly status: number;
  readonly title: string;
  readonly headers: Record<string, string>;
  /** The answer's own body (its content type and text), instead of the error page. */
  readonly body: { type: string; text: string } | undefined;
  constructor(
    status: number,
    title: string,
    detail: string,
    headers: Record<string, string> = {},
    body?: { type: string; text: string },
  ) {
    super(detail);
    this.status = status;
    this.title = title;
    this.headers = headers;
    this.body = body;
  }
}

export function createGateway(options: {
  kc: KubeConfig;
  config: GatewayConfig;
  log: Logger;
  metrics: GatewayMetrics;
}) {
  const { config, log, metrics } = options;
  const client = new KubeClient(options.kc, { fieldManager: "atrium-gateway" });
  const apps = new Informer<App>(client, R.appInstance);
  // Whether an app is paid for needs its template (free or not); the entitlement the API
  // published comes with the AppInstance. Both from watches: no call per request.
  const templates = new Informer<Template>(client, R.appTemplate);
  const billing = billingCheck(templates);
  const slices = new Informer<Slice>(client, R.endpointSlice, {
    labelSelector: "app.kubernetes.io/managed-by=atrium-operator",
  });
  const activity = new ActivityTracker(client, (key) => apps.get(key), {
    flushIntervalMs: config.flushIntervalMs,
    log,
    onWrite: () => metrics.activityWrites.inc(),
  });
  // Running apps' traffic does not pass here in Gateway API mode: their activity is the data plane's.
  const stats = config.activator ? config.dataplaneStats : undefined;
  const dataplanePods = stats?.pods ? followDataplanePods(client, stats.pods, log) : undefined;
  const dataplane = stats
    ? new DataplaneActivity({
        urls: stats.urls,
        intervalMs: stats.intervalMs,
        ...(dataplanePods ? { discovered: dataplanePods.targets } : {}),
        isApp: (key) => apps.get(key) !== undefined,
        touch: (key, at) => activity.touch(key, at),
        log,
      })
    : undefined;
  const upstream = new UpstreamPool({ responseTimeoutMs: config.upstreamTimeoutMs });
  const auth = config.authUrl
    ? new ForwardAuth({
        url: config.authUrl,
        cacheMs: config.authCacheMs,
        refusalCacheMs: config.authRefusalCacheMs,
        maxCacheBytes: config.authCacheBytes,
        timeoutMs: 5000,
      })
    : undefined;
  const isTrustedProxy = trustedPeers(config.trustedProxies);
  const usage =
    config.usageToken && config.authUrl
      ? new UsageReporter({ apiUrl: config.authUrl, token: config.usageToken, intervalMs: config.usageIntervalMs, log })
      : undefined;
  /**
   * Every request for an existing app: in /metrics, and in the app's usage, where one whose
   * client left before any answer counts as a request but not as a 5xx (nobody got the 502).
   */
  const countRequest = (route: Route | undefined, status: number, clientLeft = false) => {
    metrics.countRequest(route, status);
    if (route && usage) usage.counter.request(route.org, route.app, clientLeft ? undefined : status);
  };
  const wakes = new Map<string, Promise<Endpoint>>();
  const held = new Map<string, number>();
  let roundRobin = 0;

  // Usable endpoints per Service (`namespace/name`), rebuilt when one of its slices changes, so
  // a request costs a map lookup however many apps there are. Ready ones, else those of pods
  // that still serve while terminating (endpoints.ts, as kube-proxy chooses).
  const endpoints = new Map<string, { use: Endpoint[]; terminating: boolean }>();
  slices.on((change) => {
    const namespace = change.object.metadata.namespace as string;
    const service = change.object.metadata.labels?.["kubernetes.io/service-name"];
    // The operator's slices for the data plane's routes point at this gateway: never a way to an app.
    if (!service || change.object.metadata.labels?.[LABEL_SLICE_MANAGER] === ROUTE_SLICE_MANAGER) return;
    const all: (SliceEndpoint & { port: number })[] = [];
    for (const slice of slices.inNamespace(namespace)) {
      if (slice.metadata.labels?.["kubernetes.io/service-name"] !== service) continue;
      if (slice.metadata.labels?.[LABEL_SLICE_MANAGER] === ROUTE_SLICE_MANAGER) continue;
      const port = slice.ports?.find((p) => p.name === "http")?.port;
      if (!port) continue;
      for (const e of slice.endpoints ?? []) all.push({ ...e, port });
    }
    const { use, terminating } = usableEndpoints(all);
    const list = use.flatMap((e) => e.addresses.map((a) => ({ host: a, port: e.port, address: `${a}:${e.port}` })));
    if (list.length) endpoints.set(`${namespace}/${service}`, { use: list, terminating });
    else endpoints.delete(`${namespace}/${service}`);
  });

  /**
   * An endpoint of the app's Service on its `http` port (key: the app's, `namespace/name`); with
   * `readyOnly`, never one of a terminating pod (a wake waits for the app's new pod).
   */
  const readyEndpoint = (key: string, readyOnly = false): Endpoint | undefined => {
    const usable = endpoints.get(key);
    if (!usable || (readyOnly && usable.terminating)) return undefined;
    return usable.use[roundRobin++ % usable.use.length];
  };

  const canConnect = (t: Endpoint) =>
    new Promise<boolean>((resolve) => {
      const socket = connect(t.port, t.host);
      const done = (ok: boolean) => {
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(1000, () => done(false));
      socket.once("connect", () => done(true));
      socket.once("error", () => done(false));
    });

  /** Starts a stopped app once and resolves when an endpoint is ready and accepts connections. */
  const wakeOnce = (key: string, app: App): Promise<Endpoint> => {
    let wake = wakes.get(key);
    if (!wake) {
      metrics.wakes.inc();
      usage?.counter.wake(orgOfNamespace(app.metadata.namespace) ?? "", app.metadata.name);
      const started = Date.now();
      log("Waking app", { app: key });
      wake = (async () => {
        await activity.flushNow(key); // fresh lastActivity: the operator scales the app up
        const deadline = Date.now() + Math.max(config.wakeTimeoutMs, 5 * 60_000);
        while (Date.now() < deadline) {
          const target = readyEndpoint(key, true);
          if (target && (await canConnect(target))) {
            metrics.wakeDuration.observe((Date.now() - started) / 1000);
            return target;
          }
          await new Promise((r) => setTimeout(r, 25));
        }
        throw new HttpError(503, "App did not start", `${app.metadata.name} did not start in time`);
      })().finally(() => wakes.delete(key));
      wake.catch(() => undefined);
      wakes.set(key, wake);
    }
    return wake;
  };

  /** Holds one request (bounded per app, bounded in time) until the app is awake. */
  const hold = async (key: string, app: App): Promise<Endpoint> => {
    const count = held.get(key) ?? 0;
    if (count >= config.maxHeldPerApp)
      throw new HttpError(503, "App is starting", "Too many requests are waiting for this app; retry shortly");
    held.set(key, count + 1);
    metrics.held.inc();
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        wakeOnce(key, app),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            metrics.wakeTimeouts.inc();
            reject(new HttpError(503, "App is starting", `${app.metadata.name} is still starting; retry shortly`));
          }, config.wakeTimeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      held.set(key, (held.get(key) ?? 1) - 1);
      metrics.held.dec();
    }
  };

  type Resolved =
    | { route: Route; key: string; target: Endpoint; excluded: boolean; user: string | undefined }
    | { starting: string };

  /** The app's access policy, decided by the API; before anything else, a wake included. */
  const authorize = async (
    check: ForwardAuth,
    req: Request,
    route: Route,
    allowPages: boolean,
  ): Promise<string | undefined> => {
    const answer = await check.check(route.org, route.app, req.headers);
    if (answer.status === 401 && config.loginUrl && allowPages && wantsHtml(req.method, req.headers.accept)) {
      // A browser: to the login, and back here afterwards (the API accepts only app URLs it knows).
      const here = `${clientOrigin(req.headers, isTrustedProxy(req.socket.remoteAddress))}${req.url}`;
      const login = `${config.loginUrl}?returnTo=${encodeURIComponent(here)}`;
      throw new HttpError(302, "Log in first", `Log in to Atrium to open ${route.app}`, { location: login });
    }
    if (answer.status === 401) throw new HttpError(401, "Log in first", `Log in to Atrium to open ${route.app}`);
    if (answer.status === 403)
      throw new HttpError(403, "Not allowed", `Your role in ${route.org} may not open ${route.app}`);
    if (answer.status === 404)
      throw new HttpError(404, "App not found", `There is no app ${route.app} in ${route.org}`);
    if (answer.status >= 300)
      throw new HttpError(502, "Cannot check access", "The Atrium API did not answer; try again");
    return answer.user;
  };

  /**
   * Route, access, the app's state, activity and (if needed) the wake: shared by HTTP and
   * upgrades. Synchronous for a running Public app: the common case costs no promise.
   */
  const resolve = (req: Request, route: Route | undefined, allowPages: boolean): Resolved | Promise<Resolved> => {
    if (!route) throw new HttpError(404, "No app here", `Apps answer at <app>.<org>.${config.baseDomain}`);
    const key = appKey(route);
    const app = apps.get(key);
    // An unknown app answers as an app of another organization does (the API says 401 to
    // nobody, 404 to others): outsiders cannot tell which apps exist.
    if (!app) {
      const notFound = () => new HttpError(404, "App not found", `There is no app ${route.app} in ${route.org}`);
      if (!auth) throw notFound();
      return authorize(auth, req, route, allowPages).then(() => Promise.reject(notFound()));
    }
    // Only apps that are not Public cost a question to the API; without one to ask, they are
    // refused (fail closed), never served unchecked.
    if ((app.spec.access?.policy ?? "Members") !== "Public") {
      if (!auth)
        throw new HttpError(
          503,
          "Access control is not configured",
          `${route.app} is open to members only, and this gateway has no access check to ask`,
        );
      return authorize(auth, req, route, allowPages).then((user) => place(req, route, key, app, user, allowPages));
    }
    return place(req, route, key, app, undefined, allowPages);
  };

  /** Where an allowed request goes: a ready endpoint, a "starting" page, or a held wake. */
  const place = (
    req: Request,
    route: Route,
    key: string,
    app: App,
    user: string | undefined,
    allowPages: boolean,
  ): Resolved | Promise<Resolved> => {
    const own = app.spec.idle;
    const excluded = isExcluded(route.path, req.headers["user-agent"], config.exclusions, {
      paths: own?.excludePaths ?? NONE,
      userAgents: own?.excludeUserAgents ?? NONE,
    });
    // Billing first: an app it does not allow is neither served (a trial that just ended, the
    // operator not yet through stopping it) nor woken. Health checks get the same answer; no
    // activity is recorded for any of them.
    const refusal = billing(app, Date.now());
    if (refusal) {
      metrics.paymentRequired.inc({ reason: refusal.reason });
      const body = paymentRequiredBody(route.app, route.org, refusal, req.headers.accept, config.consoleUrl);
      throw new HttpError(402, "Payment Required", `${route.app} is paused: ${refusal.reason}`, {}, body);
    }
    // A pod draining because its app is on its way to zero is no way to it: the request wakes
    // the app instead (held for its next pod), as a stopped app's would.
    const target = readyEndpoint(key, app.status?.phase === "Stopping" || app.status?.phase === "Stopped");
    if (target) return { route, key, target, excluded, user };
    if (app.status?.phase === "Failed") {
      const reason = app.status.conditions?.find((c) => c.type === "Ready");
      throw new HttpError(
        502,
        "App failed",
        `${reason?.reason ?? "Failed"}: ${reason?.message ?? "the app cannot run"}`,
      );
    }
    // Pinned at zero by its owners: waking it would only hold the request until it times out.
    if (app.spec.idle?.policy === "Stopped")
      throw new HttpError(503, "App is stopped", `${route.app} was stopped by its owners (idle policy Stopped)`);
    // A health check must not wake an app: it is told the app is stopped.
    if (excluded) throw new HttpError(503, "App is stopped", `${route.app} is stopped and starts on the next visit`);
    if (allowPages && config.startingPage && wantsHtml(req.method, req.headers.accept)) {
      void wakeOnce(key, app).catch(() => undefined);
      return { starting: route.app };
    }
    return hold(key, app).then((target) => ({ route, key, target, excluded, user }));
  };

  /** Metrics name only apps that exist: any path may name one, and label sets are kept forever. */
  const known = (route: Route | undefined) => (route && apps.get(appKey(route)) ? route : undefined);

  const tooLarge = () => new HttpError(413, "Request too large", `Bodies are limited to ${config.maxBodyBytes} bytes`);

  /** What the client is told of an error. */
  const asHttpError = (error: unknown): HttpError => {
    if (error instanceof HttpError) return error;
    if (error instanceof UpstreamError)
      // 413: a chunked body that grew past the limit on its way to the app.
      return error.status === 413
        ? tooLarge()
        : new HttpError(error.status, error.status === 504 ? "App did not answer" : "Bad gateway", error.message);
    return new HttpError(502, "Bad gateway", `The app did not answer: ${errorMessage(error)}`);
  };

  const sendError = (res: Response, error: unknown, route: Route | undefined) => {
    const e = asHttpError(error);
    // The server itself answered (a body that timed out: 408): that is what the client got.
    countRequest(known(route), res.answeredBy ?? e.status, res.finished && !res.headersSent);
    if (res.headersSent) return void res.destroy();
    res.writeHead(e.status, {
      "content-type": e.body?.type ?? "text/html; charset=utf-8",
      "cache-control": "no-store",
      ...(e.status === 503 ? { "retry-after": String(config.retryAfterSeconds) } : {}),
      // The rest of a refused body is not read (nor forwarded): the connection cannot carry more.
      ...(e.status === 413 ? { connection: "close" } : {}),
      ...e.headers,
    });
    res.end(e.body?.text ?? errorPage(e.status, e.title, e.message));
  };

  /** Sends the request to the app and its response back, streaming both ways; done() when through. */
  const proxy = (
    req: Request,
    res: Response,
    to: Extract<Resolved, { target: Endpoint }>,
    done: (error?: UpstreamError) => void,
  ) => {
    const { method, chunked } = req;
    const started = performance.now();
    const head = requestHead(req.rawHeaders, {
      method,
      path: to.route.path,
      remoteAddress: req.socket.remoteAddress ?? "",
      trustedPeer: isTrustedProxy(req.socket.remoteAddress),
      user: to.user,
      chunked,
      fallbackHost: addressOf(to.target),
    });
    upstream.forward(
      to.target,
      {
        head,
        method,
        body: req.body,
        chunked,
        maxBodyBytes: config.maxBodyBytes,
        onResponse: (status) => {
          metrics.proxyDuration.observe((performance.now() - started) / 1000);
          countRequest(to.route, status);
        },
      },
      res,
      done,
    );
  };

  /** The app a request is for: the data plane's identity header first (activator mode), else Host or path. */
  const routeFor = (req: Request): Route | undefined =>
    (config.activator ? routeOfIdentity(req.headers[APP_IDENTITY_HEADER], req.url) : undefined) ??
    routeOf(req.headers.host, req.url, config.baseDomain);

  const server = new HttpServer({ maxHeaderBytes: config.maxHeaderBytes, ...config.limits }, (req, res) => {
    // The operator's stop probe through the data plane: answered here, naming the app, so the
    // operator knows the app's endpoints reached the data plane. Never forwarded, counted,
    // authorized or woken for: it only says that requests for the app arrive here now.
    const probed = config.activator
      ? probedApp({ probe: req.headers[ACTIVATOR_PROBE_HEADER], identity: req.headers[APP_IDENTITY_HEADER] })
      : undefined;
    if (probed) {
      res.writeHead(200, {
        [ACTIVATOR_MARKER_HEADER]: probed,
        "content-type": "text/plain; charset=utf-8",
        "cache-control": "no-store",
      });
      return void res.end("activator\n");
    }
    const route = routeFor(req);
    if (Number(req.headers["content-length"] ?? 0) > config.maxBodyBytes) return sendError(res, tooLarge(), route);
    metrics.inFlight.open(); // held requests included
    const fail = (error: unknown) => {
      sendError(res, error, route);
      metrics.inFlight.close();
    };
    let resolved: Resolved | Promise<Resolved>;
    try {
      resolved = resolve(req, route, true);
    } catch (error) {
      return fail(error);
    }
    if (resolved instanceof Promise) resolved.then((r) => serve(req, res, route, r), fail);
    else serve(req, res, route, resolved);
  });

  // A flood of connections: each one closed and counted, a log line every 10 s at most.
  const limitReached = throttled(10_000, (dropped) =>
    log(
      "Connection limit reached: new connections are closed at once",
      { limit: config.limits.maxConnections, dropped, setting: "ATRIUM_GATEWAY_MAX_CONNECTIONS" },
      "warn",
    ),
  );
  server.onDrop = () => {
    metrics.connectionsDropped.inc();
    limitReached();
  };

  const serve = (req: Request, res: Response, route: Route | undefined, resolved: Resolved) => {
    if ("starting" in resolved) {
      countRequest(route, 503);
      metrics.inFlight.close();
      res.writeHead(503, {
        "content-type": "text/html; charset=utf-8",
        "retry-after": String(config.retryAfterSeconds),
        "cache-control": "no-store",
      });
      return void res.end(startingPage(resolved.starting, 2));
    }
    // Activity lasts the whole response: SSE and long downloads keep the app awake.
    const key = resolved.excluded ? undefined : resolved.key;
    if (key) activity.opened(key);
    // Through the data plane to a running app: its endpoints point here because it is on its
    // way to zero. Recorded at once, this request cancels that stop (the operator's grace).
    if (key && config.activator && req.headers[APP_IDENTITY_HEADER]) void activity.flushPrompt(key);
    proxy(req, res, resolved, (error) => {
      if (error) sendError(res, error, resolved.route);
      metrics.inFlight.close();
      if (key) activity.closed(key);
    });
  };
  // WebSockets: after the upgrade the gateway only copies bytes; the open socket is activity.
  // Each upgrade is a request in the metrics and usage, counted with the status its client got:
  // the refusal's, a 502 when the app takes no connection, else the app's own answer (101, or a
  // refusal of the app's), read off the first bytes the app sends.
  server.onUpgrade = async (req: Request, socket: Socket, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    const requested = routeFor(req);
    try {
      const resolved = await resolve(req, requested, false);
      if ("starting" in resolved) throw new HttpError(503, "App is starting", "retry shortly");
      const { target, route } = resolved;
      let connected = false;
      const upstreamSocket = connect(target.port, target.host, () => {
        connected = true;
        upstreamSocket.write(
          requestHead(req.rawHeaders, {
            method: req.method,
            path: route.path,
            remoteAddress: req.socket.remoteAddress ?? "",
            trustedPeer: isTrustedProxy(req.socket.remoteAddress),
            user: resolved.user,
            upgrade: req.headers.upgrade,
            fallbackHost: addressOf(target),
          }),
        );
        if (head.length) upstreamSocket.write(head);
        upstreamSocket.once("data", (chunk: Buffer) => countRequest(route, statusOfAnswer(chunk)));
        upstreamSocket.pipe(socket);
        socket.pipe(upstreamSocket);
      });
      metrics.inFlight.open();
      const counted = resolved.excluded ? undefined : resolved.key;
      if (counted) activity.opened(counted);
      if (counted && config.activator && req.headers[APP_IDENTITY_HEADER]) void activity.flushPrompt(counted);
      let closed = false;
      const close = () => {
        if (closed) return;
        closed = true;
        metrics.inFlight.close();
        if (counted) activity.closed(counted);
        upstreamSocket.destroy();
        // The app could not be reached: the client is told so, as a plain request would be.
        if (!connected) {
          countRequest(route, 502);
          refuseUpgrade(socket, new HttpError(502, "Bad gateway", `${route.app} did not answer`));
        } else socket.destroy();
      };
      // HTTP server sockets allow half-open connections; a WebSocket never uses them, so
      // either side ending (or failing) ends both, and the activity count with them.
      for (const side of [socket, upstreamSocket]) for (const event of ["end", "close", "error"]) side.on(event, close);
    } catch (error) {
      const refusal = asHttpError(error);
      countRequest(known(requested), refusal.status);
      refuseUpgrade(socket, refusal);
    }
  };

  /**
   * A refused upgrade (not found, access, billing, stopped, unreachable) gets the status a plain
   * request would, as a whole HTTP/1.1 answer (refusal.ts): 402's own JSON, else the reason in
   * plain text. What the client still sends is read and dropped until it closes (or 5 s), so the
   * answer is not lost to a reset.
   */
  const refuseUpgrade = (socket: Socket, e: HttpError) => {
    if (!socket.writable) return void socket.destroy();
    const headers: Record<string, string> = {
      "cache-control": "no-store",
      ...(e.status === 503 ? { "retry-after": String(config.retryAfterSeconds) } : {}),
      ...e.headers,
    };
    socket.end(
      closingAnswer(e.status, e.body ?? { type: "text/plain; charset=utf-8", text: `${e.message}\n` }, headers),
    );
    socket.resume();
    socket.setTimeout(5000, () => socket.destroy());
  };

  return {
    server,
    activity,
    usage,
    synced: () => apps.hasSynced && templates.hasSynced && slices.hasSynced,
    async start(): Promise<void> {
      apps.start();
      templates.start();
      slices.start();
      await Promise.all([apps.synced, templates.synced, slices.synced]);
      activity.start();
      dataplanePods?.start(); // not awaited: serving does not wait for the data plane's pods
      dataplane?.start();
      usage?.start();
    },
    async stop(): Promise<void> {
      await server.close(config.drainTimeoutMs);
      await dataplane?.stop(); // a last reading, so the tracker's final flush has it
      dataplanePods?.stop();
      await Promise.all([activity.stop(), usage?.stop()]);
      apps.stop();
      templates.stop();
      slices.stop();
      upstream.close();
    },
  };
}
