import type { Member } from "@atrium/crds";
import type { KubeObject } from "@atrium/kube";
import { describe, expect, it } from "vitest";
import { memberCondition } from "./reconcile.ts";

const member = (name: string, email: string): Member & KubeObject => ({
  apiVersion: "atrium.dev/v1alpha1",
  kind: "Member",
  metadata: { name, namespace: "org-acme" },
  spec: { email, role: "admin" },
});

describe("memberCondition", () => {
  it("says a duplicate grants nothing and names the member the address belongs to", () => {
    const c = memberCondition(
      member("bob-2", "Bob@example.com"),
      member("bob", "bob@example.com"),
      undefined,
      "Invited",
    );
    expect(c).toMatchObject({ status: "False", reason: "DuplicateEmail" });
    expect(c.message).toContain("bob@example.com already belongs to member bob");
    expect(c.message).toContain("grants nothing");
  });

  it("otherwise reports a missing role, or the phase", () => {
    expect(memberCondition(member("a", "a@x.io"), undefined, undefined, "Active").reason).toBe("RoleNotFound");
    expect(
      memberCondition(member("a", "a@x.io"), undefined, { spec: { displayName: "Admin" } }, "Active"),
    ).toMatchObject({ status: "True", reason: "Active", message: "Holds role Admin" });
  });
});
