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
