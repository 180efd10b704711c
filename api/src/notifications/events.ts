// The API's own events as notices (pure), for the one-line hooks in the routes: who changed
// what is in the text; the key names the change itself, so a retried request or a second replica
// never tells anyone twice.
import type { Notice } from "./notifications.ts";

export function roleChangedNotice(p: {
  org: string;
  member: string;
  /** The Member's resourceVersion after the change: one notice per change. */
  version: string;
  from: string;
  to: string;
  by: string;
}): Notice {
  return {
    key: `role.changed:${p.org}:${p.member}:${p.version}`,
    event: "role.changed",
    org: p.org,
    title: `Your role in ${p.org} is now ${p.to}`,
    body: `${p.by} changed your role in the organization "${p.org}" from ${p.from} to ${p.to}.`,
    link: `/orgs/${p.org}`,
  };
}

export function invitationAcceptedNotice(p: {
  org: string;
  invitation: string;
  email: string;
  member: string;
}): Notice {
  return {
    key: `invitation.accepted:${p.invitation}`,
    event: "invitation.accepted",
    org: p.org,
    title: `${p.email} joined ${p.org}`,
    body: `${p.email} accepted the invitation and joined the organization "${p.org}".`,
    link: `/orgs/${p.org}/members/${p.member}`,
  };
}

export function apiKeyNotice(p: {
  kind: "created" | "revoked";
  org: string;
  id: string;
  name: string;
  type: string;
  createdBy: string;
  by: string;
}): Notice {
  const what = p.kind === "created" ? "created" : "revoked";
  return {
    key: `key.${what}:${p.id}`,
    event: p.kind === "created" ? "key.created" : "key.revoked",
    org: p.org,
    title: `API key "${p.name}" ${what} in ${p.org}`,
    body: `${p.by} ${what} the ${p.type === "AI_AGENT" ? "AI agent" : "standard"} API key "${p.name}" (${p.id}, made by ${p.createdBy}) in the organization "${p.org}".${p.kind === "created" ? " If you did not expect it, revoke it." : ""}`,
    link: `/orgs/${p.org}/apikeys`,
  };
}
