// Kubernetes Events for notable transitions (what `kubectl describe` and `kubectl events` show).
// Reconcilers emit them only when something changed, never on every pass.
import { randomBytes } from "node:crypto";
import { errorMessage, isFenced, type KubeClient, type KubeObject, type Logger, R } from "@atrium/kube";

export type EventType = "Normal" | "Warning";
export type Recorder = (object: KubeObject, type: EventType, reason: string, message: string) => void;

export function eventRecorder(client: KubeClient, component: string, log: Logger): Recorder {
  return (object, type, reason, message) => {
    const now = new Date().toISOString();
    const namespace = object.metadata.namespace ?? "default";
    const event = {
      metadata: { name: `${object.metadata.name}.${randomBytes(8).toString("hex")}`, namespace },
      involvedObject: {
        apiVersion: object.apiVersion,
        kind: object.kind,
        name: object.metadata.name,
        namespace: object.metadata.namespace,
        uid: object.metadata.uid,
        resourceVersion: object.metadata.resourceVersion,
      },
      type,
      reason,
      message,
      source: { component },
      reportingComponent: component,
      reportingInstance: component,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    // An event is best effort: losing one must never fail a reconcile. It is also told after
    // the status it describes: under a burst (1,000 new apps) it waits while the controller's
    // other writes wait, so they are not slowed by it (its timestamps are those of now).
    client.create(R.event, event as unknown as KubeObject, { background: true }).catch((e) => {
      // A replica that stopped leading records nothing: not a failure worth a line.
      if (!isFenced(e))
        log("Could not record event", { reason, object: object.metadata.name, error: errorMessage(e) }, "error");
    });
  };
}
