// One member: profile, what they may do here (effective permissions by catalog group) and
// what they did recently (the audit log).
import { useQuery } from "@tanstack/react-query";
import { getRouteApi, Link } from "@tanstack/react-router";
import { lazy, Suspense, useState } from "react";
import { PERMISSION_GROUPS } from "../../../crds/src/permissions.ts";
import { Badge, Button, Card, EmptyState, Loading, PageHeader, ProblemBanner, ui } from "../components/ui.tsx";
import { formatDateTime } from "../lib/format.ts";
import { type MemberAction, offersFor } from "../lib/offers.ts";
import { memberQuery, rolesQuery } from "../lib/queries.ts";
import { useAccess } from "../lib/session.ts";
import { STATUS_TONE } from "./MembersPage.tsx";
import p from "./pages.module.css";

// The dialogs (forms, overlays) load when first opened, not with the page.
const MemberActionDialog = lazy(() =>
  import("../components/MemberActions.tsx").then((m) => ({ default: m.MemberActionDialog })),
);

const route = getRouteApi("/orgs/$org/members/$member");

export function MemberPage() {
  const { org, member: name } = route.useParams();
  const access = useAccess(org);
  const detail = useQuery(memberQuery(org, name));
  const roles = useQuery({ ...rolesQuery(org), enabled: !!access?.can("roles:view") });
  const [action, setAction] = useState<MemberAction | undefined>();
  const navigate = route.useNavigate();

  const back = (
    <Link to="/orgs/$org/members" params={{ org }}>
      ← All members
    </Link>
  );
  if (detail.isPending || !access) return <Loading what="the member" />;
  if (!detail.data)
    return (
      <>
        {back}
        <ProblemBanner problem={detail.error} title="This member could not be loaded" />
      </>
    );
  const { member: m, permissions, activity } = detail.data;
  const held = new Set(permissions);
  const offers = offersFor(access, m);
  return (
    <>
      <p>{back}</p>
      <PageHeader title={m.displayName} lead={m.email} />
      <div className={p.grid}>
        <Card>
          <div className={ui.cardBody}>
            <h2 className={p.sectionTitle}>Profile</h2>
            <dl className={p.details}>
              <dt>Role</dt>
              <dd>{m.roleDisplayName}</dd>
              <dt>Status</dt>
              <dd>
                <Badge tone={STATUS_TONE[m.status]}>{m.status}</Badge>
              </dd>
              <dt>Joined</dt>
              <dd>{formatDateTime(m.joinedAt)}</dd>
              <dt>Last login</dt>
              <dd>{m.lastLoginAt ? formatDateTime(m.lastLoginAt) : "Never"}</dd>
              {m.invitedAt && (
                <>
                  <dt>Invited</dt>
                  <dd>{formatDateTime(m.invitedAt)}</dd>
                </>
              )}
              {(m.status === "Invited" || m.status === "Expired") && (
                <>
                  <dt>Invitation {m.status === "Expired" ? "expired" : "expires"}</dt>
                  <dd>{formatDateTime(m.invitationExpiresAt)}</dd>
                </>
              )}
            </dl>
            <div className={`${p.actionsRow} ${p.spaced}`}>
              {offers.map((o) => (
                <Button key={o.action} small isDisabled={!!o.reason} onPress={() => setAction(o.action)}>
                  {o.label}
                </Button>
              ))}
            </div>
            {offers.some((o) => o.reason) && (
              <ul className={ui.description}>
                {[
                  ...new Set(offers.filter((o) => o.reason).map((o) => `${o.label.replace("…", "")}: ${o.reason}`)),
                ].map((r) => (
                  <li key={r}>{r}</li>
                ))}
              </ul>
            )}
          </div>
        </Card>
        <Card>
          <div className={ui.cardBody}>
            <h2 className={p.sectionTitle}>Recent activity</h2>
            {activity.length ? (
              <ul className={p.activity}>
                {activity.map((a) => (
                  <li key={`${a.at}-${a.action}-${a.target}`}>
                    <span>
                      <code>{a.action}</code> {a.target && <span className={ui.muted}>{a.target}</span>}
                      {a.result !== "success" && <Badge tone="red">{a.result}</Badge>}
                    </span>
                    <span className={`${ui.muted} ${ui.nowrap}`}>{formatDateTime(a.at)}</span>
                  </li>
                ))}
              </ul>
            ) : (
              <EmptyState title="Nothing recorded yet">
                <p>Changes this member makes appear here.</p>
              </EmptyState>
            )}
          </div>
        </Card>
      </div>
      <Card className={p.spaced}>
        <div className={ui.cardBody}>
          <h2 className={p.sectionTitle}>Effective permissions ({held.size})</h2>
          {held.size === 0 && <p className={ui.muted}>None: only active members hold the permissions of their role.</p>}
          <div className={p.permissionGroups}>
            {PERMISSION_GROUPS.map((g) => {
              const inGroup = Object.entries(g.permissions).filter(([id]) => held.has(id));
              if (!inGroup.length) return null;
              return (
                <section key={g.id} aria-label={g.label}>
                  <h3 className={p.groupTitle}>{g.label}</h3>
                  <ul className={p.permissionList}>
                    {inGroup.map(([id, text]) => (
                      <li key={id} title={id}>
                        {text}
                      </li>
                    ))}
                  </ul>
                </section>
              );
            })}
          </div>
        </div>
      </Card>
      <Suspense fallback={null}>
        {action && (
          <MemberActionDialog
            org={org}
            access={access}
            roles={roles.data ?? []}
            open={action ? { member: m, action } : undefined}
            onClose={() => {
              setAction(undefined);
              // A cancelled invitation removes the member: back to the list.
              if (action === "cancel") void navigate({ to: "/orgs/$org/members", params: { org } });
              else void detail.refetch();
            }}
          />
        )}
      </Suspense>
    </>
  );
}
