// What billing needs to know about installs: the AppInstances as a watch sees them. The apps
// feature's Installs (api/src/apps/installs.ts) has this shape; watchInstalls() is a small one of
// billing's own for an assembly without it.
import { type AppInstance, namespaceFor, orgOfNamespace } from "@atrium/crds";
import { Informer, type KubeClient, type Logger, R } from "@atrium/kube";

export type InstallChange = "added" | "modified" | "deleted";

export type InstallSource = {
  synced(): boolean;
  get(org: string, name: string): AppInstance | undefined;
  inOrg(org: string): AppInstance[];
  onChange(listener: (type: InstallChange, app: AppInstance) => void): () => void;
};

/** AppInstances in every org-<name> namespace, from one informer. */
export function watchInstalls(
  kube: KubeClient,
  options: { log?: Logger } = {},
): InstallSource & { start(): Promise<void>; stop(): void } {
  const informer = new Informer<AppInstance>(kube, R.appInstance, options.log ? { log: options.log } : {});
  const listeners = new Set<(type: InstallChange, app: AppInstance) => void>();
  informer.on((change) => {
    if (!orgOfNamespace(change.object.metadata.namespace)) return;
    const type = change.type === "deleted" ? "deleted" : change.type === "added" ? "added" : "modified";
    for (const listener of listeners) listener(type, change.object);
  });
  return {
    async start() {
      informer.start();
      await informer.synced;
    },
    stop: () => informer.stop(),
    synced: () => informer.hasSynced,
    get: (org, name) => informer.get(`${namespaceFor(org)}/${name}`),
    inOrg: (org) => informer.inNamespace(namespaceFor(org)),
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
