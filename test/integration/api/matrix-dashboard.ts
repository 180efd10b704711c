// Authorization-matrix rows for the dashboard. dashboard:view (overview, usage): every built-in
// role; billing:view (economics): Admin, Co-Admin, Manager. A role without dashboard:view (only a
// custom role can lack it) is refused in dashboard.test.ts, as are the platform's figures, which
// belong to no organization.
import type { Row } from "./matrix.ts";
import type { RoleName } from "./world.ts";

const ALL: RoleName[] = ["admin", "co-admin", "manager", "member", "viewer"];

export const DASHBOARD_ROWS: Row[] = [
  { name: "the organization's overview", method: "GET", path: "/api/orgs/{org}/overview", allowed: ALL, success: 200 },
  { name: "usage charts", method: "GET", path: "/api/orgs/{org}/usage?days=7", allowed: ALL, success: 200 },
  {
    name: "the economic overview",
    method: "GET",
    path: "/api/orgs/{org}/economics",
    allowed: ["admin", "co-admin", "manager"],
    success: 200,
  },
];
