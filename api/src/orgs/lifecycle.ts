// An organization's lifecycle as the API sees it: the view it returns, and the rules for
// deleting and restoring. Pure, so every case is a unit test; the routes are in routes.ts.
import type { Organization } from "@atrium/crds";

type OrgLike = Pick<Organization, "spec" | "status"> & {
  metadata: { name: string; creationTimestamp?: string; deletionTimestamp?: string };
};

/**
 * Whether an organization is being deleted: asked for (its grace period, spec.deletion) or
 * already being removed by the operator. Its API keys are refused meanwhile.
 */
export const isDeleting = (org: OrgLike | undefined): boolean =>
  !!org && (!!org.spec.deletion || !!org.metadata.deletionTimestamp);

/** Why an API key of a deleting organization is refused: says what is going on and the way back. */
export const keysRefusedMessage = (org: string) =>
  `The API key is disabled: organization "${org}" is scheduled for deletion (an Admin can restore it during the grace period)`;

/**
 * The typed confirmation of a deletion: exactly the organization's name (no trimming or case
 * folding: the point is that the person looked at which organization this is).
 */
export const confirmsDeletion = (org: string, confirm: string): boolean => confirm === org;

/** What may be done about a deletion now, or why not (the 409's message). */
export function deletionRefusal(org: OrgLike, action: "delete" | "restore"): string | undefined {
  if (org.metadata.deletionTimestamp) return `Organization "${org.metadata.name}" is already being removed`;
  if (action === "delete" && org.spec.deletion)
    return `Organization "${org.metadata.name}" is already scheduled for deletion (since ${org.spec.deletion.requestedAt})`;
  if (action === "restore" && !org.spec.deletion)
    return `Organization "${org.metadata.name}" is not scheduled for deletion`;
  return undefined;
}

export type OrgView = ReturnType<typeof orgView>;

/** The Organization resource flattened for API clients, with its logo's URL (from the database). */
export function orgView(org: OrgLike, logoUrl: string | null = null) {
  const ready = org.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
  const deletion = org.spec.deletion;
  return {
    name: org.metadata.name,
    displayName: org.spec.displayName,
    description: org.spec.description ?? null,
    logoUrl,
    createdAt: org.metadata.creationTimestamp ?? null,
    ready,
    memberCount: org.status?.memberCount ?? 0,
    appCount: org.status?.appCount ?? 0,
    runningAppCount: org.status?.runningAppCount ?? 0,
    deletion: deletion
      ? {
          requestedAt: deletion.requestedAt,
          requestedBy: deletion.requestedBy,
          // The operator's word (it holds the grace period); null until it has seen the request.
          deletesAt: org.status?.deletesAt ?? null,
        }
      : null,
  };
}
