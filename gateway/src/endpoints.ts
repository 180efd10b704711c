// Which of an app Service's EndpointSlice endpoints a request may go to. Pure.
//
// A deleted pod's endpoint stays in its slice while the pod shuts down, marked
// `terminating: true` (its `serving` follows the pod's readiness, so it may stay true); the
// controller-manager also sets `ready: false` then, but a slice written by anyone else (or an
// older controller) may not. Traffic to such a pod fails as soon as it exits (502), so the
// gateway does as kube-proxy does: ready endpoints that are not terminating first, and only when
// there is none, those that still serve while terminating (a pod draining in a rollout of a
// one-replica app, whose successor is not ready yet).

/** An endpoint's conditions as the discovery.k8s.io/v1 API has them: absent means unknown. */
export type EndpointConditions = { ready?: boolean; serving?: boolean; terminating?: boolean };

export type SliceEndpoint = { addresses: string[]; conditions?: EndpointConditions };

/**
 * kube-proxy's reading (pkg/proxy/endpointslicecache.go): unknown `ready` is ready, unknown
 * `serving` is ready's value, unknown `terminating` is not terminating.
 */
const isReady = (c: EndpointConditions = {}) => c.ready !== false && c.terminating !== true;
const isServingTerminating = (c: EndpointConditions = {}) => c.terminating === true && (c.serving ?? c.ready) !== false;

/**
 * The endpoints to use of all of a Service's slice endpoints: the ready, non-terminating ones;
 * else the serving and terminating ones (`terminating: true` then), else none.
 */
export function usableEndpoints<E extends SliceEndpoint>(endpoints: Iterable<E>): { use: E[]; terminating: boolean } {
  const ready: E[] = [];
  const draining: E[] = [];
  for (const e of endpoints) {
    if (isReady(e.conditions)) ready.push(e);
    else if (isServingTerminating(e.conditions)) draining.push(e);
  }
  if (ready.length || !draining.length) return { use: ready, terminating: false };
  return { use: draining, terminating: true };
}
