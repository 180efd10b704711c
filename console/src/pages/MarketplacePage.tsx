// The marketplace: every app of the catalog as a card (price in the chosen view, the free trial
// where this organization can still have one), filtered by category with counts, searched and
// sorted, all in the URL; "Load more" follows the API's cursor. An app's page has its versions,
// settings, plans and trial terms, and Install for those who may install.
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { getRouteApi, Link } from "@tanstack/react-router";
import { lazy, Suspense, useCallback, useState } from "react";
import { Radio, RadioGroup } from "react-aria-components";
import type { MarketCard } from "../api/client.ts";
import { AppIcon } from "../components/apps.tsx";
import { SearchBox } from "../components/SearchBox.tsx";
import { SelectField } from "../components/SelectField.tsx";
import { Badge, Button, Card, EmptyState, Loading, PageHeader, ProblemBanner, ui } from "../components/ui.tsx";
import { marketQuery, templateQuery } from "../lib/apps.ts";
import { formatCount } from "../lib/format.ts";
import { planLabel, priceIn } from "../lib/prices.ts";
import { MARKET_SORTS, type MarketSort, PRICE_VIEWS, type PriceView } from "../lib/search.ts";
import { useAccess } from "../lib/session.ts";
import p from "./apps.module.css";
import pages from "./pages.module.css";

const InstallWizard = lazy(() => import("../components/InstallWizard.tsx").then((m) => ({ default: m.InstallWizard })));

const route = getRouteApi("/orgs/$org/marketplace");
const detailRoute = getRouteApi("/orgs/$org/marketplace/$template");

const SORT_LABELS: Record<MarketSort, string> = {
  relevance: "Best match",
  name: "Name",
  popularity: "Most installed",
  price: "Price, lowest first",
};
const VIEW_LABELS: Record<PriceView, string> = {
  monthly: "Monthly",
  annual: "Annual",
  "one-time": "One-time",
  lifetime: "Lifetime",
};

function PriceViewSwitch({ value, onChange }: { value: PriceView; onChange(v: PriceView): void }) {
  return (
    <RadioGroup
      className={pages.filter}
      value={value}
      onChange={(v) => onChange(v as PriceView)}
      orientation="horizontal"
      aria-label="Show prices"
    >
      <span className={ui.label} aria-hidden="true">
        Show prices
      </span>
      <div className={p.segmented}>
        {PRICE_VIEWS.map((v) => (
          <Radio key={v} value={v} className={p.segment}>
            {VIEW_LABELS[v]}
          </Radio>
        ))}
      </div>
    </RadioGroup>
  );
}

function AppCardView({ org, app, view }: { org: string; app: MarketCard; view: PriceView }) {
  const price = priceIn(app.plans, view);
  return (
    <article className={p.appCard} aria-labelledby={`app-${app.name}`}>
      <div className={p.appCardHead}>
        <AppIcon name={app.displayName} icon={app.icon} />
        <div>
          <Link
            id={`app-${app.name}`}
            className={p.appName}
            to="/orgs/$org/marketplace/$template"
            params={{ org, template: app.name }}
          >
            {app.displayName}
          </Link>
          <div className={p.publisher}>{app.publisher ? `by ${app.publisher}` : "Community"}</div>
        </div>
      </div>
      <p className={p.cardText}>{app.description || "No description."}</p>
      <div className={p.badges}>
        <Badge tone="grey">{app.category}</Badge>
        {app.trialAvailable && <Badge tone="blue">{app.trialDays}-day free trial</Badge>}
        {app.installedInOrg > 0 && <Badge tone="green">Installed ×{app.installedInOrg}</Badge>}
      </div>
      <div className={p.cardFoot}>
        <span className={p.price}>
          {price.text}
          {price.note && <span className={p.priceNote}> ({price.note})</span>}
        </span>
      </div>
    </article>
  );
}

export function MarketplacePage() {
  const { org } = route.useParams();
  const search = route.useSearch();
  const navigate = route.useNavigate();
  const access = useAccess(org);
  const { price: view = "monthly", ...filters } = search;
  const list = useInfiniteQuery(marketQuery(org, filters));
  const commitSearch = useCallback(
    (q: string) => navigate({ search: (s) => ({ ...s, q: q || undefined }), replace: true }),
    [navigate],
  );
  if (!access) return <Loading what="the marketplace" />;
  const pagesLoaded = list.data?.pages ?? [];
  const first = pagesLoaded[0];
  const apps = pagesLoaded.flatMap((pg) => pg.items);
  const all = first?.categories.reduce((n, c) => n + c.count, 0) ?? 0;
  const filtered = !!(search.q || search.category);
  return (
    <>
      <PageHeader
        title="Marketplace"
        lead={
          first
            ? `${formatCount(first.total)} app${first.total === 1 ? "" : "s"}${filtered ? " match" : " to install"}`
            : "Apps to install in this organization"
        }
      />
      <div className={pages.toolbar}>
        <SearchBox value={search.q ?? ""} onCommit={commitSearch} placeholder="Name or description" />
        <SelectField
          className={pages.filter}
          label="Category"
          value={search.category ?? "all"}
          choices={[
            { id: "all", label: `All categories (${formatCount(all)})` },
            ...(first?.categories ?? [])
              .filter((c) => c.count > 0 || c.category === search.category)
              .map((c) => ({ id: c.category, label: `${c.category} (${formatCount(c.count)})` })),
          ]}
          onChange={(category) =>
            navigate({ search: (s) => ({ ...s, category: category === "all" ? undefined : category }) })
          }
        />
        <SelectField
          className={pages.filter}
          label="Sort by"
          value={search.sort ?? (search.q ? "relevance" : "name")}
          choices={MARKET_SORTS.filter((x) => x !== "relevance" || search.q).map((x) => ({
            id: x,
            label: SORT_LABELS[x],
          }))}
          onChange={(sort) => navigate({ search: (s) => ({ ...s, sort: sort as MarketSort }) })}
        />
        <PriceViewSwitch
          value={view}
          onChange={(price) =>
            navigate({ search: (s) => ({ ...s, price: price === "monthly" ? undefined : price }), replace: true })
          }
        />
      </div>
      <ProblemBanner problem={list.error} title="The marketplace could not be loaded" />
      {list.isPending ? (
        <Card>
          <Loading what="apps" />
        </Card>
      ) : !apps.length ? (
        <Card>
          {filtered ? (
            <EmptyState title="No app matches">
              <p>
                Try other words or{" "}
                <Link to="/orgs/$org/marketplace" params={{ org }} search={{}}>
                  show every app
                </Link>
                .
              </p>
            </EmptyState>
          ) : (
            <EmptyState title="The marketplace is empty">
              <p>An operator adds apps to the catalog as AppTemplates; they show here at once.</p>
            </EmptyState>
          )}
        </Card>
      ) : (
        <>
          <ul className={p.cards} aria-label="Apps" aria-busy={list.isFetching}>
            {apps.map((app) => (
              <li key={app.name}>
                <AppCardView org={org} app={app} view={view} />
              </li>
            ))}
          </ul>
          <div className={p.more}>
            <span className={ui.muted} role="status">
              Showing {formatCount(apps.length)} of {formatCount(first?.total ?? apps.length)}
            </span>
            {list.hasNextPage && (
              <Button isDisabled={list.isFetchingNextPage} onPress={() => list.fetchNextPage()}>
                {list.isFetchingNextPage ? "Loading…" : "Load more"}
              </Button>
            )}
          </div>
        </>
      )}
    </>
  );
}

export function MarketAppPage() {
  const { org, template } = detailRoute.useParams();
  const access = useAccess(org);
  const app = useQuery(templateQuery(org, template));
  const [installing, setInstalling] = useState(false);
  if (!access || app.isPending) return <Loading what="the app" />;
  if (!app.data)
    return (
      <>
        <ProblemBanner problem={app.error} title="The app could not be loaded" />
        <Link to="/orgs/$org/marketplace" params={{ org }}>
          Back to the marketplace
        </Link>
      </>
    );
  const a = app.data;
  const free = !a.plans.length || a.plans.every((x) => x.amount === 0);
  return (
    <>
      <p>
        <Link to="/orgs/$org/marketplace" params={{ org }}>
          ← Marketplace
        </Link>
      </p>
      <div className={p.appCardHead}>
        <AppIcon name={a.displayName} icon={a.icon} large />
        <PageHeader
          title={a.displayName}
          lead={`${a.publisher ? `by ${a.publisher} · ` : ""}${a.category}${a.installedInOrg ? ` · installed ${a.installedInOrg}× here` : ""}`}
          actions={
            access.can("apps:install") ? (
              <Button variant="primary" onPress={() => setInstalling(true)}>
                Install
              </Button>
            ) : (
              <p className={ui.description}>{access.lacks("apps:install")}: you cannot install apps.</p>
            )
          }
        />
      </div>
      <div className={p.twoColumns}>
        <Card className={ui.cardBody}>
          <h2 className={pages.sectionTitle}>About</h2>
          <p>{a.description || "No description."}</p>
          <dl className={pages.details}>
            <dt>Versions</dt>
            <dd>
              {a.versions.join(", ")} (new installs get {a.defaultVersion})
            </dd>
            {a.storage && (
              <>
                <dt>Storage</dt>
                <dd>
                  {a.storage.size} at <code>{a.storage.mountPath}</code>
                </dd>
              </>
            )}
            {a.homepage && (
              <>
                <dt>Homepage</dt>
                <dd>
                  <a href={a.homepage} target="_blank" rel="noopener noreferrer">
                    {a.homepage}
                  </a>
                </dd>
              </>
            )}
          </dl>
        </Card>
        <Card className={ui.cardBody}>
          <h2 className={pages.sectionTitle}>Pricing</h2>
          {free ? (
            <p>Free: no subscription needed.</p>
          ) : (
            <ul className={p.plans}>
              {a.plans.map((plan) => (
                <li key={plan.id}>
                  <strong>{planLabel(plan)}</strong> <span className={ui.muted}>({plan.id})</span>
                </li>
              ))}
            </ul>
          )}
          {a.trial.days > 0 && (
            <p>
              {a.trial.available ? (
                <Badge tone="blue">{a.trial.days}-day free trial</Badge>
              ) : (
                <span className={ui.muted}>
                  This organization has used its {a.trial.days}-day free trial of {a.displayName}.
                </span>
              )}{" "}
              {a.trial.available && "One trial per organization; the app stops when it ends unless you subscribe."}
            </p>
          )}
        </Card>
      </div>
      <Card>
        <h2 className={`${pages.sectionTitle} ${p.cardHead}`}>Settings</h2>
        {!a.settings.length ? (
          <EmptyState title="Nothing to configure" />
        ) : (
          <div className={ui.tableWrap} data-scrolls>
            <table className={ui.table}>
              <caption className="visually-hidden">Settings of {a.displayName}</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Description</th>
                  <th scope="col">Default</th>
                </tr>
              </thead>
              <tbody>
                {a.settings.map((x) => (
                  <tr key={x.name}>
                    <td className={ui.mono}>
                      {x.name} {x.required && <Badge tone="amber">required</Badge>}{" "}
                      {x.secret && <Badge tone="grey">secret</Badge>}
                    </td>
                    <td>{x.description || "—"}</td>
                    <td className={ui.mono}>{x.generated ? "generated" : (x.default ?? "—")}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
      <Suspense fallback={null}>
        {installing && <InstallWizard org={org} template={a} onClose={() => setInstalling(false)} />}
      </Suspense>
    </>
  );
}
