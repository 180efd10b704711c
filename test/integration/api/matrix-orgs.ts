// Authorization-matrix rows for the organization routes. org:view: everyone; org:update: Admin
// and Co-Admin; org:delete: Admin only. The delete and restore rows must not really delete the
// shared organization: a caller allowed through gets the answer that comes after authorization
// (422 for a wrong confirmation, 409 for restoring what is not scheduled), the others 403. The
// real deletion and restore are in org-lifecycle.test.ts.
import type { Row } from "./matrix.ts";
import type { RoleName } from "./world.ts";

const ALL: RoleName[] = ["admin", "co-admin", "manager", "member", "viewer"];
let n = 0;

export const ORG_ROWS: Row[] = [
  { name: "view the organization", method: "GET", path: "/api/orgs/{org}", allowed: ALL, success: 200 },
  {
    name: "change the organization's description",
    method: "PATCH",
    path: "/api/orgs/{org}",
    allowed: ["admin", "co-admin"],
    success: 200,
    body: (role) => ({ description: `Described by the ${role} (${n++})` }),
  },
  {
    name: "delete the organization (wrong confirmation: 422 once authorized)",
    method: "DELETE",
    path: "/api/orgs/{org}",
    allowed: ["admin"],
    success: 422,
    body: () => ({ confirm: "not-the-name" }),
  },
  {
    name: "restore the organization (not scheduled: 409 once authorized)",
    method: "POST",
    path: "/api/orgs/{org}/restore",
    allowed: ["admin"],
    success: 409,
  },
];
