// Installed apps: what each is doing in words (running, starting, stopped for idleness and
// waking on the next visit, stopped for payment, failed and why, trial days left), its template
// and last activity. Search, the status filter and the page live in the URL; the API pages by
// cursor. While any app is on its way somewhere, the list refreshes itself.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { getRouteApi, Link } from "@tanstack/react-router";
import { FilterSelect } from "../components/NativeSelect.tsx";
import { SearchBox } from "../components/SearchBox.tsx";
import { Badge, Button, Card, EmptyState, Loading, PageHeader, ProblemBanner, ui } from "../components/ui.tsx";
import { statusOf, trialNote } from "../lib/app-status.ts";
import { APPS_PAGE, appsPageQuery } from "../lib/apps.ts";
import { formatCount, formatDateTime, formatRelative } from "../lib/format.ts";
import { APP_STATUSES } from "../lib/search.ts";
import { useAccess } from "../lib/session.ts";
import p from "./apps.module.css";
import pages from "./pages.module.css";

const route = getRouteApi("/orgs/$org/apps");
const MOVING = new Set(["Pending", "Deploying", "Starting", "Stopping"]);

export function AppsPage() {
  const { org } = route.useParams();
  const search = route.useSearch();
  const navigate = route.useNavigate();
  const queryClient = useQueryClient();
  const access = useAccess(org);
  const page = search.page ?? 1;
  const { page: _page, ...filters } = search;
  const filtered = !!(search.q || search.status);
  const list = useQuery({
    ...appsPageQuery(queryClient, org, filters, page),
    refetchInterval: (q) => (q.state.data?.items.some((a) => MOVING.has(a.phase)) ? 2000 : 15_000),
  });
  if (!access) return <Loading what="apps" />;
  const items = list.data?.items ?? [];
  const total = list.data?.total ?? 0;
  const first = total ? (page - 1) * APPS_PAGE + 1 : 0;
  const last = first + items.length - (items.length ? 1 : 0);
  return (
    <>
      <PageHeader
        title="Apps"
        lead={
          list.data ? `${formatCount(total)} ${filtered ? "matching" : "installed in this organization"}` : undefined
        }
        actions={
          access.can("marketplace:view") && (
            <Link to="/orgs/$org/marketplace" params={{ org }} className={`${ui.button} ${ui.primary}`}>
              Install from the marketplace
            </Link>
          )
        }
      />
      <div className={pages.toolbar}>
        <SearchBox
          value={search.q ?? ""}
          placeholder="Name or template"
          onCommit={(q) => navigate({ search: (s) => ({ ...s, q: q || undefined, page: undefined }), replace: true })}
        />
        <FilterSelect
          className={pages.filter}
          label="Status"
          all="All statuses"
          value={search.status}
          choices={APP_STATUSES}
          onChange={(status) => navigate({ search: (s) => ({ ...s, status, page: undefined }) })}
        />
      </div>
      <ProblemBanner problem={list.error} title="The apps could not be loaded" />
      <Card>
        {list.isPending ? (
          <Loading what="apps" />
        ) : !items.length && filtered ? (
          <EmptyState title="No app matches">
            <p>
              Try another search or{" "}
              <Link to="/orgs/$org/apps" params={{ org }} search={{}}>
                clear the filters
              </Link>
              .
            </p>
          </EmptyState>
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
      {list.data && total > APPS_PAGE && (
        <nav className={pages.pager} aria-label="Pages">
          <span className={ui.muted}>
            {formatCount(first)}–{formatCount(last)} of {formatCount(total)}
          </span>
          <div className={pages.pagerButtons}>
            <Button
              small
              isDisabled={page <= 1}
              onPress={() => navigate({ search: (s) => ({ ...s, page: page - 1 > 1 ? page - 1 : undefined }) })}
            >
              Previous
            </Button>
            <Button
              small
              isDisabled={!list.data.nextCursor}
              onPress={() => navigate({ search: (s) => ({ ...s, page: page + 1 }) })}
            >
              Next
            </Button>
          </div>
        </nav>
      )}
    </>
  );
}
