// The installed apps: every AppInstance in every org-<name> namespace, from one watch, indexed
// per organization and counted per template (the marketplace's popularity and "installed here").
// An AppInstance declared with kubectl is an install like any other: the cache does not care who
// wrote it.
import { type AppInstance, orgOfNamespace } from "@atrium/crds";
import { Informer, type KubeClient, type KubeObject, keyOf, type Logger, R } from "@atrium/kube";

export type AppObj = AppInstance & KubeObject;
export type InstallChange = "added" | "modified" | "deleted";
type Listener = (type: InstallChange, app: AppInstance) => void;

export class Installs {
  private readonly informer: Informer<AppObj>;
  private readonly listeners = new Set<Listener>();
  /** org → app name → app: requests ask per org, and an informer key is "namespace/name". */
  private readonly byOrg = new Map<string, Map<string, AppObj>>();
  /** template → installs across every org, kept in step with the watch (never recounted). */
  private readonly perTemplate = new Map<string, number>();

  constructor(kube: KubeClient, options: { log?: Logger } = {}) {
    this.informer = new Informer<AppObj>(kube, R.appInstance, options.log ? { log: options.log } : {});
    this.informer.on((change) => {
      if (change.type === "resync") return;
      const org = orgOfNamespace(change.object.metadata.namespace);
      if (!org) return; // an AppInstance outside an org namespace belongs to no organization
      if (change.type === "deleted") this.forget(org, change.object);
      else this.remember(org, change.object);
      const type: InstallChange = change.type === "updated" ? "modified" : change.type;
      for (const listener of this.listeners) {
        try {
          listener(type, change.object);
        } catch (error) {
          options.log?.("Installs listener failed", { app: change.key, error: String(error) }, "error");
        }
      }
    });
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.synced;
  }

  stop(): void {
    this.informer.stop();
  }

  synced(): boolean {
    return this.informer.hasSynced;
  }

  inOrg(org: string): AppInstance[] {
    return [...(this.byOrg.get(org)?.values() ?? [])];
  }

  get(org: string, name: string): AppInstance | undefined {
    return this.byOrg.get(org)?.get(name);
  }

  installsPerTemplate(): ReadonlyMap<string, number> {
    return this.perTemplate;
  }

  installsPerTemplateIn(org: string): ReadonlyMap<string, number> {
    const counts = new Map<string, number>();
    for (const app of this.byOrg.get(org)?.values() ?? [])
      counts.set(app.spec.template, (counts.get(app.spec.template) ?? 0) + 1);
    return counts;
  }

  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Waits until the cache holds an object at least as new as one the API just wrote (or, with
   * gone, until it is no longer there), so the answer to a write and the next read agree.
   */
  async observed(o: KubeObject, options: { gone?: boolean; timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? 5000);
    const want = Number(o.metadata.resourceVersion ?? 0);
    while (Date.now() < deadline) {
      const cached = this.informer.get(keyOf(o));
      if (options.gone ? !cached : cached && Number(cached.metadata.resourceVersion) >= want) return;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private remember(org: string, app: AppObj): void {
    let apps = this.byOrg.get(org);
    if (!apps) {
      apps = new Map();
      this.byOrg.set(org, apps);
    }
    const previous = apps.get(app.metadata.name);
    apps.set(app.metadata.name, app);
    // The template is immutable (CEL), but a relist after a delete-and-recreate may swap it.
    if (previous) this.count(previous.spec.template, -1);
    this.count(app.spec.template, +1);
  }

  private forget(org: string, app: AppObj): void {
    const apps = this.byOrg.get(org);
    const previous = apps?.get(app.metadata.name);
    if (!apps || !previous) return;
    apps.delete(app.metadata.name);
    if (apps.size === 0) this.byOrg.delete(org);
    this.count(previous.spec.template, -1);
  }

  private count(template: string, delta: number): void {
    const n = (this.perTemplate.get(template) ?? 0) + delta;
    if (n > 0) this.perTemplate.set(template, n);
    else this.perTemplate.delete(template);
  }
}
