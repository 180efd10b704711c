// Field removal under "skip the apply when nothing would change" (ADR 0008). Comparing the
// desired object with the live one can only find fields to add or change: a field we once
// set and no longer want (a quota dropped from an Organization, the last env var of an app)
// is still live, so the live object stays a superset and the apply that would remove it is
// skipped forever. Each applied object therefore carries a digest of the desired object it
// was applied from; a different digest means the desired object changed, removals included,
// and server-side apply then removes what we owned and left out.
import { createHash } from "node:crypto";
import type { KubeObject } from "@atrium/kube";
import { jsonEqual } from "./conditions.ts";

export const APPLIED_ANNOTATION = "atrium.dev/applied";

/** JSON with object keys sorted, so equal objects give equal text whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** A short digest of what we ask for (128 bits of SHA-256, base64url). */
export const appliedDigest = (desired: KubeObject) =>
  createHash("sha256").update(canonicalJson(desired)).digest("base64url").slice(0, 22);

/** `desired` with the digest of itself (without any earlier digest) in its annotations. */
export function withAppliedDigest<T extends KubeObject>(desired: T): T {
  const { [APPLIED_ANNOTATION]: _earlier, ...annotations } = desired.metadata.annotations ?? {};
  const plain = {
    ...desired,
    metadata: { ...desired.metadata, annotations: Object.keys(annotations).length ? annotations : undefined },
  };
  return {
    ...desired,
    metadata: { ...desired.metadata, annotations: { ...annotations, [APPLIED_ANNOTATION]: appliedDigest(plain) } },
  };
}

/**
 * withAppliedDigest, remembering the last desired object per `id` (resource and key): a pass
 * that asks for the same object as the pass before (nearly every pass: most are brought by a
 * pod or a status changing, not by the app) gets the stamped copy it had, for the price of a
 * comparison. Canonical JSON and SHA-256 cost about eight times that (90 against 11 µs for an
 * app's Deployment), and a new app sees a dozen passes: at 1,000 apps, the operator's largest
 * own cost after reading watch events. At most `limit` objects are remembered (the least
 * recently asked for go first), so deleted objects do not stay.
 */
export function appliedDigestMemo(limit: number) {
  const last = new Map<string, { desired: KubeObject; stamped: KubeObject }>();
  return <T extends KubeObject>(id: string, desired: T): T => {
    const before = last.get(id);
    last.delete(id);
    const stamped = before && jsonEqual(before.desired, desired) ? (before.stamped as T) : withAppliedDigest(desired);
    last.set(id, { desired, stamped });
    if (last.size > limit) last.delete(last.keys().next().value as string);
    return stamped;
  };
}

/**
 * The values `live` holds at the paths `shape` declares: for fields that are immutable once
 * created (a claim's spec), so a later apply re-states them as they are and keeps owning
 * them, instead of leaving them out (which server-side apply would take as a removal).
 */
export function liveValuesOf(shape: unknown, live: unknown): unknown {
  if (shape === null || typeof shape !== "object" || Array.isArray(shape)) return live === undefined ? shape : live;
  if (live === null || typeof live !== "object" || Array.isArray(live)) return shape;
  return Object.fromEntries(
    Object.entries(shape).map(([k, v]) => [k, liveValuesOf(v, (live as Record<string, unknown>)[k])]),
  );
}
