// The organization at a glance: its name, logo and description, members by status, apps
// installed and running with the ones running now, the newest audit entries, and the quick
// actions the API says the caller may take.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { getRouteApi, Link, useRouter } from "@tanstack/react-router";
import { OrgLogo } from "../components/OrgLogo.tsx";
import { Badge, Card, EmptyState, Loading, ProblemBanner, ui } from "../components/ui.tsx";
import { statusOf } from "../lib/app-status.ts";
import { appsPageQuery } from "../lib/apps.ts";
import { formatCount, formatDateTime, formatRelative } from "../lib/format.ts";
import { useAccess } from "../lib/session.ts";
import { overviewQuery } from "../lib/workspace.ts";
import pages from "./pages.module.css";
import w from "./workspace.module.css";

const route = getRouteApi("/orgs/$org/");

function ActiveApps({ org }: { org: string }) {
  const queryClient = useQueryClient();
  const running = useQuery(appsPageQuery(queryClient, org, { status: "Running" }, 1));
  const items = running.data?.items.slice(0, 8) ?? [];
  return (
    <Card>
      <div className={w.cardBody}>
        <div className={w.cardHead}>
          <h2 className={w.cardTitle}>Active apps</h2>
          <Link to="/orgs/$org/apps" params={{ org }}>
            All apps
          </Link>
        </div>
        <ProblemBanner problem={running.error} title="The apps could not be loaded" />
        {running.isPending ? (
          <Loading what="apps" />
        ) : items.length ? (
          <ul className={w.list}>
            {items.map((app) => (
              <li key={app.name}>
                <Link to="/orgs/$org/apps/$app" params={{ org, app: app.name }} className={pages.strongLink}>
                  {app.name}
                </Link>
                <span>
                  <Badge tone={statusOf(app).tone}>{statusOf(app).label}</Badge>{" "}
                  <span className={ui.muted}>active {formatRelative(app.lastActivity)}</span>
                </span>
              </li>
            ))}
          </ul>
        ) : (
          <p className={ui.description}>No app is running now; stopped apps wake on their next visit.</p>
        )}
      </div>
    </Card>
  );
}

export function OverviewPage() {
  const { org } = route.useParams();
  const access = useAccess(org);
  const overview = useQuery(overviewQuery(org));
  const router = useRouter();
  if (!access) return <Loading what="the organization" />;
  const o = overview.data;
  return (
    <>
      <header className={w.orgHead}>
        <OrgLogo name={o?.organization.displayName ?? access.org.displayName} logoUrl={o?.organization.logoUrl} />
        <div>
          <h1 className={ui.pageTitle}>{o?.organization.displayName ?? access.org.displayName}</h1>
          <p className={ui.pageLead}>{o?.organization.description ?? "Organization overview"}</p>
        </div>
      </header>
      <ProblemBanner problem={overview.error} title="The overview could not be loaded" />
      {overview.isPending ? (
        <Card>
          <Loading what="the overview" />
        </Card>
      ) : o ? (
        <div className={w.stack}>
          <Card>
            <div className={w.cardBody}>
              <dl className={w.tiles}>
                <Tile label="Active members" value={o.members.active} />
                <Tile label="Invited" value={o.members.invited} />
                <Tile label="Deactivated" value={o.members.deactivated} />
                <Tile label="Apps installed" value={o.apps.installed} />
                <Tile label="Apps running" value={o.apps.running} />
              </dl>
              {o.quickActions.length > 0 && (
                <nav aria-label="Quick actions" className={`${w.quick} ${pages.spaced}`}>
                  {o.quickActions.map((q) => (
                    <a
                      key={q.id}
                      href={q.href}
                      className={ui.button}
                      onClick={(e) => {
                        // A console path: the router takes it (no reload); anything else, the browser.
                        if (!q.href.startsWith("/") || e.metaKey || e.ctrlKey) return;
                        e.preventDefault();
                        void router.navigate({ href: q.href });
                      }}
                    >
                      {q.label}
                    </a>
                  ))}
                </nav>
              )}
            </div>
          </Card>
          <div className={w.twoUp}>
            {access.can("apps:view") && <ActiveApps org={org} />}
            <Card>
              <div className={w.cardBody}>
                <h2 className={`${w.cardTitle} ${w.cardHead}`}>Recent activity</h2>
                {o.recentActivity.length ? (
                  <ul className={w.list}>
                    {o.recentActivity.map((e) => (
                      <li key={`${e.at}-${e.action}-${e.target}`}>
                        <span>
                          <strong>{e.actor}</strong> {e.action}
                          {e.target ? <span className={ui.muted}> {e.target}</span> : null}
                          {e.result !== "success" && e.result !== "ok" ? (
                            <>
                              {" "}
                              <Badge tone="red">{e.result}</Badge>
                            </>
                          ) : null}
                        </span>
                        <time dateTime={e.at} title={formatDateTime(e.at)} className={ui.muted}>
                          {formatRelative(e.at)}
                        </time>
                      </li>
                    ))}
                  </ul>
                ) : (
                  <EmptyState title="Nothing yet">
                    <p>Invitations, role changes, installs and keys show up here as they happen.</p>
                  </EmptyState>
                )}
              </div>
            </Card>
          </div>
        </div>
      ) : null}
    </>
  );
}

function Tile({ label, value }: { label: string; value: number }) {
  return (
    <div className={w.tile}>
      <dt>{label}</dt>
      <dd>{formatCount(value)}</dd>
    </div>
  );
}
