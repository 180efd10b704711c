import { KubeError } from "@atrium/kube";
import express from "express";
import { describe, expect, it } from "vitest";
import { errorMiddleware, kubePermissionError } from "./errors.ts";

/** What the apiserver says when the API's ServiceAccount lacks a rule (its Status message). */
const rbacDenial = (verb: string, resource: string, group: string, namespace?: string) =>
  new KubeError(
    403,
    "Forbidden",
    `${resource}${group ? `.${group}` : ""} "x" is forbidden: User "system:serviceaccount:atrium-system:atrium-api" cannot ${verb} resource "${resource}" in API group "${group}"${namespace ? ` in the namespace "${namespace}"` : " at the cluster scope"}`,
  );

/** One request to an app whose only route throws `error`; the answer and what was logged. */
async function answerTo(error: unknown) {
  const logged: Array<{ message: string; fields: unknown; level: unknown }> = [];
  const app = express();
  app.get("/api/thing", () => {
    throw error;
  });
  app.use(errorMiddleware((message, fields, level) => logged.push({ message, fields, level })));
  const server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  try {
    const { port } = server.address() as { port: number };
    const res = await fetch(`http://127.0.0.1:${port}/api/thing`);
    return { status: res.status, body: (await res.json()) as { error: { code: string; message: string } }, logged };
  } finally {
    server.close();
  }
}

describe("a Kubernetes RBAC denial of the API's own request", () => {
  it("answers 503 naming the verb and resource, and logs it at error level", async () => {
    const { status, body, logged } = await answerTo(rbacDenial("patch", "appinstances", "atrium.dev", "org-acme"));
    expect(status).toBe(503);
    expect(body.error.code).toBe("kube_permission_missing");
    expect(body.error.message).toBe(
      "Atrium's API lacks a Kubernetes permission: it may not patch appinstances.atrium.dev in namespace org-acme. An administrator must grant it to the API's ServiceAccount",
    );
    expect(logged).toEqual([
      {
        message: "Atrium's API lacks a Kubernetes permission: grant it to the API's ServiceAccount",
        fields: {
          verb: "patch",
          resource: "appinstances.atrium.dev",
          namespace: "org-acme",
          method: "GET",
          path: "/api/thing",
        },
        level: "error",
      },
    ]);
  });

  it.each([
    ["a core resource in a namespace", rbacDenial("get", "pods/log", "", "org-a"), "get", "pods/log", "org-a"],
    [
      "a cluster-scoped resource",
      rbacDenial("list", "organizations", "atrium.dev"),
      "list",
      "organizations.atrium.dev",
    ],
  ])("reads %s", (_name, error, verb, resource, namespace?: string) => {
    const e = kubePermissionError(error);
    expect(e?.status).toBe(503);
    expect([e?.verb, e?.resource, e?.namespace]).toEqual([verb, resource, namespace]);
    expect(e?.message).toContain(namespace ? `in namespace ${namespace}` : "at cluster scope");
  });

  it("leaves other 403s of the apiserver (a namespace being terminated) and other errors alone", async () => {
    const terminating = new KubeError(
      403,
      "Forbidden",
      "unable to create new content in namespace org-a because it is being terminated",
    );
    expect(kubePermissionError(terminating)).toBeUndefined();
    expect(kubePermissionError(new KubeError(404, "NotFound", "not found"))).toBeUndefined();
    expect(kubePermissionError(new Error('cannot get resource "pods"'))).toBeUndefined();
    const { status, body } = await answerTo(terminating);
    expect(status).toBe(500);
    expect(body.error.message).toBe("Internal error");
  });
});
