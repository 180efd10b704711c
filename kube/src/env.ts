/**
 * A positive number from the environment, or the default. A value that is not one stops the
 * program at start with the variable's name, instead of a NaN timeout misbehaving later.
 */
export function envNumber(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) throw new Error(`${name} must be a number >= ${min}, got "${raw}"`);
  return value;
}

/**
 * An http(s) URL from the environment, or undefined when unset. Anything else stops the program
 * at start with the variable's name, instead of requests failing (or redirecting nowhere) later.
 */
export function envUrl(env: NodeJS.ProcessEnv, name: string): URL | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const url = URL.parse(raw);
  if (!url || !/^https?:$/.test(url.protocol)) throw new Error(`${name}: "${raw}" is not an http(s) URL`);
  return url;
}

/** A port number from a setting (its default when unset); anything else names the variable. */
export function envPort(env: NodeJS.ProcessEnv, name: string, fallback?: number): number | undefined {
  const raw = env[name];
  if (!raw) return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`${name} must be a port number (1-65535), got "${raw}"`);
  return port;
}

/**
 * A comma-separated list from the environment: items trimmed, empty ones dropped, so
 * `a, b,,c ` is `["a", "b", "c"]`. Unset: the fallback; set but empty: none (a way to turn a
 * default list off). Every list setting of the operator and the gateway reads this way, so the
 * two never disagree on a list written with spaces after its commas.
 */
export function envList(env: NodeJS.ProcessEnv, name: string, fallback: readonly string[] = []): string[] {
  const raw = env[name];
  if (raw === undefined) return [...fallback];
  return raw
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

/** The data plane's pods (Gateway API mode): its namespace and the labels its proxies carry. */
export type DataPlanePods = { namespace: string; podLabels: Record<string, string> };

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/**
 * ATRIUM_DATA_PLANE_NAMESPACE and ATRIUM_DATA_PLANE_POD_LABELS (`k=v,k=v`): the data plane's
 * pods, which the operator admits to apps in every organization's NetworkPolicy and the gateway
 * reads running apps' activity from. Both or neither (half of them would name the wrong pods):
 * undefined when neither; anything else that is not a namespace and labels stops the program at
 * start, naming the variable.
 */
export function envDataPlanePods(env: NodeJS.ProcessEnv): DataPlanePods | undefined {
  const namespace = env.ATRIUM_DATA_PLANE_NAMESPACE ?? "";
  const labels = envList(env, "ATRIUM_DATA_PLANE_POD_LABELS");
  if (!namespace && !labels.length) return undefined;
  if (!DNS_LABEL.test(namespace))
    throw new Error(
      `ATRIUM_DATA_PLANE_NAMESPACE must name the data plane's namespace (with ATRIUM_DATA_PLANE_POD_LABELS), got "${namespace}"`,
    );
  const pairs = labels.map((l) => l.split("="));
  if (
    !pairs.length ||
    !pairs.every(([k, v, ...rest]) => !rest.length && LABEL_KEY.test(k ?? "") && LABEL_VALUE.test(v ?? "-"))
  )
    throw new Error(
      `ATRIUM_DATA_PLANE_POD_LABELS must be key=value[,key=value] labels of the data plane's pods (with ATRIUM_DATA_PLANE_NAMESPACE), got "${env.ATRIUM_DATA_PLANE_POD_LABELS ?? ""}"`,
    );
  return { namespace, podLabels: Object.fromEntries(pairs) };
}
