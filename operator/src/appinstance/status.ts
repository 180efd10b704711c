// An app's status from what the cluster shows: the Deployment's rollout and the pods' state.
// Pure, so every phase and reason is unit-tested without a cluster.
import type { AppInstanceStatus, AppPhase, Condition } from "@atrium/crds";
import { type ConditionInput, setConditions } from "../runtime/conditions.ts";

export type Problem = { reason: string; message: string };

type Deployment = {
  metadata: { generation?: number };
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
};
type Pod = {
  metadata: { deletionTimestamp?: string };
  status?: {
    phase?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    containerStatuses?: { state?: { waiting?: { reason?: string; message?: string } } }[];
  };
};

const IMAGE_PULL = new Set(["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"]);
const CRASHING = new Set([
  "CrashLoopBackOff",
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
]);

/** The first pod-level failure worth telling the user about, if any. */
export function podProblem(pods: readonly Pod[]): Problem | undefined {
  for (const pod of pods) {
    if (pod.metadata.deletionTimestamp) continue;
    for (const c of pod.status?.containerStatuses ?? []) {
      const waiting = c.state?.waiting;
      if (waiting?.reason && IMAGE_PULL.has(waiting.reason))
        return {
          reason: "ImagePullFailed",
          message: `${waiting.reason}: ${waiting.message ?? "cannot pull the image"}`,
        };
      if (waiting?.reason && CRASHING.has(waiting.reason))
        return {
          reason: "CrashLoop",
          message: `${waiting.reason}: ${waiting.message ?? "the container keeps failing"}`,
        };
    }
    const scheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
    if (scheduled?.status === "False" && scheduled.reason === "Unschedulable")
      return { reason: "Unschedulable", message: scheduled.message ?? "no node can run the app" };
  }
  return undefined;
}

/** What the org's ResourceQuota limits, in the words of Organization.spec.quotas. */
const QUOTA_FIELDS: Record<string, string> = {
  "count/deployments.apps": "apps (quotas.maxApps)",
  "requests.cpu": "CPU (quotas.cpu)",
  "requests.memory": "memory (quotas.memory)",
  "requests.storage": "storage (quotas.storage)",
};

/**
 * The apiserver refuses a write over a ResourceQuota with a 403 such as `... is forbidden:
 * exceeded quota: atrium-quota, requested: count/deployments.apps=1, used:
 * count/deployments.apps=2, limited: count/deployments.apps=2`. That becomes QuotaExceeded with
 * the limit in the org's own terms; anything else is not a quota problem.
 */
export function quotaProblem(code: number | undefined, message: string): Problem | undefined {
  if (code !== 403 || !/exceeded quota/i.test(message)) return undefined;
  const limited = /limited: ([^\s,]+)=([^\s,]+)/.exec(message);
  const used = /used: ([^\s,]+)=([^\s,]+)/.exec(message);
  const what = limited ? (QUOTA_FIELDS[limited[1] as string] ?? limited[1]) : "a resource";
  const amounts = limited ? ` limited to ${limited[2]}${used ? `, ${used[2]} in use` : ""}` : "";
  return {
    reason: "QuotaExceeded",
    message: `The organization's quota is used up: ${what}${amounts}. Delete an app or raise the Organization's quota.`,
  };
}

/** A ReplicaSet that cannot create pods shows on the Deployment as ReplicaFailure. */
export function deploymentProblem(deployment: Deployment | undefined): Problem | undefined {
  const failure = deployment?.status?.conditions?.find((c) => c.type === "ReplicaFailure" && c.status === "True");
  if (!failure) return undefined;
  const message = failure.message ?? "pods cannot be created";
  return { reason: /exceeded quota/i.test(message) ? "QuotaExceeded" : "ReplicaFailure", message };
}

export type StatusInput = {
  /** A problem found before any workload exists (missing template, bad settings). */
  configProblem?: Problem;
  /** Why the app is kept at zero though nothing is wrong with it (billing): Ready's reason. */
  held?: Problem;
  deployment?: Deployment;
  pods: readonly Pod[];
  desiredReplicas: number;
  version?: string;
  url?: string;
  previous?: AppInstanceStatus;
  generation?: number;
  now: Date;
};

type Computed = Pick<
  AppInstanceStatus,
  "phase" | "health" | "version" | "url" | "readyReplicas" | "observedGeneration"
> & {
  conditions: Condition[];
};

export function computeAppStatus(input: StatusInput): Computed {
  const { deployment, desiredReplicas, previous, generation, now } = input;
  const s = deployment?.status ?? {};
  const ready = s.readyReplicas ?? 0;
  const rolledOut =
    deployment !== undefined &&
    (s.observedGeneration ?? 0) >= (deployment.metadata.generation ?? 0) &&
    (s.updatedReplicas ?? 0) >= desiredReplicas &&
    (s.replicas ?? 0) === desiredReplicas;
  // A Deployment scaled to zero is "Available" (no replica is missing), but nothing answers.
  const available =
    desiredReplicas > 0 &&
    ready > 0 &&
    deployment?.status?.conditions?.find((c) => c.type === "Available")?.status === "True";
  const problem = input.configProblem ?? deploymentProblem(deployment) ?? podProblem(input.pods);
  const held = desiredReplicas === 0 && !input.configProblem ? input.held : undefined;

  let phase: AppPhase;
  if (input.configProblem) phase = "Failed";
  else if (desiredReplicas === 0) phase = ready === 0 && (s.replicas ?? 0) === 0 ? "Stopped" : "Stopping";
  else if (problem && problem.reason !== "Unschedulable") phase = "Failed";
  else if (rolledOut && ready >= desiredReplicas) phase = "Running";
  // Rolled out but a replica is not ready (a failing probe, a node gone): still Running, unhealthy.
  else if (rolledOut && previous?.phase === "Running") phase = "Running";
  else if (previous?.phase === "Stopped" || previous?.phase === "Starting") phase = "Starting";
  else if (problem) phase = "Pending";
  else phase = "Deploying";

  // A replica that is still starting (Deploying, Starting) is not unhealthy: saying so would
  // also cost every new app a status write that the next pass (Running) overwrites.
  const health =
    desiredReplicas === 0 || !deployment
      ? "Unknown"
      : ready >= desiredReplicas
        ? "Healthy"
        : (s.replicas ?? 0) > 0 && (problem || phase === "Running")
          ? "Unhealthy"
          : "Unknown";

  const conditions: ConditionInput[] = [
    phase === "Running" && ready >= desiredReplicas
      ? { type: "Ready", status: "True", reason: "Running", message: `${ready} of ${desiredReplicas} replicas ready` }
      : {
          type: "Ready",
          status: "False",
          reason: held?.reason ?? problem?.reason ?? (phase === "Running" ? "ReplicasNotReady" : phase),
          message: held?.message ?? problem?.message ?? readyMessage(phase, ready, desiredReplicas),
        },
    available
      ? { type: "Available", status: "True", reason: "MinimumReplicasAvailable", message: "The app answers requests" }
      : {
          type: "Available",
          status: "False",
          reason: phase === "Stopped" || phase === "Stopping" ? phase : "NoReadyReplicas",
          message:
            phase === "Stopped"
              ? "Stopped: nothing answers until the next request wakes the app"
              : "No replica is ready",
        },
    problem && problem.reason !== "Unschedulable"
      ? { type: "Degraded", status: "True", reason: problem.reason, message: problem.message }
      : { type: "Degraded", status: "False", reason: "AsExpected", message: "No failures reported" },
  ];

  return {
    phase,
    health,
    ...(input.version ? { version: input.version } : {}),
    ...(input.url ? { url: input.url } : {}),
    readyReplicas: ready,
    observedGeneration: generation,
    conditions: setConditions(previous?.conditions, conditions, generation, now),
  };
}

function readyMessage(phase: AppPhase, ready: number, desired: number): string {
  if (phase === "Stopped") return "Stopped: no replicas run";
  if (phase === "Stopping") return `Stopping: ${ready} ${ready === 1 ? "replica" : "replicas"} still running`;
  return `${ready} of ${desired} replicas ready`;
}
