// Members: search, filter by role and status, sort by any column, page through; invite, change
// roles, activate and deactivate, resend and cancel invitations. All view state is in the URL.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { getRouteApi, Link } from "@tanstack/react-router";
import { lazy, Suspense, useRef, useState } from "react";
import { Button as AriaButton } from "react-aria-components";
import type { MemberView } from "../api/client.ts";
import { FilterSelect } from "../components/NativeSelect.tsx";
import { SearchBox } from "../components/SearchBox.tsx";
import { Badge, Button, Card, EmptyState, Loading, PageHeader, ProblemBanner, ui } from "../components/ui.tsx";
import { formatCount, formatDateTime, formatRelative } from "../lib/format.ts";
import { type MemberAction, offersFor } from "../lib/offers.ts";
import { membersPageQuery, PAGE_SIZE, rolesQuery } from "../lib/queries.ts";
import { MEMBER_STATUSES, type MemberSearch, type MemberSort } from "../lib/search.ts";
import { type Access, useAccess } from "../lib/session.ts";
import p from "./pages.module.css";

// The dialogs (forms, overlays) load when first opened, not with the page.
const MemberActionDialog = lazy(() =>
  import("../components/MemberActions.tsx").then((m) => ({ default: m.MemberActionDialog })),
);
const AddUserDialog = lazy(() => import("../components/MemberActions.tsx").then((m) => ({ default: m.AddUserDialog })));

const route = getRouteApi("/orgs/$org/members");

export const STATUS_TONE = { Active: "green", Invited: "blue", Deactivated: "grey", Expired: "amber" } as const;

const COLUMNS: Array<{ sort: MemberSort; label: string }> = [
  { sort: "name", label: "Name" },
  { sort: "email", label: "Email" },
  { sort: "role", label: "Role" },
  { sort: "lastLogin", label: "Last login" },
  { sort: "status", label: "Status" },
];

function SortHeader({ column, search }: { column: (typeof COLUMNS)[number]; search: MemberSearch }) {
  const navigate = route.useNavigate();
  const active = (search.sort ?? "name") === column.sort;
  const order = search.order ?? "asc";
  return (
    <th
      scope="col"
      aria-sort={active ? (order === "asc" ? "ascending" : "descending") : "none"}
      className={column.sort === "email" ? p.wideOnly : column.sort === "lastLogin" ? p.roomyOnly : undefined}
    >
      <button
        type="button"
        className={ui.sortButton}
        onClick={() =>
          navigate({
            search: (s) => ({
              ...s,
              sort: column.sort,
              order: active && order === "asc" ? "desc" : "asc",
              page: undefined,
            }),
          })
        }
      >
        {column.label}
        <span aria-hidden="true">{active ? (order === "asc" ? "▲" : "▼") : "↕"}</span>
      </button>
    </th>
  );
}

const RowMenu = lazy(() => import("../components/RowMenu.tsx").then((m) => ({ default: m.RowMenu })));

/** The row's "Actions" button; its menu loads on the first press. */
function RowActions(props: { access: Access; member: MemberView; onAction(a: MemberAction): void }) {
  const trigger = useRef<HTMLButtonElement>(null);
  const [open, setOpen] = useState(false);
  const label = `Actions for ${props.member.displayName}`;
  return (
    <>
      <AriaButton
        ref={trigger}
        className={`${ui.button} ${ui.small}`}
        aria-label={label}
        aria-haspopup="menu"
        aria-expanded={open}
        onPress={() => setOpen(!open)}
      >
        Actions ▾
      </AriaButton>
      {open && (
        <Suspense fallback={null}>
          <RowMenu
            label={label}
            offers={offersFor(props.access, props.member)}
            triggerRef={trigger}
            onAction={props.onAction}
            onClose={() => setOpen(false)}
          />
        </Suspense>
      )}
    </>
  );
}

export function MembersPage() {
  const { org } = route.useParams();
  const search = route.useSearch();
  const navigate = route.useNavigate();
  const access = useAccess(org);
  const queryClient = useQueryClient();
  const page = search.page ?? 1;
  const { page: _page, ...filters } = search;
  const members = useQuery(membersPageQuery(queryClient, org, filters, page));
  const roles = useQuery({ ...rolesQuery(org), enabled: !!access?.can("roles:view") });
  const [adding, setAdding] = useState(false);
  const [open, setOpen] = useState<{ member: MemberView; action: MemberAction } | undefined>();

  if (!access) return <Loading what="members" />;
  const data = members.data;
  const total = data?.total ?? 0;
  const first = total ? (page - 1) * PAGE_SIZE + 1 : 0;
  const last = data ? first + data.items.length - (data.items.length ? 1 : 0) : 0;
  const filtered = !!(search.q || search.role || search.status);
  const roleList = roles.data ?? [];

  return (
    <>
      <PageHeader
        title="Members"
        lead={data ? `${formatCount(total)} ${filtered ? "matching" : "in this organization"}` : undefined}
        actions={
          access.can("members:invite") ? (
            <Button variant="primary" onPress={() => setAdding(true)}>
              Add User
            </Button>
          ) : (
            <p className={ui.description}>{access.lacks("members:invite")}: you cannot add users.</p>
          )
        }
      />
      <div className={p.toolbar}>
        <SearchBox
          value={search.q ?? ""}
          placeholder="Name or email"
          onCommit={(q) => navigate({ search: (s) => ({ ...s, q: q || undefined, page: undefined }), replace: true })}
        />
        {access.can("roles:view") && (
          <FilterSelect
            className={p.filter}
            label="Role"
            all="All roles"
            value={search.role}
            choices={roleList.map((r) => ({ id: r.name, label: r.displayName }))}
            onChange={(role) => navigate({ search: (s) => ({ ...s, role, page: undefined }) })}
          />
        )}
        <FilterSelect
          className={p.filter}
          label="Status"
          all="All statuses"
          value={search.status}
          choices={MEMBER_STATUSES}
          onChange={(status) => navigate({ search: (s) => ({ ...s, status, page: undefined }) })}
        />
      </div>
      <ProblemBanner problem={members.error} title="The members could not be loaded" />
      <Card>
        {members.isPending ? (
          <Loading what="members" />
        ) : !data?.items.length ? (
          filtered ? (
            <EmptyState title="No member matches">
              <p>
                Try another search or{" "}
                <Link to="/orgs/$org/members" params={{ org }} search={{}}>
                  clear the filters
                </Link>
                .
              </p>
            </EmptyState>
          ) : (
            <EmptyState title="No members yet">
              <p>Add the people who work here with “Add User”: they get an email invitation.</p>
            </EmptyState>
          )
        ) : (
          <div className={ui.tableWrap} data-scrolls>
            <table className={ui.table} aria-busy={members.isFetching}>
              <caption className="visually-hidden">
                Members, sorted by {search.sort ?? "name"} {search.order === "desc" ? "descending" : "ascending"}
              </caption>
              <thead>
                <tr>
                  {COLUMNS.map((c) => (
                    <SortHeader key={c.sort} column={c} search={search} />
                  ))}
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.items.map((m) => (
                  <tr key={m.name}>
                    <td>
                      <Link to="/orgs/$org/members/$member" params={{ org, member: m.name }} className={p.strongLink}>
                        {m.displayName}
                      </Link>
                      <div className={`${p.narrowOnly} ${ui.description} ${p.breakable}`}>{m.email}</div>
                    </td>
                    <td className={`${p.wideOnly} ${p.breakable}`}>{m.email}</td>
                    <td>{m.roleDisplayName}</td>
                    <td className={`${ui.nowrap} ${p.roomyOnly}`} title={formatDateTime(m.lastLoginAt)}>
                      {m.lastLoginAt ? formatRelative(m.lastLoginAt) : "Never"}
                    </td>
                    <td>
                      <Badge tone={STATUS_TONE[m.status]}>{m.status}</Badge>
                    </td>
                    <td className={p.actionsCell}>
                      <RowActions access={access} member={m} onAction={(action) => setOpen({ member: m, action })} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
      {data && total > 0 && (
        <nav className={p.pager} aria-label="Pages">
          <span className={ui.muted}>
            {formatCount(first)}–{formatCount(last)} of {formatCount(total)}
          </span>
          <div className={p.pagerButtons}>
            <Button
              small
              isDisabled={page <= 1}
              onPress={() => navigate({ search: (s) => ({ ...s, page: page - 1 > 1 ? page - 1 : undefined }) })}
            >
              Previous
            </Button>
            <Button
              small
              isDisabled={!data.nextCursor}
              onPress={() => navigate({ search: (s) => ({ ...s, page: page + 1 }) })}
            >
              Next
            </Button>
          </div>
        </nav>
      )}
      <Suspense fallback={null}>
        {adding && <AddUserDialog org={org} access={access} roles={roleList} isOpen onOpenChange={setAdding} />}
        {open && (
          <MemberActionDialog
            org={org}
            access={access}
            roles={roleList}
            open={open}
            onClose={() => setOpen(undefined)}
          />
        )}
      </Suspense>
    </>
  );
}
