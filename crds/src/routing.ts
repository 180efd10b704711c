// Gateway API mode (issue 17): what the operator's routes and Atrium's gateway (the activator)
// agree on.

/** Set by every app's HTTPRoute to `<org>/<app>`: the activator routes on it, whatever the Host. */
export const APP_IDENTITY_HEADER = "x-atrium-app";

/**
 * The label an EndpointSlice's manager puts on it, and the operator's value: the slices it
 * writes for the routes' selector-less Services (never the activator's own way to the pods).
 */
export const LABEL_SLICE_MANAGER = "endpointslice.kubernetes.io/managed-by";
export const ROUTE_SLICE_MANAGER = "atrium-operator.atrium.dev";
