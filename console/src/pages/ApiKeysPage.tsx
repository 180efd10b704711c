// API keys: for scripts (Standard) and AI agents (AI_AGENT, with a lower rate limit). The
// secret exists in the create response only: shown once, then dropped from the page and from
// memory when the dialog closes.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { getRouteApi } from "@tanstack/react-router";
import { useState } from "react";
import { Form } from "react-aria-components";
import { ApiProblem, api, type CreatedKey, type KeyView, unwrap } from "../api/client.ts";
import { DialogActions, Field, ModalDialog } from "../components/forms.tsx";
import { PermissionPicker } from "../components/PermissionPicker.tsx";
import { SelectField } from "../components/SelectField.tsx";
import { Badge, Banner, Button, Card, EmptyState, Loading, PageHeader, ProblemBanner, ui } from "../components/ui.tsx";
import { formatDate, formatDateTime, formatRelative } from "../lib/format.ts";
import { apiKeysQuery, keys } from "../lib/queries.ts";
import { type Access, useAccess } from "../lib/session.ts";
import p from "./pages.module.css";

const route = getRouteApi("/orgs/$org/api-keys");

const TYPES = [
  { id: "STANDARD", label: "Standard", hint: "Scripts and integrations" },
  { id: "AI_AGENT", label: "AI agent", hint: "For AI agents; a lower rate limit" },
];
const EXPIRY = [
  { id: "7", label: "7 days" },
  { id: "30", label: "30 days" },
  { id: "90", label: "90 days" },
  { id: "365", label: "1 year" },
];
const STATUS_TONE = { active: "green", expired: "amber", revoked: "grey" } as const;

function SecretOnce({ created }: { created: CreatedKey }) {
  const [copied, setCopied] = useState(false);
  return (
    <>
      <Banner tone="warning">
        Copy this key now: it is shown only once. Atrium keeps only a hash and cannot show it again.
      </Banner>
      <div className={p.secret}>
        <code className={p.secretValue} data-testid="key-secret">
          {created.secret}
        </code>
        <Button
          onPress={async () => {
            await navigator.clipboard.writeText(created.secret);
            setCopied(true);
          }}
        >
          {copied ? "Copied" : "Copy"}
        </Button>
      </div>
      <p className={ui.description} role="status">
        {copied ? "The key is on your clipboard." : `Use it as: Authorization: Bearer ${created.key.prefix}…`}
      </p>
    </>
  );
}

function CreateKeyDialog(props: { org: string; access: Access; onClose(): void }) {
  const { org, access } = props;
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [type, setType] = useState<string | null>("STANDARD");
  const [expiry, setExpiry] = useState<string | null>("90");
  const [scopes, setScopes] = useState<string[]>([]);
  const create = useMutation({
    mutationFn: () =>
      unwrap(
        api.POST("/api/orgs/{org}/apikeys", {
          params: { path: { org } },
          body: {
            name,
            type: (type ?? "STANDARD") as "STANDARD" | "AI_AGENT",
            scopes: scopes as never[],
            expiresInDays: Number(expiry ?? "90"),
          },
        }),
      ),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.apiKeys(org) }),
  });
  const close = () => {
    // The secret lives only in this mutation's state: reset it so nothing keeps it.
    create.reset();
    props.onClose();
  };
  const problem = create.error instanceof ApiProblem ? create.error : undefined;
  if (create.data)
    return (
      <ModalDialog
        title={`Key “${create.data.key.name}” created`}
        isOpen
        onOpenChange={(o) => !o && close()}
        isDismissable={false}
      >
        <SecretOnce created={create.data} />
        <DialogActions>
          <Button variant="primary" onPress={close}>
            I have stored it
          </Button>
        </DialogActions>
      </ModalDialog>
    );
  return (
    <ModalDialog title="Create API key" isOpen wide onOpenChange={(o) => !o && close()}>
      <ProblemBanner problem={create.error} title="The key was not created" />
      <Form
        validationBehavior="aria"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <div className={p.twoCols}>
          <Field
            label="Name"
            value={name}
            onChange={setName}
            isRequired
            maxLength={100}
            autoFocus
            error={problem?.fieldMessage("name")}
            description="What uses it, e.g. “nightly backup”."
          />
          <SelectField
            label="Type"
            value={type}
            onChange={setType}
            choices={TYPES}
            error={problem?.fieldMessage("type")}
          />
          <SelectField
            label="Expires after"
            value={expiry}
            onChange={setExpiry}
            choices={EXPIRY}
            error={problem?.fieldMessage("expiresInDays")}
          />
        </div>
        <h3 className={p.sectionTitle}>Scopes</h3>
        <p className={ui.description}>A key can do only what its scopes allow, and never more than you.</p>
        <PermissionPicker value={scopes} onChange={setScopes} mayGrant={access.can} />
        {problem?.fieldMessage("scopes") && <p className={ui.fieldError}>Scopes: {problem.fieldMessage("scopes")}</p>}
        <DialogActions>
          <Button onPress={close}>Cancel</Button>
          <Button type="submit" variant="primary" isDisabled={create.isPending || !name.trim() || !scopes.length}>
            Create key
          </Button>
        </DialogActions>
      </Form>
    </ModalDialog>
  );
}

function RevokeDialog(props: { org: string; apiKey: KeyView; onClose(): void }) {
  const { org, apiKey } = props;
  const queryClient = useQueryClient();
  const revoke = useMutation({
    mutationFn: () =>
      unwrap(api.DELETE("/api/orgs/{org}/apikeys/{key}", { params: { path: { org, key: apiKey.id } } })),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: keys.apiKeys(org) });
      props.onClose();
    },
  });
  return (
    <ModalDialog
      title={`Revoke “${apiKey.name}”?`}
      isOpen
      role="alertdialog"
      onOpenChange={(o) => !o && props.onClose()}
    >
      <ProblemBanner problem={revoke.error} title="The key was not revoked" />
      <p>
        Anything using <code>{apiKey.prefix}…</code> stops working at once. <strong>This cannot be undone</strong>: a
        revoked key never works again.
      </p>
      <DialogActions>
        <Button onPress={props.onClose}>Keep key</Button>
        <Button variant="danger" isDisabled={revoke.isPending} onPress={() => revoke.mutate()}>
          Revoke key
        </Button>
      </DialogActions>
    </ModalDialog>
  );
}

export function ApiKeysPage() {
  const { org } = route.useParams();
  const access = useAccess(org);
  const list = useQuery(apiKeysQuery(org));
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<KeyView | undefined>();
  if (!access) return <Loading what="API keys" />;
  const mayRevoke = (k: KeyView) => k.createdBy === access.email || access.can("apikeys:revoke");
  const items = list.data ?? [];
  return (
    <>
      <PageHeader
        title="API keys"
        lead={
          access.can("apikeys:view")
            ? "Keys for scripts and AI agents in this organization."
            : "Your keys for scripts and AI agents (your role shows only your own)."
        }
        actions={
          access.can("apikeys:create") ? (
            <Button variant="primary" onPress={() => setCreating(true)}>
              Create key
            </Button>
          ) : (
            <p className={ui.description}>{access.lacks("apikeys:create")}: you cannot create keys.</p>
          )
        }
      />
      <ProblemBanner problem={list.error} title="The keys could not be loaded" />
      <Card>
        {list.isPending ? (
          <Loading what="API keys" />
        ) : !items.length ? (
          <EmptyState title="No API keys yet">
            <p>Create a key to call the Atrium API from a script or an AI agent; it is shown once.</p>
          </EmptyState>
        ) : (
          <div className={ui.tableWrap} data-scrolls>
            <table className={ui.table}>
              <caption className="visually-hidden">API keys, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Prefix</th>
                  <th scope="col">Type</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Status</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {items.map((k) => (
                  <tr key={k.id}>
                    <td>
                      <strong>{k.name}</strong>
                      <div className={ui.description}>
                        {k.scopes.length} scope(s) · by {k.createdBy}
                      </div>
                    </td>
                    <td className={`${ui.mono} ${ui.nowrap}`}>{k.prefix}…</td>
                    <td>{k.type === "AI_AGENT" ? "AI agent" : "Standard"}</td>
                    <td className={ui.nowrap}>{formatDate(k.createdAt)}</td>
                    <td className={ui.nowrap} title={formatDateTime(k.lastUsedAt)}>
                      {formatRelative(k.lastUsedAt)}
                    </td>
                    <td>
                      <Badge tone={STATUS_TONE[k.status]}>
                        {k.status === "active" && k.expiresAt ? `Active until ${formatDate(k.expiresAt)}` : k.status}
                      </Badge>
                    </td>
                    <td className={p.actionsCell}>
                      {k.status === "revoked" ? null : mayRevoke(k) ? (
                        <Button small onPress={() => setRevoking(k)} aria-label={`Revoke ${k.name}`}>
                          Revoke
                        </Button>
                      ) : (
                        <span className={ui.description}>Needs apikeys:revoke</span>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
      {creating && <CreateKeyDialog org={org} access={access} onClose={() => setCreating(false)} />}
      {revoking && <RevokeDialog org={org} apiKey={revoking} onClose={() => setRevoking(undefined)} />}
    </>
  );
}
