// Roles: the built-in ones and custom roles made from the permission catalog, grouped as the
// catalog groups them. Nobody defines a role above their rank or with permissions they lack.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { getRouteApi } from "@tanstack/react-router";
import { useState } from "react";
import { Form } from "react-aria-components";
import { mayAssign, mayDefineRole } from "../../../crds/src/rank.ts";
import { MAX_LEVEL } from "../../../crds/src/roles.ts";
import { ApiProblem, api, type RoleView, unwrap } from "../api/client.ts";
import { DialogActions, Field, ModalDialog } from "../components/forms.tsx";
import { PermissionPicker } from "../components/PermissionPicker.tsx";
import { SelectField } from "../components/SelectField.tsx";
import { Badge, Button, Card, EmptyState, Loading, PageHeader, ProblemBanner, ui } from "../components/ui.tsx";
import { formatCount } from "../lib/format.ts";
import { keys, rolesQuery } from "../lib/queries.ts";
import { type Access, useAccess } from "../lib/session.ts";
import p from "./pages.module.css";

const route = getRouteApi("/orgs/$org/roles");

/** Why the caller may not edit or delete this role, if they may not. */
function roleRefusal(access: Access, role: RoleView, permission: "roles:update" | "roles:delete") {
  if (role.builtIn) return "Built-in roles cannot be changed or deleted";
  const lacks = access.lacks(permission);
  if (lacks) return lacks;
  if (role.level >= access.level && access.level < MAX_LEVEL) return "You can only change roles below your own rank";
  return undefined;
}

function RoleDialog(props: { org: string; access: Access; role?: RoleView; onClose(): void }) {
  const { org, access, role } = props;
  const queryClient = useQueryClient();
  const [name, setName] = useState(role?.name ?? "");
  const [displayName, setDisplayName] = useState(role?.displayName ?? "");
  const [description, setDescription] = useState(role?.description ?? "");
  const [level, setLevel] = useState(String(role?.level ?? Math.min(access.level - 10, 50)));
  const [permissions, setPermissions] = useState<string[]>(role?.permissions ?? []);
  const levelNumber = Number(level);
  const levelError =
    level && (!Number.isInteger(levelNumber) || levelNumber < 1 || levelNumber > 99)
      ? "must be a whole number from 1 to 99"
      : undefined;
  const save = useMutation({
    mutationFn: () => {
      const shape = { displayName, description, level: levelNumber, permissions: permissions as never[] };
      return role
        ? unwrap(api.PATCH("/api/orgs/{org}/roles/{role}", { params: { path: { org, role: role.name } }, body: shape }))
        : unwrap(api.POST("/api/orgs/{org}/roles", { params: { path: { org } }, body: { name, ...shape } }));
    },
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: keys.roles(org) });
      props.onClose();
    },
  });
  const problem = save.error instanceof ApiProblem ? save.error : undefined;
  const verdict = levelError ? undefined : mayDefineRole(access, { level: levelNumber, permissions });
  return (
    <ModalDialog
      title={role ? `Edit role ${role.displayName}` : "New Role"}
      isOpen
      wide
      onOpenChange={(o) => !o && props.onClose()}
    >
      <ProblemBanner problem={save.error} title={role ? "The role was not saved" : "The role was not created"} />
      <Form
        validationBehavior="aria"
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <div className={p.twoCols}>
          <Field
            label="Display name"
            value={displayName}
            onChange={setDisplayName}
            isRequired
            maxLength={100}
            autoFocus
            error={problem?.fieldMessage("displayName")}
          />
          {role ? (
            <p className={ui.field}>
              <span className={ui.label}>Name</span>
              <code>{role.name}</code>
            </p>
          ) : (
            <Field
              label="Name"
              value={name}
              onChange={setName}
              isRequired
              maxLength={63}
              error={problem?.fieldMessage("name")}
              description="Lowercase letters, digits and dashes, e.g. release-manager."
            />
          )}
          <Field
            label="Level"
            value={level}
            onChange={setLevel}
            isRequired
            error={levelError ?? problem?.fieldMessage("level")}
            description={`Rank from 1 to 99; below your own (${access.level}). Higher ranks manage lower ones.`}
          />
          <Field
            label="Description"
            value={description}
            onChange={setDescription}
            maxLength={500}
            error={problem?.fieldMessage("description")}
          />
        </div>
        <h3 className={p.sectionTitle}>Permissions</h3>
        <PermissionPicker value={permissions} onChange={setPermissions} mayGrant={access.can} />
        {problem?.fieldMessage("permissions") && <p className={ui.fieldError}>{problem.fieldMessage("permissions")}</p>}
        {verdict && !verdict.ok && <p className={ui.fieldError}>{verdict.reason}</p>}
        <DialogActions>
          <Button onPress={props.onClose}>Cancel</Button>
          <Button
            type="submit"
            variant="primary"
            isDisabled={save.isPending || !!levelError || (verdict && !verdict.ok)}
          >
            {role ? "Save role" : "Create role"}
          </Button>
        </DialogActions>
      </Form>
    </ModalDialog>
  );
}

function DeleteRoleDialog(props: { org: string; access: Access; role: RoleView; roles: RoleView[]; onClose(): void }) {
  const { org, role } = props;
  const queryClient = useQueryClient();
  const targets = props.roles
    .filter((r) => r.name !== role.name)
    .map((r) => {
      const v = mayAssign(props.access, r);
      return {
        id: r.name,
        label: r.displayName,
        hint: `Level ${r.level}`,
        disabledReason: v.ok ? undefined : v.reason,
      };
    });
  const [reassignTo, setReassignTo] = useState<string | null>(targets.find((t) => !t.disabledReason)?.id ?? null);
  const remove = useMutation({
    mutationFn: () =>
      unwrap(
        api.DELETE("/api/orgs/{org}/roles/{role}", {
          params: {
            path: { org, role: role.name },
            query: role.memberCount && reassignTo ? { reassignTo } : {},
          },
        }),
      ),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ["orgs", org] });
      props.onClose();
    },
  });
  const problem = remove.error instanceof ApiProblem ? remove.error : undefined;
  return (
    <ModalDialog
      title={`Delete role ${role.displayName}`}
      isOpen
      role="alertdialog"
      onOpenChange={(o) => !o && props.onClose()}
    >
      <ProblemBanner problem={remove.error} title="The role was not deleted" />
      {role.memberCount ? (
        <>
          <p>
            {formatCount(role.memberCount)} member(s) hold this role. Choose the role they move to; then the role is
            deleted.
          </p>
          <SelectField
            label="Move its members to"
            value={reassignTo}
            onChange={setReassignTo}
            choices={targets}
            error={problem?.fieldMessage("reassignTo")}
          />
        </>
      ) : (
        <p>Nobody holds this role. Deleting it cannot be undone.</p>
      )}
      <DialogActions>
        <Button onPress={props.onClose}>Keep role</Button>
        <Button
          variant="danger"
          isDisabled={remove.isPending || (!!role.memberCount && !reassignTo)}
          onPress={() => remove.mutate()}
        >
          Delete role
        </Button>
      </DialogActions>
    </ModalDialog>
  );
}

export function RolesPage() {
  const { org } = route.useParams();
  const access = useAccess(org);
  const roles = useQuery(rolesQuery(org));
  const [editing, setEditing] = useState<RoleView | "new" | undefined>();
  const [deleting, setDeleting] = useState<RoleView | undefined>();
  if (!access) return <Loading what="roles" />;
  const list = roles.data ?? [];
  return (
    <>
      <PageHeader
        title="Roles"
        lead="Who may do what. A higher level manages members and roles below it."
        actions={
          access.can("roles:create") ? (
            <Button variant="primary" onPress={() => setEditing("new")}>
              New Role
            </Button>
          ) : (
            <p className={ui.description}>{access.lacks("roles:create")}: you cannot create roles.</p>
          )
        }
      />
      <ProblemBanner problem={roles.error} title="The roles could not be loaded" />
      <Card>
        {roles.isPending ? (
          <Loading what="roles" />
        ) : !list.length ? (
          <EmptyState title="No roles">
            <p>The operator creates the built-in roles when an organization is made; check that it runs.</p>
          </EmptyState>
        ) : (
          <div className={ui.tableWrap} data-scrolls>
            <table className={ui.table}>
              <caption className="visually-hidden">Roles, highest level first</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Level</th>
                  <th scope="col">Members</th>
                  <th scope="col">Permissions</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.map((r) => {
                  const noEdit = roleRefusal(access, r, "roles:update");
                  const noDelete = roleRefusal(access, r, "roles:delete");
                  return (
                    <tr key={r.name}>
                      <td>
                        <strong>{r.displayName}</strong>{" "}
                        {r.builtIn ? <Badge tone="grey">Built-in</Badge> : <Badge tone="blue">Custom</Badge>}
                        {r.description && <div className={ui.description}>{r.description}</div>}
                      </td>
                      <td>{r.level}</td>
                      <td>{formatCount(r.memberCount)}</td>
                      <td>{r.permissions.length}</td>
                      <td className={p.actionsCell}>
                        {r.builtIn ? (
                          <span className={`${ui.description} ${ui.nowrap}`}>Fixed</span>
                        ) : (
                          <div className={p.actionsRow}>
                            <Button
                              small
                              isDisabled={!!noEdit}
                              onPress={() => setEditing(r)}
                              aria-label={`Edit ${r.displayName}`}
                            >
                              Edit
                            </Button>
                            <Button
                              small
                              isDisabled={!!noDelete}
                              onPress={() => setDeleting(r)}
                              aria-label={`Delete ${r.displayName}`}
                            >
                              Delete
                            </Button>
                            {(noEdit || noDelete) && <span className={ui.description}>{noEdit ?? noDelete}</span>}
                          </div>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </Card>
      {editing && (
        <RoleDialog
          org={org}
          access={access}
          role={editing === "new" ? undefined : editing}
          onClose={() => setEditing(undefined)}
        />
      )}
      {deleting && (
        <DeleteRoleDialog
          org={org}
          access={access}
          role={deleting}
          roles={list}
          onClose={() => setDeleting(undefined)}
        />
      )}
    </>
  );
}
