import { describe, expect, it } from "vitest";
import { computeAppStatus, quotaProblem, type StatusInput } from "./status.ts";

const now = new Date("2026-06-01T00:00:00Z");
type Cond = { type: string; status: string; reason?: string; message?: string };
const deployment = (status: Record<string, unknown>, generation = 2, conditions: Cond[] = []) => ({
  metadata: { generation },
  status: { observedGeneration: generation, ...status, conditions },
});
const input = (over: Partial<StatusInput>): StatusInput => ({
  pods: [],
  desiredReplicas: 1,
  now,
  generation: 3,
  ...over,
});
const ready = (s: ReturnType<typeof computeAppStatus>) => s.conditions.find((c) => c.type === "Ready");

describe("computeAppStatus", () => {
  it("is Running and Healthy once the rollout is done and a replica is ready", () => {
    const s = computeAppStatus(
      input({
        deployment: deployment({ replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 }, 2, [
          { type: "Available", status: "True" },
        ]),
        version: "2.0",
        url: "https://docs.acme.example",
      }),
    );
    expect(s).toMatchObject({
      phase: "Running",
      health: "Healthy",
      readyReplicas: 1,
      version: "2.0",
      observedGeneration: 3,
    });
    expect(ready(s)).toMatchObject({ status: "True", reason: "Running" });
  });

  it("is Deploying while the Deployment has not observed its latest generation", () => {
    const s = computeAppStatus(
      input({ deployment: { metadata: { generation: 3 }, status: { observedGeneration: 2 } } }),
    );
    expect(s.phase).toBe("Deploying");
    expect(ready(s)).toMatchObject({ status: "False", reason: "Deploying" });
  });

  it("is Deploying with health Unknown, not Unhealthy, while its first replica starts", () => {
    const s = computeAppStatus(
      input({ deployment: deployment({ replicas: 1, updatedReplicas: 1, readyReplicas: 0 }) }),
    );
    expect(s).toMatchObject({ phase: "Deploying", health: "Unknown" });
  });

  it("is Stopped with zero replicas desired and none left", () => {
    const s = computeAppStatus(input({ desiredReplicas: 0, deployment: deployment({ replicas: 0 }) }));
    expect(s).toMatchObject({ phase: "Stopped", health: "Unknown" });
  });

  it("fails with ImagePullFailed from the pod's waiting reason", () => {
    const pods = [
      {
        metadata: {},
        status: { containerStatuses: [{ state: { waiting: { reason: "ImagePullBackOff", message: "not found" } } }] },
      },
    ];
    const s = computeAppStatus(input({ deployment: deployment({ replicas: 1, updatedReplicas: 1 }), pods }));
    expect(s.phase).toBe("Failed");
    expect(s.conditions.find((c) => c.type === "Degraded")).toMatchObject({
      status: "True",
      reason: "ImagePullFailed",
    });
  });

  it("fails with QuotaExceeded when the ReplicaSet cannot create pods over quota", () => {
    const s = computeAppStatus(
      input({
        deployment: deployment({ replicas: 0 }, 2, [
          {
            type: "ReplicaFailure",
            status: "True",
            reason: "FailedCreate",
            message: 'pods "x" is forbidden: exceeded quota: q',
          },
        ]),
      }),
    );
    expect(s.phase).toBe("Failed");
    expect(ready(s)).toMatchObject({ reason: "QuotaExceeded" });
  });

  it("reports a configuration problem before any workload exists", () => {
    const s = computeAppStatus(input({ configProblem: { reason: "TemplateNotFound", message: "no such template" } }));
    expect(s.phase).toBe("Failed");
    expect(ready(s)).toMatchObject({ status: "False", reason: "TemplateNotFound", message: "no such template" });
  });

  it("stays Running but unhealthy and not Ready when a rolled-out replica stops being ready", () => {
    const s = computeAppStatus(
      input({
        deployment: deployment({ replicas: 1, updatedReplicas: 1, readyReplicas: 0 }),
        previous: { phase: "Running" },
      }),
    );
    expect(s).toMatchObject({ phase: "Running", health: "Unhealthy" });
    expect(ready(s)).toMatchObject({ status: "False", reason: "ReplicasNotReady" });
  });

  it("says Starting, not Deploying, when a stopped app comes back", () => {
    const s = computeAppStatus(input({ deployment: deployment({ replicas: 1 }), previous: { phase: "Stopped" } }));
    expect(s.phase).toBe("Starting");
  });

  it("a stopped app is not Available, though its Deployment at zero says Available", () => {
    const s = computeAppStatus(
      input({
        desiredReplicas: 0,
        deployment: deployment({ replicas: 0 }, 2, [{ type: "Available", status: "True" }]),
      }),
    );
    expect(s.phase).toBe("Stopped");
    expect(s.conditions.find((c) => c.type === "Available")).toMatchObject({ status: "False", reason: "Stopped" });
  });

  it("says Stopping, not 'Deploying 1 of 0 replicas ready', while the last replica goes", () => {
    const s = computeAppStatus(
      input({
        desiredReplicas: 0,
        deployment: deployment({ replicas: 1, readyReplicas: 1 }, 2, [{ type: "Available", status: "True" }]),
        previous: { phase: "Running" },
      }),
    );
    expect(s.phase).toBe("Stopping");
    expect(ready(s)).toMatchObject({
      status: "False",
      reason: "Stopping",
      message: "Stopping: 1 replica still running",
    });
    expect(s.conditions.find((c) => c.type === "Available")?.status).toBe("False");
  });
});

describe("quotaProblem", () => {
  it("turns the apiserver's quota refusal into QuotaExceeded in the org's terms", () => {
    const raw =
      'deployments.apps "c" is forbidden: exceeded quota: atrium-quota, requested: count/deployments.apps=1, used: count/deployments.apps=2, limited: count/deployments.apps=2';
    expect(quotaProblem(403, raw)).toEqual({
      reason: "QuotaExceeded",
      message:
        "The organization's quota is used up: apps (quotas.maxApps) limited to 2, 2 in use. Delete an app or raise the Organization's quota.",
    });
    expect(quotaProblem(403, "deployments.apps is forbidden: User cannot create")).toBeUndefined();
    expect(quotaProblem(422, raw)).toBeUndefined();
  });
});
