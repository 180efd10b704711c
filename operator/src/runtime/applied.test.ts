import { describe, expect, it } from "vitest";
import { APPLIED_ANNOTATION, appliedDigestMemo, canonicalJson, liveValuesOf, withAppliedDigest } from "./applied.ts";
import { isSubset } from "./conditions.ts";

const quota = (hard: Record<string, string>, annotations?: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "ResourceQuota",
  metadata: { name: "atrium-quota", namespace: "org-a", labels: { x: "1" }, ...(annotations ? { annotations } : {}) },
  spec: { hard },
});

describe("withAppliedDigest", () => {
  it("gives the same digest whatever the key order", () => {
    const a = withAppliedDigest(quota({ "requests.cpu": "2", "requests.memory": "4Gi" }));
    const b = withAppliedDigest(quota({ "requests.memory": "4Gi", "requests.cpu": "2" }));
    expect(a.metadata.annotations?.[APPLIED_ANNOTATION]).toBe(b.metadata.annotations?.[APPLIED_ANNOTATION]);
  });

  it("makes a removed field visible: the live object is a superset, the digest is not", () => {
    const before = withAppliedDigest(quota({ "requests.cpu": "2", "requests.memory": "4Gi" }));
    const live = { ...before, status: { used: {} }, metadata: { ...before.metadata, uid: "u" } };
    const after = withAppliedDigest(quota({ "requests.cpu": "2" }));
    const { [APPLIED_ANNOTATION]: _, ...unstamped } = after.metadata.annotations ?? {};
    // What the old comparison saw: nothing to do.
    expect(isSubset({ ...after, metadata: { ...after.metadata, annotations: unstamped } }, live)).toBe(true);
    expect(isSubset(after, live)).toBe(false);
    expect(isSubset(before, live)).toBe(true);
  });

  it("keeps other annotations and replaces an earlier digest", () => {
    const once = withAppliedDigest(quota({ a: "1" }, { note: "kept" }));
    const twice = withAppliedDigest(once);
    expect(twice).toEqual(once);
    expect(once.metadata.annotations?.note).toBe("kept");
  });
});

describe("canonicalJson", () => {
  it("sorts keys at every depth and drops undefined", () => {
    expect(canonicalJson({ b: [{ d: 1, c: undefined, a: 2 }], a: null })).toBe('{"a":null,"b":[{"a":2,"d":1}]}');
  });
});

describe("liveValuesOf", () => {
  it("takes the live values at the desired paths only", () => {
    const desired = { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1024Mi" } } };
    const live = { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } }, volumeName: "pv-1" };
    expect(liveValuesOf(desired, live)).toEqual({
      accessModes: ["ReadWriteOnce"],
      resources: { requests: { storage: "1Gi" } },
    });
  });
});

describe("appliedDigestMemo", () => {
  const digest = (o: { metadata: { annotations?: Record<string, string> } }) =>
    o.metadata.annotations?.[APPLIED_ANNOTATION];

  it("gives an equal desired object the stamped copy it gave before, and a changed one a new digest", () => {
    const stamp = appliedDigestMemo(10);
    const first = stamp("resourcequotas/org-a/atrium-quota", quota({ "requests.cpu": "2", "requests.memory": "4Gi" }));
    const again = stamp("resourcequotas/org-a/atrium-quota", quota({ "requests.memory": "4Gi", "requests.cpu": "2" }));
    expect(again).toBe(first);
    const dropped = stamp("resourcequotas/org-a/atrium-quota", quota({ "requests.cpu": "2" }));
    expect(digest(dropped)).not.toBe(digest(first));
    expect(dropped).toEqual(withAppliedDigest(quota({ "requests.cpu": "2" })));
    // And back: compared with the last one asked for, not the first.
    const restored = stamp(
      "resourcequotas/org-a/atrium-quota",
      quota({ "requests.cpu": "2", "requests.memory": "4Gi" }),
    );
    expect(digest(restored)).toBe(digest(first));
    expect(restored).not.toBe(first);
  });

  it("keeps objects apart by id and remembers at most `limit`, the least recently asked for going first", () => {
    const stamp = appliedDigestMemo(2);
    const a = stamp("a", quota({ "requests.cpu": "1" }));
    const b = stamp("b", quota({ "requests.cpu": "1" }));
    expect(stamp("a", quota({ "requests.cpu": "1" }))).toBe(a); // a is now the most recent
    stamp("c", quota({ "requests.cpu": "1" })); // b goes
    expect(stamp("a", quota({ "requests.cpu": "1" }))).toBe(a);
    const bAgain = stamp("b", quota({ "requests.cpu": "1" }));
    expect(bAgain).not.toBe(b);
    expect(bAgain).toEqual(b);
  });
});
