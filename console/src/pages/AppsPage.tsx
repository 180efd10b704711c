// Installed apps: what each is doing in words (running, starting, stopped for idleness and
// waking on the next visit, stopped for payment, failed and why, trial days left), its template
// and last activity. While any app is on its way somewhere, the list refreshes itself.
import { useQuery } from "@tanstack/react-query";
import { getRouteApi, Link } from "@tanstack/react-router";
import { Badge, Card, EmptyState, Loading, PageHeader, ProblemBanner, ui } from "../components/ui.tsx";
import { statusOf, trialNote } from "../lib/app-status.ts";
import { appsQuery } from "../lib/apps.ts";
import { formatCount, formatDateTime, formatRelative } from "../lib/format.ts";
import { useAccess } from "../lib/session.ts";
import p from "./apps.module.css";
import pages from "./pages.module.css";

const route = getRouteApi("/orgs/$org/apps");
const MOVING = new Set(["Pending", "Deploying", "Starting", "Stopping"]);

export function AppsPage() {
  const { org } = route.useParams();
  const access = useAccess(org);
  const list = useQuery({
    ...appsQuery(org),
    refetchInterval: (q) => (q.state.data?.items.some((a) => MOVING.has(a.phase)) ? 2000 : 15_000),
  });
  if (!access) return <Loading what="apps" />;
  const items = list.data?.items ?? [];
  return (
    <>
      <PageHeader
        title="Apps"
        lead={list.data ? `${formatCount(list.data.total)} installed in this organization` : undefined}
        actions={
          access.can("marketplace:view") && (
            <Link to="/orgs/$org/marketplace" params={{ org }} className={`${ui.button} ${ui.primary}`}>
              Install from the marketplace
            </Link>
          )
        }
      />
      <ProblemBanner problem={list.error} title="The apps could not be loaded" />
      <Card>
        {list.isPending ? (
          <Loading what="apps" />
        ) : !items.length ? (
          <EmptyState title="No apps installed yet">
            <p>
              {access.can("marketplace:view") ? (
                <>
                  Find one in the{" "}
                  <Link to="/orgs/$org/marketplace" params={{ org }}>
                    marketplace
                  </Link>{" "}
                  and install it: it runs here in minutes.
                </>
              ) : (
                "Ask someone who may install apps to add one from the marketplace."
              )}
            </p>
          </EmptyState>
        ) : (
          <div className={ui.tableWrap} data-scrolls>
            <table className={ui.table} aria-busy={list.isFetching}>
              <caption className="visually-hidden">Installed apps, by name</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Status</th>
                  <th scope="col" className={pages.wideOnly}>
                    Template
                  </th>
                  <th scope="col" className={pages.roomyOnly}>
                    Last active
                  </th>
                </tr>
              </thead>
              <tbody>
                {items.map((a) => {
                  const status = statusOf(a);
                  const trial = trialNote(a);
                  return (
                    <tr key={a.name}>
                      <td>
                        <Link to="/orgs/$org/apps/$app" params={{ org, app: a.name }} className={pages.strongLink}>
                          {a.name}
                        </Link>
                        <div className={`${pages.narrowOnly} ${ui.description}`}>{a.displayName}</div>
                      </td>
                      <td>
                        <div className={p.statusLine}>
                          <Badge tone={status.tone}>{status.label}</Badge>
                          {trial && <Badge tone="amber">{trial}</Badge>}
                        </div>
                        {status.detail && <div className={ui.description}>{status.detail}</div>}
                      </td>
                      <td className={pages.wideOnly}>
                        {a.displayName} <span className={ui.muted}>{a.version}</span>
                      </td>
                      <td className={`${ui.nowrap} ${pages.roomyOnly}`} title={formatDateTime(a.lastActivity)}>
                        {formatRelative(a.lastActivity)}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </Card>
    </>
  );
}
