// Kubernetes Events for notable transitions (what `kubectl describe` and `kubectl events` show).
// Reconcilers emit them only when something changed, never on every pass.
import { randomBytes } from "node:crypto";
import { errorMessage, isFenced, type KubeClient, type KubeObject, type Logger, R } from "@atrium/kube";

export type EventType = "Normal" | "Warning";
export type Recorder = (object: KubeObject, type: EventType, reason: string, message: string) => void;

/**
 * Events waiting to be written at most; past that a new one is dropped (and logged), as
 * client-go's broadcaster drops when its queue of 1,000 is full. Only a write queue that
 * never drains gets there.
 */
export const MAX_PENDING_EVENTS = 1000;

/**
 * Records Events through one writer: at most one Event write in flight, the others waiting in
 * the order they were told (client-go's recorder writes its sink's events one at a time too).
 * An Event is best effort and describes a change already written, so under a burst (1,000 new
 * apps turning Running within seconds) it must not take the apiserver's time from the writes
 * that make the change: with each recorder writing one at a time, Events trail the burst by
 * seconds instead of adding a thousand writes to it. The write also goes to the client as
 * `background`, so under a client's cap on writes in flight it waits while other writes wait.
 * Timestamps are those of the change, not of the write.
 */
export function eventRecorder(client: KubeClient, component: string, log: Logger): Recorder {
  const pending: KubeObject[] = [];
  let writing = false;
  let dropped = 0;
  const writeAll = async () => {
    writing = true;
    for (let event = pending.shift(); event; event = pending.shift()) {
      try {
        await client.create(R.event, event, { background: true });
      } catch (e) {
        // A replica that stopped leading records nothing, not even what it was told before
        // (it failed unsent): not a failure worth a line, and the rest would fail the same way.
        if (isFenced(e)) pending.length = 0;
        else {
          const { reason, involvedObject } = event as unknown as { reason: string; involvedObject: { name: string } };
          log("Could not record event", { reason, object: involvedObject.name, error: errorMessage(e) }, "error");
        }
      }
    }
    writing = false;
  };
  return (object, type, reason, message) => {
    if (pending.length >= MAX_PENDING_EVENTS) {
      // Once per burst of drops, not once per Event.
      if (dropped++ === 0)
        log("Events are not keeping up; dropping new ones", { reason, pending: pending.length }, "warn");
      return;
    }
    dropped = 0;
    const now = new Date().toISOString();
    const namespace = object.metadata.namespace ?? "default";
    pending.push({
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
    } as unknown as KubeObject);
    if (!writing) void writeAll();
  };
}
