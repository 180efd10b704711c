// An installed app: status, health, conditions and recent events, its address, subscription,
// live logs, settings (secrets only as set / not set), and restart, stop, start and uninstall.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { getRouteApi, Link, useNavigate } from "@tanstack/react-router";
import { useEffect, useRef, useState } from "react";
import { Form } from "react-aria-components";
import { ApiProblem, type AppDetail, api, unwrap } from "../api/client.ts";
import { type IdlePolicy, IdlePolicyFields, RadioField } from "../components/apps.tsx";
import { DialogActions, Field, ModalDialog } from "../components/forms.tsx";
import { Badge, Banner, Button, Card, EmptyState, Loading, PageHeader, ProblemBanner, ui } from "../components/ui.tsx";
import { statusOf, subscriptionState, trialNote } from "../lib/app-status.ts";
import { appKeys, appQuery } from "../lib/apps.ts";
import { formatDate, formatDateTime, formatRelative } from "../lib/format.ts";
import { formatMoney } from "../lib/prices.ts";
import { type Access, useAccess } from "../lib/session.ts";
import p from "./apps.module.css";
import pages from "./pages.module.css";

const route = getRouteApi("/orgs/$org/apps/$app");

/** Ready and Available are good when True, Degraded bad when True; Idle and Waking just are. */
function conditionTone(c: { type: string; status: string }): "green" | "amber" | "red" | "grey" {
  if (c.type === "Ready" || c.type === "Available") return c.status === "True" ? "green" : "amber";
  if (c.type === "Degraded") return c.status === "True" ? "red" : "grey";
  return "grey";
}
const MOVING = new Set(["Pending", "Deploying", "Starting", "Stopping"]);
/** Lines kept in memory: a long follow drops the oldest. */
const MAX_LINES = 1000;

/** Follows the app's log stream (Server-Sent Events) while the app runs; keeps the last lines. */
function Logs({ org, app, running }: { org: string; app: string; running: boolean }) {
  const [lines, setLines] = useState<string[]>([]);
  const [state, setState] = useState<"connecting" | "live" | "ended">("connecting");
  const box = useRef<HTMLPreElement>(null);
  useEffect(() => {
    if (!running) return;
    setState("connecting");
    const source = new EventSource(
      `/api/orgs/${encodeURIComponent(org)}/apps/${encodeURIComponent(app)}/logs?follow=true&tail=200`,
    );
    source.onopen = () => setState("live");
    source.addEventListener("line", (e) => {
      const line = JSON.parse((e as MessageEvent<string>).data) as string;
      setState("live");
      setLines((old) => (old.length >= MAX_LINES ? [...old.slice(old.length - MAX_LINES + 1), line] : [...old, line]));
    });
    const end = () => {
      source.close();
      setState("ended");
    };
    source.addEventListener("end", end);
    source.onerror = end;
    return () => source.close();
  }, [org, app, running]);
  // Keep the newest line in view, unless the reader scrolled up.
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs when lines arrive
  useEffect(() => {
    const el = box.current;
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 80) el.scrollTop = el.scrollHeight;
  }, [lines]);
  return (
    <Card>
      <div className={p.cardHead}>
        <h2 className={pages.sectionTitle}>Logs</h2>
        <span className={ui.description} role="status">
          {!running
            ? "The app is not running: no logs to follow."
            : state === "live"
              ? `Following · last ${lines.length} line(s)`
              : state === "ended"
                ? "The stream ended; reload to follow again."
                : "Waiting for log lines…"}
        </span>
      </div>
      {/* Not running and nothing read: the line above says so, without an empty black box. */}
      {(running || lines.length > 0) && (
        <pre
          className={`${p.logs} ${lines.length ? "" : p.logsEmpty}`}
          ref={box}
          role="log"
          aria-label="Log lines"
          // biome-ignore lint/a11y/noNoninteractiveTabindex: the log scrolls, so the keyboard must reach it
          tabIndex={0}
        >
          {lines.join("\n")}
        </pre>
      )}
    </Card>
  );
}

function UninstallDialog({ org, app, onClose }: { org: string; app: AppDetail; onClose(): void }) {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [typed, setTyped] = useState("");
  const [data, setData] = useState("keep");
  const remove = useMutation({
    mutationFn: () =>
      unwrap(
        api.DELETE("/api/orgs/{org}/apps/{app}", {
          params: { path: { org, app: app.name } },
          body: { confirm: typed, deleteData: data === "delete" },
        }),
      ),
    onSuccess: async () => {
      queryClient.removeQueries({ queryKey: appKeys.app(org, app.name) });
      await queryClient.invalidateQueries({ queryKey: appKeys.apps(org) });
      onClose();
      await navigate({ to: "/orgs/$org/apps", params: { org } });
    },
  });
  const problem = remove.error instanceof ApiProblem ? remove.error : undefined;
  return (
    <ModalDialog title={`Uninstall ${app.name}?`} isOpen role="alertdialog" onOpenChange={(o) => !o && onClose()}>
      <ProblemBanner problem={remove.error} title="The app was not uninstalled" />
      <p>The app stops and its address stops answering. This cannot be undone.</p>
      <Form
        validationBehavior="aria"
        onSubmit={(e) => {
          e.preventDefault();
          remove.mutate();
        }}
      >
        <RadioField
          label="Its data"
          value={data}
          onChange={setData}
          choices={[
            { id: "keep", label: "Keep the volume", hint: "a new install of the same name can use it" },
            { id: "delete", label: "Delete the volume", hint: "the data is gone for good" },
          ]}
        />
        <Field
          label={`Type “${app.name}” to confirm`}
          value={typed}
          onChange={setTyped}
          autoComplete="off"
          error={problem?.fieldMessage("confirm")}
        />
        <DialogActions>
          <Button onPress={onClose}>Keep app</Button>
          <Button type="submit" variant="danger" isDisabled={remove.isPending || typed !== app.name}>
            Uninstall
          </Button>
        </DialogActions>
      </Form>
    </ModalDialog>
  );
}

/**
 * Change settings, access and idle policy: only what changed is sent (one rollout for env).
 * A secret field left empty keeps the stored value; its value is never shown.
 */
function SettingsDialog({ org, app, onClose }: { org: string; app: AppDetail; onClose(): void }) {
  const queryClient = useQueryClient();
  const [env, setEnv] = useState<Record<string, string>>(
    Object.fromEntries(app.settings.filter((x) => !x.secret).map((x) => [x.name, x.value ?? ""])),
  );
  const [accessPolicy, setAccessPolicy] = useState<string>(app.access.policy);
  const [idle, setIdle] = useState<IdlePolicy>(app.idle.policy === "AlwaysOn" ? "AlwaysOn" : "Auto");
  const [timeout, setIdleTimeout] = useState(app.idle.timeout);
  const save = useMutation({
    mutationFn: () => {
      const changedEnv = Object.fromEntries(
        app.settings
          .filter((x) => (x.secret ? !!env[x.name] : (env[x.name] ?? "") !== (x.value ?? "")))
          .map((x) => [x.name, env[x.name] === "" ? null : (env[x.name] ?? null)]),
      );
      const body: Record<string, unknown> = {};
      if (Object.keys(changedEnv).length) body.env = changedEnv;
      if (accessPolicy !== app.access.policy)
        body.access = { policy: accessPolicy, ...(accessPolicy === "Roles" ? { roles: app.access.roles } : {}) };
      // A stopped app keeps its stop: its idle policy changes with Start.
      if (
        app.idle.policy !== "Stopped" &&
        (idle !== app.idle.policy || (idle === "Auto" && timeout !== app.idle.timeout))
      )
        body.idle = { policy: idle, ...(idle === "Auto" ? { timeout } : {}) };
      return unwrap(
        api.PATCH("/api/orgs/{org}/apps/{app}", { params: { path: { org, app: app.name } }, body: body as never }),
      );
    },
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: appKeys.apps(org) });
      onClose();
    },
  });
  const problem = save.error instanceof ApiProblem ? save.error : undefined;
  return (
    <ModalDialog title={`Settings of ${app.name}`} isOpen wide onOpenChange={(o) => !o && onClose()}>
      <ProblemBanner problem={save.error} title="The settings were not saved" />
      <Form
        validationBehavior="aria"
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <div className={pages.twoCols}>
          {app.settings.map((x) => (
            <Field
              key={x.name}
              label={x.name}
              type={x.secret ? "password" : "text"}
              autoComplete={x.secret ? "new-password" : "off"}
              value={env[x.name] ?? ""}
              onChange={(v) => setEnv({ ...env, [x.name]: v })}
              error={problem?.fieldMessage(`env/${x.name}`)}
              description={
                x.secret ? `${x.set ? "Set" : "Not set"}; leave empty to keep it.` : x.description || undefined
              }
            />
          ))}
        </div>
        <div className={pages.twoCols}>
          <RadioField
            label="Who can open it"
            value={accessPolicy}
            onChange={setAccessPolicy}
            error={problem?.fieldMessage("access/policy")}
            choices={[
              { id: "Public", label: "Public" },
              { id: "Members", label: "Members" },
              { id: "Roles", label: "Roles", disabled: app.access.policy !== "Roles", hint: "choose roles at install" },
            ]}
          />
          <IdlePolicyFields
            policy={idle}
            onPolicyChange={setIdle}
            timeout={timeout}
            onTimeoutChange={setIdleTimeout}
            policyError={problem?.fieldMessage("idle/policy")}
            timeoutError={problem?.fieldMessage("idle/timeout")}
          />
        </div>
        <DialogActions>
          <Button onPress={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" isDisabled={save.isPending}>
            Save settings
          </Button>
        </DialogActions>
      </Form>
    </ModalDialog>
  );
}

function Actions({ org, app, access }: { org: string; app: AppDetail; access: Access }) {
  const queryClient = useQueryClient();
  const [uninstalling, setUninstalling] = useState(false);
  const [editing, setEditing] = useState(false);
  const act = useMutation({
    mutationFn: (action: "restart" | "stop" | "start") =>
      unwrap(api.POST(`/api/orgs/{org}/apps/{app}/${action}`, { params: { path: { org, app: app.name } } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: appKeys.apps(org) }),
  });
  const restartReason = access.lacks("apps:restart");
  const stopped = app.phase === "Stopped" || app.phase === "Stopping" || app.idle.policy === "Stopped";
  return (
    <div className={pages.actionsRow}>
      {app.url && app.phase === "Running" ? (
        <a className={`${ui.button} ${ui.primary}`} href={app.url} target="_blank" rel="noopener noreferrer">
          Open app
        </a>
      ) : app.url ? (
        <a className={ui.button} href={app.url} target="_blank" rel="noopener noreferrer">
          Open app (wakes it)
        </a>
      ) : null}
      <Button isDisabled={!!restartReason || act.isPending} onPress={() => act.mutate("restart")}>
        Restart
      </Button>
      {stopped ? (
        <Button isDisabled={!!restartReason || act.isPending} onPress={() => act.mutate("start")}>
          Start
        </Button>
      ) : (
        <Button isDisabled={!!restartReason || act.isPending} onPress={() => act.mutate("stop")}>
          Stop
        </Button>
      )}
      <Button isDisabled={!!access.lacks("apps:configure")} onPress={() => setEditing(true)}>
        Settings…
      </Button>
      <Button variant="danger" isDisabled={!!access.lacks("apps:uninstall")} onPress={() => setUninstalling(true)}>
        Uninstall
      </Button>
      {restartReason && <p className={ui.description}>{restartReason}: you cannot restart, stop or start it.</p>}
      {act.error && <ProblemBanner problem={act.error} title="That did not work" />}
      {editing && <SettingsDialog org={org} app={app} onClose={() => setEditing(false)} />}
      {uninstalling && <UninstallDialog org={org} app={app} onClose={() => setUninstalling(false)} />}
    </div>
  );
}

export function AppPage() {
  const { org, app: name } = route.useParams();
  const access = useAccess(org);
  const app = useQuery({
    ...appQuery(org, name),
    // While it moves (deploying, stopping, starting) the page follows it closely.
    refetchInterval: (q) => (q.state.data && MOVING.has(q.state.data.phase) ? 1500 : 10_000),
  });
  if (!access || app.isPending) return <Loading what="the app" />;
  if (!app.data)
    return (
      <>
        <ProblemBanner problem={app.error} title="The app could not be loaded" />
        <Link to="/orgs/$org/apps" params={{ org }}>
          Back to the apps
        </Link>
      </>
    );
  const a = app.data;
  const status = statusOf(a);
  const trial = trialNote(a);
  const sub = a.subscription;
  return (
    <>
      <p>
        <Link to="/orgs/$org/apps" params={{ org }}>
          ← Apps
        </Link>
      </p>
      <PageHeader
        title={a.name}
        lead={
          <span className={p.statusLine}>
            <span>
              {a.displayName} {a.version}
            </span>
            <Badge tone={status.tone}>{status.label}</Badge>
            {trial && <Badge tone="amber">{trial}</Badge>}
          </span>
        }
        actions={<Actions org={org} app={a} access={access} />}
      />
      {status.detail && <Banner tone={status.tone === "red" ? "warning" : "info"}>{status.detail}</Banner>}
      <div className={p.twoColumns}>
        <Card className={ui.cardBody}>
          <h2 className={pages.sectionTitle}>Status</h2>
          <dl className={pages.details}>
            <dt>Phase</dt>
            <dd>{a.phase}</dd>
            <dt>Health</dt>
            <dd>{a.health}</dd>
            <dt>Address</dt>
            <dd>{a.url ? <code>{a.url}</code> : "Not yet assigned"}</dd>
            <dt>Last active</dt>
            <dd title={formatDateTime(a.lastActivity)}>{formatRelative(a.lastActivity)}</dd>
            {a.stopsAt && a.phase === "Running" && (
              <>
                <dt>Stops if idle</dt>
                <dd>{formatDateTime(a.stopsAt)}</dd>
              </>
            )}
            <dt>Installed</dt>
            <dd>{formatDate(a.createdAt)}</dd>
          </dl>
        </Card>
        <Card className={ui.cardBody}>
          <h2 className={pages.sectionTitle}>Subscription</h2>
          {!sub ? (
            <p>Free app: no subscription.</p>
          ) : (
            <dl className={pages.details}>
              <dt>State</dt>
              <dd>{subscriptionState(sub.state)}</dd>
              {sub.plan && (
                <>
                  <dt>Plan</dt>
                  <dd>
                    {sub.plan}
                    {sub.amount !== null && sub.currency && ` · ${formatMoney(sub.amount, sub.currency)}`}
                    {sub.interval && ` ${sub.interval}`}
                  </dd>
                </>
              )}
              {sub.trialEndsAt && (
                <>
                  <dt>Trial ends</dt>
                  <dd>
                    {formatDateTime(sub.trialEndsAt)}
                    {!sub.plan && sub.state.toLowerCase() === "trialing" && (
                      <div className={ui.description}>The app stops then unless a plan is chosen.</div>
                    )}
                  </dd>
                </>
              )}
              {sub.currentPeriodEnd && (
                <>
                  <dt>Period ends</dt>
                  <dd>
                    {formatDate(sub.currentPeriodEnd)}
                    {sub.cancelAtPeriodEnd && " (cancels then)"}
                  </dd>
                </>
              )}
            </dl>
          )}
        </Card>
      </div>
      <div className={p.stack}>
        {access.can("apps:logs") ? (
          <Logs org={org} app={a.name} running={a.phase === "Running"} />
        ) : (
          <Card className={ui.cardBody}>
            <p className={ui.description}>{access.lacks("apps:logs")}: you cannot read its logs.</p>
          </Card>
        )}
        <Card>
          <h2 className={`${pages.sectionTitle} ${p.cardHead}`}>Conditions</h2>
          {!a.conditions.length ? (
            <EmptyState title="No conditions reported yet" />
          ) : (
            <div className={ui.tableWrap} data-scrolls>
              <table className={ui.table}>
                <caption className="visually-hidden">Conditions of {a.name}</caption>
                <thead>
                  <tr>
                    <th scope="col">Type</th>
                    <th scope="col">Status</th>
                    <th scope="col">Reason and message</th>
                    <th scope="col" className={pages.roomyOnly}>
                      Since
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {a.conditions.map((c) => (
                    <tr key={c.type}>
                      <td>{c.type}</td>
                      <td>
                        <Badge tone={conditionTone(c)}>{c.status}</Badge>
                      </td>
                      <td>
                        <strong>{c.reason}</strong> {c.message}
                      </td>
                      <td className={`${ui.nowrap} ${pages.roomyOnly}`} title={formatDateTime(c.lastTransitionTime)}>
                        {formatRelative(c.lastTransitionTime)}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Card>
        <Card>
          <h2 className={`${pages.sectionTitle} ${p.cardHead}`}>Settings</h2>
          <div className={ui.tableWrap} data-scrolls>
            <table className={ui.table}>
              <caption className="visually-hidden">Settings of {a.name}</caption>
              <thead>
                <tr>
                  <th scope="col">Setting</th>
                  <th scope="col">Value</th>
                </tr>
              </thead>
              <tbody>
                {a.settings.map((x) => (
                  <tr key={x.name}>
                    <td className={ui.mono}>{x.name}</td>
                    <td>
                      {x.secret ? (
                        <Badge tone={x.set ? "green" : "amber"}>{x.set ? "secret set" : "secret not set"}</Badge>
                      ) : (
                        <span className={ui.mono}>{x.value ?? "—"}</span>
                      )}
                    </td>
                  </tr>
                ))}
                <tr>
                  <td>Access</td>
                  <td>
                    {a.access.policy}
                    {a.access.policy === "Roles" && `: ${a.access.roles.join(", ")}`}
                  </td>
                </tr>
                <tr>
                  <td>Idle policy</td>
                  <td>
                    {a.idle.policy === "Auto"
                      ? `Stops after ${a.idle.timeout} without a request`
                      : a.idle.policy === "AlwaysOn"
                        ? "Always on"
                        : "Stopped"}
                  </td>
                </tr>
                <tr>
                  <td>Data on uninstall</td>
                  <td>{a.storage.deletionPolicy === "Delete" ? "Deleted" : "Kept"}</td>
                </tr>
              </tbody>
            </table>
          </div>
        </Card>
        {a.events.length > 0 && (
          <Card className={ui.cardBody}>
            <h2 className={pages.sectionTitle}>Recent events</h2>
            <ul className={pages.activity}>
              {a.events.map((e, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: events have no id; the list is replaced whole
                <li key={i}>
                  <span>
                    <strong>{e.reason}</strong> {e.message}
                    {e.count > 1 && ` (×${e.count})`}
                  </span>
                  <span className={`${ui.muted} ${ui.nowrap}`} title={formatDateTime(e.lastSeen)}>
                    {formatRelative(e.lastSeen)}
                  </span>
                </li>
              ))}
            </ul>
          </Card>
        )}
      </div>
    </>
  );
}
