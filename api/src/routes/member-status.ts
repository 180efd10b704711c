// The API owns four fields of Member status (the operator owns phase and conditions). With
// server-side apply, fields a manager owned and leaves out of its next apply are removed, so
// every apply carries all four: the current values plus the change.
import { R } from "@atrium/kube";
import type { Services } from "../app.ts";
import type { MemberObj } from "../authz/directory.ts";

const API_STATUS_FIELDS = ["invitedAt", "invitationExpiresAt", "joinedAt", "lastLoginAt"] as const;
type ApiStatus = Partial<Record<(typeof API_STATUS_FIELDS)[number], string>>;

export async function applyMemberStatus(s: Services, member: MemberObj, change: ApiStatus): Promise<MemberObj> {
  const status: ApiStatus = {};
  for (const field of API_STATUS_FIELDS) {
    const value = change[field] ?? member.status?.[field];
    if (value) status[field] = value;
  }
  const updated = await s.kube.apply<MemberObj>(
    R.member,
    { metadata: { name: member.metadata.name, namespace: member.metadata.namespace }, status } as MemberObj,
    { subresource: "status" },
  );
  await s.directory.observed(updated);
  return updated;
}
