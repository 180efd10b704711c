// The stop sequence's two checks through the data plane (issue 17 item 3, ADR 0024), run in the
// background and read by the next reconcile pass (gateway-api.ts stopStep takes their answers):
//   the probe    after the endpoints point at the activator, a request with the app's Host and
//                the probe header through every data-plane listener (ATRIUM_DATA_PLANE_URLS, and
//                every ready data-plane pod's at ATRIUM_DATA_PLANE_LISTENER_PORT) must come back
//                from the activator, naming the app; only then has the data plane taken the new
//                endpoints, and the grace begins (Knative's activator probe);
//   the re-check when the grace is over, the requests still under way on the app's route in every
//                Envoy (`upstream_rq_active` of its traffic rules' clusters, ATRIUM_DATAPLANE_STATS_URLS
//                and every ready data-plane pod's statistics): zero replicas only with none.
// Following the data plane's pods (kube/src/dataplane-pods.ts), a check uses the pods ready when
// it runs; with none ready it fails (fail closed: nothing has confirmed anything). A pod that
// becomes ready after the confirmation is not probed (ADR 0024, "Following the data plane's
// pods"), but is re-checked like the others.
// Passes come every CHECK_AGAIN_MS while a check is pending, so the checks need no queue of
// their own: a pass starts what is due, a later pass reads the answer. What a check learned
// lives in memory for one stop sequence (its proxy-since): after an operator restart the probe
// runs again and the grace counts from its new answer, which only delays a stop.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import {
  ACTIVATOR_MARKER_HEADER,
  ACTIVATOR_PROBE_HEADER,
  ACTIVATOR_PROBE_VALUE,
  type AppInstance,
  orgOfNamespace,
  PROBE_TOKEN_HEADER,
} from "@atrium/crds";
import {
  errorMessage,
  filteredStatsUrl,
  parseRouteClusters,
  podListenerUrl,
  podStatsUrl,
  type ReadyDataPlanePod,
  trafficActive,
} from "@atrium/kube";
import type { Deps, Obj } from "../deps.ts";
import { needsExtAuth } from "./ext-auth.ts";
import type { GatewayApiRouting, StopStep } from "./gateway-api.ts";

/** How the checks reach the data plane (HTTP here; tests give their own). */
export type DataPlaneChecks = {
  /**
   * One probe through one listener: resolves when the activator answered naming `app`
   * (`<org>/<app>`), else rejects saying what came. `token`: the probe token, for an app behind
   * the data plane's external authorization (PROBE_TOKEN_HEADER); never sent to the others.
   */
  probe(url: string, host: string, app: string, token?: string): Promise<void>;
  /** The requests under way on a route's traffic rules (all but health checks) in one Envoy's statistics (0: it has no cluster of that route). */
  activeRequests(statsUrl: string, namespace: string, route: string): Promise<number>;
};

/** The first retry of a failed probe, doubled each time up to the last. */
const PROBE_BACKOFF_MS = [250, 5000] as const;
/** A probe still failing this long after the switch (or the grace, if longer) is told in a Warning event. */
const PROBE_WARN_AFTER_MS = 10_000;

/** The checks over HTTP: the probe with node:http (fetch cannot set Host), the statistics with fetch. */
export function httpChecks(timeoutMs = 2000): DataPlaneChecks {
  return {
    probe: (url, host, app, token) =>
      new Promise<void>((resolve, reject) => {
        const target = new URL(url);
        const https = target.protocol === "https:";
        const req = (https ? httpsRequest : httpRequest)(
          {
            hostname: target.hostname.replace(/^\[|\]$/g, ""),
            port: target.port || undefined,
            path: `${target.pathname.replace(/\/+$/, "")}/`,
            headers: {
              host,
              [ACTIVATOR_PROBE_HEADER]: ACTIVATOR_PROBE_VALUE,
              ...(token ? { [PROBE_TOKEN_HEADER]: token } : {}),
            },
            agent: false,
            timeout: timeoutMs,
            ...(https ? { servername: host } : {}),
          },
          (res) => {
            res.resume();
            const marker = res.headers[ACTIVATOR_MARKER_HEADER];
            if (res.statusCode === 200 && marker === app) resolve();
            else
              reject(
                new Error(
                  `${url} answered ${res.statusCode} for ${host} ${marker ? `naming ${marker}` : "without the activator's mark"}`,
                ),
              );
          },
        );
        req.on("timeout", () => req.destroy(new Error(`${url} did not answer in ${timeoutMs} ms`)));
        req.on("error", reject);
        req.end();
      }),
    activeRequests: async (url, namespace, route) => {
      const response = await fetch(filteredStatsUrl(url), { signal: AbortSignal.timeout(timeoutMs) });
      if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
      return trafficActive(parseRouteClusters(await response.text()), namespace, route) ?? 0;
    },
  };
}

/**
 * The token a probe for this app carries: only where the data plane checks access (a policy
 * not Public, with external authorization configured). A Public app's probe reaches its pod
 * unchecked while it still runs, so it must not carry the secret.
 */
export function probeTokenFor(app: Pick<AppInstance, "spec">, routing: GatewayApiRouting): string | undefined {
  return routing.extAuth && needsExtAuth(app) ? routing.stopChecks.probeToken : undefined;
}

/** One address a check goes to: a listed URL, or a ready pod's, under the pod's identity. */
export type CheckTarget = { key: string; url: string; pod: boolean };

type ChecksConfig = GatewayApiRouting["stopChecks"];

/** Where the probe goes now: every listed listener, and every ready pod's (with a listener port). */
export function probeTargets(config: ChecksConfig, ready: ReadyDataPlanePod[]): CheckTarget[] {
  const port = config.pods?.listenerPort;
  return [
    ...config.probeUrls.map((url) => ({ key: url, url, pod: false })),
    ...(port === undefined ? [] : ready.map((p) => ({ key: p.key, url: podListenerUrl(p, port), pod: true }))),
  ];
}

/** Where the re-check reads now: every listed Envoy admin, and every ready pod's statistics. */
export function statsTargets(config: ChecksConfig, ready: ReadyDataPlanePod[]): CheckTarget[] {
  const port = config.pods?.statsPort;
  return [
    ...config.statsUrls.map((url) => ({ key: url, url, pod: false })),
    ...(port === undefined ? [] : ready.map((p) => ({ key: p.key, url: podStatsUrl(p, port), pod: true }))),
  ];
}

/** Whether the probe has addresses at all (a list or the pods' listener port); without, it is skipped. */
const probes = (config: ChecksConfig) => config.probeUrls.length > 0 || config.pods?.listenerPort !== undefined;
/** Whether the re-check has addresses at all (a list or the pods). */
const rechecks = (config: ChecksConfig) => config.statsUrls.length > 0 || config.pods !== undefined;

/**
 * What stops a check from counting now, or undefined: following the data plane's pods, at
 * least one must be ready (none: nothing confirmed anything, or could hold a request).
 */
export function missingPods(config: ChecksConfig, targets: CheckTarget[], check: "probe" | "re-check") {
  const follows = check === "probe" ? config.pods?.listenerPort !== undefined : config.pods !== undefined;
  return follows && !targets.some((t) => t.pod) ? "no pod of the data plane is ready" : undefined;
}

/**
 * Whether the data plane is seen sending the app's requests to the activator: every address of
 * the probe there is now has answered from the activator, a pod that became ready while others
 * were probed included (a pod that answered and went no longer counts), and, following pods,
 * at least one is ready.
 */
export function probeConfirmed(config: ChecksConfig, targets: CheckTarget[], answered: ReadonlySet<string>): boolean {
  if (!targets.length || missingPods(config, targets, "probe")) return false;
  return targets.every((t) => answered.has(t.key));
}

type Sequence = {
  /** The stop sequence: when its endpoints went to the activator. */
  since: number;
  confirmedAt?: number;
  /** The probe's addresses (CheckTarget.key) that answered from the activator in this sequence. */
  answered: Set<string>;
  probing: boolean;
  nextProbeAt: number;
  backoffMs: number;
  /** The probe's last failure, for the log and the event. */
  failure?: string;
  warned: boolean;
  wantProbe: boolean;
  wantReading: boolean;
  reading?: { at: number; active: number | undefined };
  readingNow: boolean;
};

/**
 * `readyPods`: the data plane's pods that serve traffic now (kube/src/dataplane-pods.ts), when
 * the checks follow them (routing.stopChecks.pods); until their watch lists, none.
 */
export function stopChecks(
  deps: Deps,
  routing: GatewayApiRouting,
  checks: DataPlaneChecks = httpChecks(),
  readyPods: () => ReadyDataPlanePod[] = () => [],
) {
  const sequences = new Map<string, Sequence>();
  const config = routing.stopChecks;
  const now = () => deps.now().getTime();

  /**
   * What the checks know of this stop sequence, as stopStep takes it. A check without addresses
   * (ATRIUM_STOP_UNCONFIRMED) passes, and so do both for an app the data plane has no route for.
   */
  const inputs = (key: string, proxySince: number | undefined, routed = true) => {
    if (proxySince === undefined) return { confirmedAt: undefined, activeRequests: undefined };
    if (!routed) return { confirmedAt: proxySince, activeRequests: 0 };
    const current = sequences.get(key)?.since === proxySince ? sequences.get(key) : undefined;
    const confirmedAt = probes(config) ? current?.confirmedAt : proxySince;
    if (!rechecks(config)) return { confirmedAt, activeRequests: 0 };
    // Only a reading begun after the grace ended says whether requests are still under way.
    const ends = confirmedAt === undefined ? Number.POSITIVE_INFINITY : confirmedAt + routing.stopGraceMs;
    const reading = current?.reading;
    return { confirmedAt, activeRequests: reading && reading.at >= ends ? reading.active : undefined };
  };

  /** Keeps the sequence the step belongs to (and what it asks for), and drops it once it is over. */
  const track = (key: string, wantStop: boolean, step: StopStep, routed = true) => {
    if (!routed || !wantStop || step.cancelled || step.replicas === 0 || step.proxySince === undefined) {
      sequences.delete(key);
      return;
    }
    let seq = sequences.get(key);
    if (seq?.since !== step.proxySince) {
      seq = {
        since: step.proxySince,
        answered: new Set(),
        probing: false,
        nextProbeAt: 0,
        backoffMs: 0,
        warned: false,
        wantProbe: false,
        wantReading: false,
        readingNow: false,
      };
      sequences.set(key, seq);
    }
    seq.wantProbe = Boolean(step.probe) && probes(config);
    seq.wantReading = Boolean(step.recheck) && rechecks(config);
  };

  /** Starts the checks due for the app's sequence, once its endpoints are written (apply). */
  const run = (app: Obj<AppInstance>) => {
    const namespace = app.metadata.namespace as string;
    const name = app.metadata.name;
    const key = `${namespace}/${name}`;
    const seq = sequences.get(key);
    if (!seq) return;
    const org = orgOfNamespace(namespace) ?? "";
    if (seq.wantProbe && !seq.probing && seq.confirmedAt === undefined && now() >= seq.nextProbeAt) {
      seq.probing = true;
      const host = `${name}.${org}.${deps.config.baseDomain}`;
      const token = probeTokenFor(app, routing);
      // Only the addresses that have not answered yet: one that did keeps the new endpoints.
      const pending = probeTargets(config, readyPods()).filter((t) => !seq.answered.has(t.key));
      Promise.allSettled(
        pending.map((t) => checks.probe(t.url, host, `${org}/${name}`, token).then(() => seq.answered.add(t.key))),
      )
        .then((results) => {
          // The addresses there are now: a pod that became ready meanwhile must answer too.
          const targets = probeTargets(config, readyPods());
          if (probeConfirmed(config, targets, seq.answered)) {
            seq.confirmedAt = now();
            deps.log("The data plane sends the app's requests to the activator: the stop's grace begins", {
              app: key,
              probes: seq.backoffMs ? "after retries" : "first",
              addresses: targets.length,
            });
            return;
          }
          const failed = results.flatMap((r) => (r.status === "rejected" ? [errorMessage(r.reason)] : []));
          const missing = missingPods(config, targets, "probe");
          // Every address probed answered, but a pod became ready meanwhile: probe it at the next pass.
          if (!failed.length && !missing) return;
          seq.failure = missing ?? `${failed[0]}${failed.length > 1 ? ` (and ${failed.length - 1} more)` : ""}`;
          seq.backoffMs = Math.min(seq.backoffMs ? seq.backoffMs * 2 : PROBE_BACKOFF_MS[0], PROBE_BACKOFF_MS[1]);
          seq.nextProbeAt = now() + seq.backoffMs;
          const waited = now() - seq.since;
          if (!seq.warned && waited >= Math.max(routing.stopGraceMs, PROBE_WARN_AFTER_MS)) {
            seq.warned = true;
            deps.log(
              "The stop is not confirmed: the data plane does not send the app's requests to the activator yet",
              {
                app: key,
                waitedMs: waited,
                error: seq.failure,
              },
              "warn",
            );
            deps.record(
              app,
              "Warning",
              "StopNotConfirmed",
              `The data plane has not been seen sending ${name}'s requests to the activator for ${Math.round(waited / 1000)} s; the app keeps running until it is (${seq.failure})`,
            );
          }
        })
        .finally(() => {
          seq.probing = false;
        });
    }
    if (seq.wantReading && !seq.readingNow) {
      seq.readingNow = true;
      const at = now();
      const targets = statsTargets(config, readyPods());
      const missing = missingPods(config, targets, "re-check");
      (missing
        ? Promise.reject(new Error(missing))
        : Promise.all(targets.map((t) => checks.activeRequests(t.url, namespace, name)))
      )
        .then(
          (counts) => {
            seq.reading = { at, active: counts.reduce((a, b) => a + b, 0) };
          },
          (error) => {
            // Unknown is not zero: the stop waits (and, past its bound, an idle stop is cancelled).
            seq.reading = { at, active: undefined };
            deps.log(
              "Could not read the data plane's statistics for a stopping app",
              { app: key, error: errorMessage(error) },
              "warn",
            );
          },
        )
        .finally(() => {
          seq.readingNow = false;
        });
    }
  };

  return { inputs, track, run, forget: (key: string) => sequences.delete(key) };
}
