// The API's view of organizations, roles and members: informer caches of the custom resources
// (the source of truth), indexed the ways requests ask (member by email, orgs of a person),
// and the Casbin decision index kept in step with them. Every API replica builds its own, so
// replicas converge from the watch without a database round trip.
import {
  type AppInstance,
  type Member,
  mayAct,
  membersByEmail,
  namespaceFor,
  normalizeEmail,
  type Organization,
  type OrgRole,
  orgOfNamespace,
} from "@atrium/crds";
import { dropManagedFields, Informer, type KubeClient, type KubeObject, keyOf, R } from "@atrium/kube";
import { Authorizer, type OrgPolicy } from "./casbin.ts";

export type Obj<T> = T & KubeObject;
export type MemberObj = Obj<Member>;
export type RoleObj = Obj<OrgRole>;
export type OrgObj = Obj<Organization>;

export class Directory {
  readonly organizations: Informer<OrgObj>;
  readonly roles: Informer<RoleObj>;
  readonly members: Informer<MemberObj>;
  /** Apps, for their access policy (forward-auth). */
  readonly apps: Informer<Obj<AppInstance>>;
  readonly authorizer = new Authorizer();
  /** org → email → member, rebuilt with the org's policy. */
  private readonly byEmail = new Map<string, Map<string, MemberObj>>();
  /** Bumped on every refresh of an org: caches of derived data compare it. */
  private readonly versions = new Map<string, number>();
  /** email → orgs where a Member with that email exists. */
  private readonly orgsByEmail = new Map<string, Set<string>>();

  constructor(client: KubeClient) {
    this.organizations = new Informer<OrgObj>(client, R.organization);
    this.roles = new Informer<RoleObj>(client, R.orgRole);
    this.members = new Informer<MemberObj>(client, R.member);
    this.apps = new Informer<Obj<AppInstance>>(client, R.appInstance, {
      // Only what forward-auth reads: an app's status churns, its access policy rarely does.
      transform: (o) =>
        ({
          apiVersion: o.apiVersion,
          kind: o.kind,
          metadata: dropManagedFields(o).metadata,
          spec: (o as Obj<AppInstance>).spec,
        }) as KubeObject,
    });
    const changed = (o: KubeObject) => {
      const org = o.metadata.namespace ? orgOfNamespace(o.metadata.namespace) : o.metadata.name;
      if (org) this.scheduleRefresh(org);
    };
    this.organizations.on((c) => changed(c.object));
    this.roles.on((c) => changed(c.object));
    this.members.on((c) => changed(c.object));
  }

  async start(): Promise<void> {
    for (const informer of this.informers()) informer.start();
    await Promise.all(this.informers().map((i) => i.synced));
    const orgs = new Set(this.organizations.list().map((o) => o.metadata.name));
    for (const m of this.members.list()) {
      const org = orgOfNamespace(m.metadata.namespace);
      if (org) orgs.add(org);
    }
    await Promise.all([...orgs].map((org) => this.refresh(org)));
  }

  stop(): void {
    for (const informer of this.informers()) informer.stop();
  }

  private informers(): Array<{ start(): unknown; stop(): void; synced: Promise<void>; hasSynced: boolean }> {
    return [this.organizations, this.roles, this.members, this.apps];
  }

  synced(): boolean {
    return this.informers().every((i) => i.hasSynced);
  }

  private readonly scheduled = new Set<string>();

  /**
   * Watch events come in bursts (a bulk import, a relist): one rebuild per org per turn of the
   * event loop, not one per event, keeps a 10,000-member org from rebuilding 10,000 times.
   */
  private scheduleRefresh(org: string): void {
    if (this.scheduled.has(org)) return;
    this.scheduled.add(org);
    setImmediate(() => {
      this.scheduled.delete(org);
      void this.refresh(org);
    });
  }

  /** Rebuilds one org's indexes and policy from the caches. */
  refresh(org: string): Promise<void> {
    this.versions.set(org, (this.versions.get(org) ?? 0) + 1);
    const ns = namespaceFor(org);
    const members = this.members.inNamespace(ns);
    const previous = this.byEmail.get(org);
    for (const email of previous?.keys() ?? []) this.orgsByEmail.get(email)?.delete(org);
    // An address belongs to its oldest Member; a newer duplicate (kubectl can make one) grants
    // nothing, and the operator marks it DuplicateEmail. The same rule as the operator's.
    const byEmail = membersByEmail(members).owners;
    for (const email of byEmail.keys()) {
      let orgs = this.orgsByEmail.get(email);
      if (!orgs) {
        orgs = new Set();
        this.orgsByEmail.set(email, orgs);
      }
      orgs.add(org);
    }
    this.byEmail.set(org, byEmail);
    if (!this.organization(org) && members.length === 0) return this.authorizer.update(org, null);
    const policy: OrgPolicy = {
      roles: this.roles.inNamespace(ns).map((r) => ({ name: r.metadata.name, permissions: r.spec.permissions })),
      members: [...byEmail.values()]
        .filter(mayAct)
        .map((m) => ({ subject: normalizeEmail(m.spec.email), role: m.spec.role })),
    };
    return this.authorizer.update(org, policy);
  }

  version(org: string): number {
    return this.versions.get(org) ?? 0;
  }

  organization(org: string): OrgObj | undefined {
    return this.organizations.get(org);
  }

  role(org: string, name: string): RoleObj | undefined {
    return this.roles.get(`${namespaceFor(org)}/${name}`);
  }

  rolesOf(org: string): RoleObj[] {
    return this.roles.inNamespace(namespaceFor(org));
  }

  member(org: string, name: string): MemberObj | undefined {
    return this.members.get(`${namespaceFor(org)}/${name}`);
  }

  memberByEmail(org: string, email: string): MemberObj | undefined {
    return this.byEmail.get(org)?.get(normalizeEmail(email));
  }

  membersOf(org: string): MemberObj[] {
    return this.members.inNamespace(namespaceFor(org));
  }

  /** Organizations where this person has a Member object (any phase). */
  orgsOf(email: string): string[] {
    return [...(this.orgsByEmail.get(normalizeEmail(email)) ?? [])].sort();
  }

  /**
   * Waits until the caches hold an object at least as new as one the API just wrote, so a
   * request that follows a write reads it (the watch usually delivers it within milliseconds).
   */
  async observed(o: KubeObject, timeoutMs = 5000): Promise<void> {
    const informer = this.informerFor(o);
    const want = Number(o.metadata.resourceVersion);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const cached = informer.get(keyOf(o));
      if (cached && Number(cached.metadata.resourceVersion) >= want) {
        await this.refresh(orgOfNamespace(o.metadata.namespace) ?? o.metadata.name);
        return;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Waits until an object the API deleted is gone from the caches. */
  async forgotten(o: KubeObject, timeoutMs = 5000): Promise<void> {
    const informer = this.informerFor(o);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && informer.get(keyOf(o))) await new Promise((r) => setTimeout(r, 5));
    await this.refresh(orgOfNamespace(o.metadata.namespace) ?? o.metadata.name);
  }

  private informerFor(o: KubeObject): { get(key: string): KubeObject | undefined } {
    if (o.kind === "Member") return this.members;
    if (o.kind === "OrgRole") return this.roles;
    return this.organizations;
  }
}
