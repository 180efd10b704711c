// Email addresses through the API, on its own world (real operator, OIDC provider, SQLite):
// invitations store the canonical address the CRD demands, and a duplicate Member made with
// kubectl neither locks its address's owner out nor grants anything (the oldest Member with an
// address owns it, in the API as in the operator).
import { namespaceFor } from "@atrium/crds";
import { R, resourcePath } from "@atrium/kube";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../cluster/until.ts";
import { startWorld, type World } from "./api/world.ts";

let w: World;
beforeAll(async () => {
  w = await startWorld({ provider: "sqlite" });
}, 300_000);
afterAll(() => w?.stop());

const duplicate = async (org: string, name: string, email: string, role: string, joined: boolean) => {
  const created = await w.kube.create(R.member, {
    metadata: { name, namespace: namespaceFor(org) },
    spec: { email, role },
  } as never);
  // Joined: what the API writes to status at the first login; kubectl can write it as well.
  if (joined)
    await w.kube.request("PATCH", resourcePath(R.member, namespaceFor(org), name, "status"), {
      body: { status: { joinedAt: new Date().toISOString() } },
      contentType: "application/merge-patch+json",
    });
  await w.api.directory.observed(created as never);
  return created;
};

describe("invitations", () => {
  it("store the address in canonical form, and refuse display-name forms with a field error", async () => {
    const org = w.orgA;
    const invited = await w.call(w.people.admin, "POST", `/api/orgs/${org}/members`, { email: "  Bob@Example.COM " });
    expect(invited.status).toBe(201);
    expect(invited.body.member.email).toBe("bob@example.com");
    const stored = await w.kube.get<any>(R.member, invited.body.member.name, namespaceFor(org));
    expect(stored.spec.email).toBe("bob@example.com");
    const again = await w.call(w.people.admin, "POST", `/api/orgs/${org}/members`, { email: "bob@example.com" });
    expect(again.status).toBe(409);
    for (const email of ["Bob <bob@example.com>", "bob smith@example.com", '"bob"@example.com', "bob@example"]) {
      const bad = await w.call(w.people.admin, "POST", `/api/orgs/${org}/members`, { email });
      expect(bad.status, email).toBe(422);
      expect(bad.body.error.fields, email).toEqual([
        { path: "/body/email", message: expect.stringContaining("email") },
      ]);
    }
  });
});

describe("a duplicate Member made with kubectl", () => {
  it("does not lock out the Active member who owns the address", async () => {
    const org = w.orgA;
    const admin = w.people.admin;
    expect((await w.call(admin, "GET", `/api/orgs/${org}/members`)).status).toBe(200);
    // Same address, newer, a Viewer still invited: before, the API took it for the admin.
    await duplicate(org, "zz-admin-again", admin.email, "viewer", false);
    expect((await w.call(admin, "GET", `/api/orgs/${org}/members`)).status).toBe(200);
    const mine = await w.call(admin, "GET", "/api/me/organizations");
    expect(mine.body.items.find((o: { name: string }) => o.name === org)).toMatchObject({
      role: "admin",
      status: "Active",
      canAct: true,
    });
    const invite = await w.call(admin, "POST", `/api/orgs/${org}/members`, { email: "carol@example.com" });
    expect(invite.status).toBe(201);
    // The operator says why the duplicate grants nothing.
    await until("DuplicateEmail on the duplicate", async () => {
      const m = await w.kube.get<any>(R.member, "zz-admin-again", namespaceFor(org));
      return m?.status?.conditions?.find((c: { reason: string }) => c.reason === "DuplicateEmail") ? true : undefined;
    });
  });

  it("grants nothing, even as a joined Admin", async () => {
    const org = w.orgA;
    const viewer = w.people.viewer;
    await duplicate(org, "zz-viewer-as-admin", viewer.email, "admin", true);
    const invite = await w.call(viewer, "POST", `/api/orgs/${org}/members`, { email: "dave@example.com" });
    expect(invite.status).toBe(403);
    const mine = await w.call(viewer, "GET", "/api/me/organizations");
    expect(mine.body.items.find((o: { name: string }) => o.name === org)).toMatchObject({ role: "viewer" });
  });
});
