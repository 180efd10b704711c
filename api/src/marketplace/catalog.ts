// The marketplace catalog: every AppTemplate, from a list-and-watch (the Informer of
// @atrium/kube restarts itself, relists after 410 Gone and resumes after dropped watches), so
// a template applied with kubectl shows in the API within the watch's latency, not on a poll.
// Listeners hear about changes once per turn of the event loop: a relist or a bulk import of
// thousands of templates rebuilds the search index once, not once per template.
import type { AppTemplate } from "@atrium/crds";
import {
  dropManagedFields,
  errorMessage,
  Informer,
  type KubeClient,
  type KubeObject,
  type Logger,
  R,
} from "@atrium/kube";

export type TemplateObj = AppTemplate & KubeObject;

export class Catalog {
  private readonly informer: Informer<TemplateObj>;
  private readonly log: Logger | undefined;
  private readonly listeners = new Set<() => void>();
  private scheduled = false;
  /** Bumped on every change: derived data (the search index) compares it. */
  private generation = 0;
  private sorted: readonly TemplateObj[] | undefined;

  constructor(kube: KubeClient, options: { log?: Logger } = {}) {
    this.log = options.log;
    this.informer = new Informer<TemplateObj>(kube, R.appTemplate, {
      // Only what the API reads: the spec and the name. Status (validation conditions) is not shown.
      transform: (o) =>
        ({
          apiVersion: o.apiVersion,
          kind: o.kind,
          metadata: dropManagedFields(o).metadata,
          spec: (o as TemplateObj).spec,
        }) as KubeObject,
      ...(options.log ? { log: options.log } : {}),
    });
    this.informer.on(() => this.changed());
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

  get(name: string): TemplateObj | undefined {
    return this.informer.get(name);
  }

  /** Every template, sorted by name; the same array until the catalog changes. */
  all(): readonly TemplateObj[] {
    if (!this.sorted)
      this.sorted = this.informer
        .list()
        .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
    return this.sorted;
  }

  /** Changes so far; equal numbers mean an unchanged catalog. */
  version(): number {
    return this.generation;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    this.generation++;
    this.sorted = undefined;
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      for (const listener of this.listeners)
        try {
          listener();
        } catch (error) {
          // One listener's failure is its own: the others still hear of the change.
          this.log?.("Catalog listener failed", { error: errorMessage(error) }, "error");
        }
    });
  }
}
