// Names of an app's children are derived from the app's own (`<app>`, `<app>-settings`,
// `<app>-route` …), so two apps can name the same object: in Gateway API mode app `x`'s route
// Service is `x-route`, the very name of app `x-route`'s own Service. The CRD refuses app names
// ending in `-route` (crds/src/kinds/appinstance.ts); this is the rule behind it, for every
// child and whatever made the clash (an app from before that rule, a name scheme to come): the
// operator never writes over an object another owner controls. Server-side apply with force
// would take it over, owner reference and all, and the other app would lose its object.
import type { Informer, KubeObject, OwnerReference } from "@atrium/kube";

/** The controller owner of `live` when it is not the one `desired` names; undefined otherwise. */
export function foreignController(desired: KubeObject, live: KubeObject | undefined): OwnerReference | undefined {
  const ours = desired.metadata.ownerReferences?.find((r) => r.controller);
  if (!ours || !live) return undefined;
  const theirs = live.metadata.ownerReferences?.find((r) => r.controller);
  return theirs && theirs.uid !== ours.uid ? theirs : undefined;
}

/** Where the owners an object of the operator's can have are looked up (its caches). */
export type Owners = { appInstances: Pick<Informer, "get">; organizations: Pick<Informer, "get"> };

/**
 * Whether the owner is still there: an app or organization deleted (and maybe made again under
 * the same name, with another uid) leaves children the garbage collector is about to remove;
 * those are no other's, and a new app of that name takes them over as it always did. An owner
 * of a kind the operator does not cache is taken to be there.
 */
export function ownerExists(owners: Owners, owner: OwnerReference, namespace: string | undefined): boolean {
  if (owner.kind === "AppInstance")
    return owners.appInstances.get(`${namespace}/${owner.name}`)?.metadata.uid === owner.uid;
  if (owner.kind === "Organization") return owners.organizations.get(owner.name)?.metadata.uid === owner.uid;
  return true;
}

/** A write refused because the object already belongs to another owner. */
export class OwnedByAnother extends Error {
  readonly kind: string;
  readonly object: string;
  readonly owner: OwnerReference;
  constructor(kind: string, object: KubeObject, owner: OwnerReference) {
    const name = object.metadata.name;
    super(
      `${kind} "${name}" already belongs to ${owner.kind} "${owner.name}": this app needs that name too, and the operator does not take another's object over; rename or remove one of the two`,
    );
    this.kind = kind;
    this.object = name;
    this.owner = owner;
  }
}
