// Status conditions, keyed by type. Pure functions: the reconcilers compute the whole status
// and write it only when it differs from what is stored.
import type { Condition } from "@atrium/crds";

export type ConditionInput = Omit<Condition, "lastTransitionTime" | "observedGeneration">;

/**
 * Returns `conditions` with `next` set. lastTransitionTime moves only when the status
 * flips, so an unchanged condition compares equal and causes no write.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: ConditionInput,
  observedGeneration: number | undefined,
  now: Date = new Date(),
): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === next.type);
  const previous = index >= 0 ? list[index] : undefined;
  const condition: Condition = {
    ...next,
    lastTransitionTime:
      previous && previous.status === next.status
        ? previous.lastTransitionTime
        : now.toISOString().replace(/\.\d+Z$/, "Z"),
    ...(observedGeneration !== undefined ? { observedGeneration } : {}),
  };
  if (index >= 0) list[index] = condition;
  else list.push(condition);
  return list;
}

export const setConditions = (
  conditions: readonly Condition[] | undefined,
  next: ConditionInput[],
  observedGeneration: number | undefined,
  now?: Date,
) => next.reduce<Condition[]>((acc, c) => setCondition(acc, c, observedGeneration, now), [...(conditions ?? [])]);

export const findCondition = (conditions: readonly Condition[] | undefined, type: string) =>
  conditions?.find((c) => c.type === type);

/** Deep equality for JSON values (what the apiserver stores), ignoring key order. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return (
    ka.length === kb.length &&
    ka.every((k) => jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  );
}

/**
 * True when every field we declare in `desired` has the same value in `live`. The apiserver
 * adds defaults (and other managers add fields), so equality would never hold; this lets a
 * reconcile skip an apply that would change nothing: zero writes in steady state.
 */
export function isSubset(desired: unknown, live: unknown): boolean {
  if (desired === undefined) return true;
  if (typeof desired !== "object" || desired === null) return desired === live;
  if (typeof live !== "object" || live === null) return false;
  if (Array.isArray(desired)) {
    return Array.isArray(live) && desired.length === live.length && desired.every((d, i) => isSubset(d, live[i]));
  }
  return Object.entries(desired).every(([k, v]) => isSubset(v, (live as Record<string, unknown>)[k]));
}
