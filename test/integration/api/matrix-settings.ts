// Authorization-matrix rows for the organization's settings kept in the database: the logo.
// org:update (Admin, Co-Admin) uploads and removes it; every member sees it. The matrix sends
// JSON, which no logo is: a caller allowed through gets the answer after authorization (415),
// the others 403. Real uploads are in settings.test.ts.
import sharp from "sharp";
import type { Row } from "./matrix.ts";
import type { World } from "./world.ts";

const ALL = ["admin", "co-admin", "manager", "member", "viewer"] as const;
let shade = 0;

/** The Admin uploads a logo of its own colour; the row fetches it by its URL's hash. */
const uploadedLogo = async (w: World, org: string) => {
  const png = await sharp({
    create: { width: 8, height: 8, channels: 3, background: { r: shade++ % 256, g: 9, b: 9 } },
  })
    .png()
    .toBuffer();
  const admin = w.people.admin;
  const r = await fetch(`${w.api.base}/api/orgs/${org}/logo`, {
    method: "PUT",
    headers: { cookie: admin.cookie, "x-csrf-token": admin.csrf, "content-type": "image/png" },
    body: png,
  });
  const body = (await r.json()) as { logoUrl: string };
  if (r.status !== 200) throw new Error(`setup logo: ${r.status} ${JSON.stringify(body)}`);
  return { target: body.logoUrl.split("/").pop() as string };
};

export const SETTINGS_ROWS: Row[] = [
  {
    name: "upload the logo (a JSON body: 415 once authorized)",
    method: "PUT",
    path: "/api/orgs/{org}/logo",
    allowed: ["admin", "co-admin"],
    success: 415,
    body: () => ({ logo: "not an image" }),
  },
  {
    name: "remove the logo",
    method: "DELETE",
    path: "/api/orgs/{org}/logo",
    allowed: ["admin", "co-admin"],
    success: 204,
  },
  {
    name: "see the logo",
    method: "GET",
    path: "/api/orgs/{org}/logo/{target}",
    allowed: [...ALL],
    success: 200,
    setup: uploadedLogo,
  },
];
