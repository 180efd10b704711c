// Install an app: version, name, settings (required marked, secrets as password fields,
// defaults shown), access, idle policy, plan or trial; the API's field errors beside the fields;
// then the app's progress live from its watch stream until Running or Failed.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { useEffect, useState } from "react";
import { CheckboxGroup, Form } from "react-aria-components";
import { ApiProblem, type AppSummary, api, type MarketDetail, unwrap } from "../api/client.ts";
import { statusOf } from "../lib/app-status.ts";
import { appKeys } from "../lib/apps.ts";
import { planLabel } from "../lib/prices.ts";
import { rolesQuery } from "../lib/queries.ts";
import { useAccess } from "../lib/session.ts";
import p from "../pages/apps.module.css";
import pages from "../pages/pages.module.css";
import { type IdlePolicy, IdlePolicyFields, RadioField } from "./apps.tsx";
import { CheckboxItem, DialogActions, Field, ModalDialog } from "./forms.tsx";
import { SelectField } from "./SelectField.tsx";
import { Badge, Banner, Button, ProblemBanner, ui } from "./ui.tsx";

type Access = "Public" | "Members" | "Roles";

/** A name for the install that is free in the org: the template's, or with a number after it. */
const suggestName = (template: string, installed: number) => (installed ? `${template}-${installed + 1}` : template);

const STEPS = ["Pending", "Deploying", "Running"] as const;

/** Follows GET …/apps/{app}/watch (Server-Sent Events) until Running, Failed or deleted. */
function useWatch(org: string, app: string | undefined) {
  const [state, setState] = useState<AppSummary | undefined>();
  const [ended, setEnded] = useState(false);
  useEffect(() => {
    if (!app) return;
    const source = new EventSource(`/api/orgs/${encodeURIComponent(org)}/apps/${encodeURIComponent(app)}/watch`);
    source.addEventListener("status", (e) => setState(JSON.parse((e as MessageEvent<string>).data) as AppSummary));
    const stop = () => {
      source.close();
      setEnded(true);
    };
    source.addEventListener("deleted", stop);
    // The server ends the stream at a final phase; EventSource would reconnect, so close it.
    source.onerror = stop;
    return () => source.close();
  }, [org, app]);
  return { state, ended };
}

function Progress({ org, app, onClose }: { org: string; app: AppSummary; onClose(): void }) {
  const { state, ended } = useWatch(org, app.name);
  const now = state ?? app;
  const failed = now.phase === "Failed";
  const reached = failed ? 1 : Math.max(0, STEPS.indexOf(now.phase as (typeof STEPS)[number]));
  const status = statusOf(now);
  return (
    <>
      <p role="status" aria-live="polite">
        {now.phase === "Running"
          ? `${now.displayName} is running.`
          : failed
            ? `${now.displayName} failed to start: ${status.detail ?? ""}`
            : `Deploying ${now.displayName}… (${now.phase})`}
      </p>
      <ol className={p.progress} aria-label="Progress">
        {STEPS.map((step, i) => {
          const done = i < reached || now.phase === "Running";
          const current = i === reached && !done;
          return (
            <li key={step}>
              <span
                className={failed && current ? p.stepFailed : done ? p.stepDone : current ? p.stepNow : p.step}
                aria-hidden="true"
              >
                {failed && current ? "✕" : done ? "✓" : i + 1}
              </span>
              {step === "Pending" ? "Accepted" : step === "Deploying" ? "Starting the container" : "Running"}
              <span className="visually-hidden">{done ? " (done)" : current ? " (in progress)" : ""}</span>
            </li>
          );
        })}
      </ol>
      {ended && now.phase !== "Running" && !failed && (
        <Banner tone="info">The live view ended; the app's page shows how it goes on.</Banner>
      )}
      <DialogActions>
        <Button onPress={onClose}>Close</Button>
        <Link
          to="/orgs/$org/apps/$app"
          params={{ org, app: app.name }}
          className={`${ui.button} ${ui.primary}`}
          onClick={onClose}
        >
          Go to {app.name}
        </Link>
      </DialogActions>
    </>
  );
}

export function InstallWizard(props: { org: string; template: MarketDetail; onClose(): void }) {
  const { org, template: t } = props;
  const access = useAccess(org);
  const queryClient = useQueryClient();
  const roles = useQuery({ ...rolesQuery(org), enabled: !!access?.can("roles:view") });
  const free = !t.plans.length || t.plans.every((x) => x.amount === 0);
  const [version, setVersion] = useState(t.defaultVersion);
  const [name, setName] = useState(suggestName(t.name, t.installedInOrg));
  const [env, setEnv] = useState<Record<string, string>>({});
  const [accessPolicy, setAccessPolicy] = useState<Access>("Members");
  const [accessRoles, setAccessRoles] = useState<string[]>([]);
  const [idle, setIdle] = useState<IdlePolicy>("Auto");
  const [timeout, setIdleTimeout] = useState("");
  const [billing, setBilling] = useState<string>(free ? "" : t.trial.available ? "trial" : (t.plans[0]?.id ?? ""));

  const install = useMutation({
    mutationFn: () =>
      unwrap(
        api.POST("/api/orgs/{org}/apps", {
          params: { path: { org } },
          body: {
            template: t.name,
            name: name.trim(),
            ...(version !== t.defaultVersion ? { version } : {}),
            // Empty fields are left out: the template's default (or a generated secret) applies.
            env: Object.fromEntries(Object.entries(env).filter(([, v]) => v !== "")),
            access: accessPolicy === "Roles" ? { policy: "Roles", roles: accessRoles } : { policy: accessPolicy },
            idle: { policy: idle, ...(idle === "Auto" && timeout.trim() ? { timeout: timeout.trim() } : {}) },
            ...(billing === "trial" ? { trial: true } : billing ? { plan: billing } : {}),
          },
        }),
      ),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: appKeys.apps(org) });
      void queryClient.invalidateQueries({ queryKey: appKeys.market(org) });
    },
  });
  const problem = install.error instanceof ApiProblem ? install.error : undefined;
  const fieldError = (path: string) => problem?.fieldMessage(path);

  if (install.data)
    return (
      <ModalDialog title={`Installing ${install.data.name}`} isOpen onOpenChange={(o) => !o && props.onClose()}>
        <Progress org={org} app={install.data} onClose={props.onClose} />
      </ModalDialog>
    );

  return (
    <ModalDialog title={`Install ${t.displayName}`} isOpen wide onOpenChange={(o) => !o && props.onClose()}>
      <ProblemBanner problem={install.error} title="The app was not installed" />
      <Form
        validationBehavior="aria"
        onSubmit={(e) => {
          e.preventDefault();
          install.mutate();
        }}
      >
        <div className={pages.twoCols}>
          <Field
            label="App name"
            value={name}
            onChange={setName}
            isRequired
            maxLength={63}
            autoFocus
            error={fieldError("name")}
            description="Lowercase letters, digits and dashes; part of its address."
          />
          <SelectField
            label="Version"
            value={version}
            onChange={setVersion}
            choices={t.versions.map((v) => ({ id: v, label: v, hint: v === t.defaultVersion ? "default" : "" }))}
            error={fieldError("version")}
          />
        </div>
        {t.settings.length > 0 && (
          <fieldset className={`${pages.groupFieldset} ${p.section}`}>
            <legend className={`${pages.sectionTitle} ${p.legend}`}>Settings</legend>
            <p className={ui.description}>
              Fields marked <span className={p.required}>*</span> are required. Secrets are stored in a Kubernetes
              Secret and never shown again.
            </p>
            <div className={pages.twoCols}>
              {t.settings.map((x) => (
                <Field
                  key={x.name}
                  name={x.name}
                  label={`${x.name}${x.required ? " *" : ""}`}
                  type={x.secret ? "password" : "text"}
                  autoComplete={x.secret ? "new-password" : "off"}
                  value={env[x.name] ?? ""}
                  onChange={(v) => setEnv({ ...env, [x.name]: v })}
                  isRequired={x.required}
                  error={fieldError(`env/${x.name}`)}
                  {...(x.default !== null ? { placeholder: x.default } : {})}
                  description={[
                    x.description,
                    x.default !== null ? `Default: ${x.default}` : "",
                    x.generated ? "Left empty, a random value is generated." : "",
                  ]
                    .filter(Boolean)
                    .join(" ")}
                />
              ))}
            </div>
          </fieldset>
        )}
        <div className={`${pages.twoCols} ${p.section}`}>
          <div>
            <RadioField
              label="Who can open it"
              value={accessPolicy}
              onChange={(v) => setAccessPolicy(v as Access)}
              error={fieldError("access/policy") ?? fieldError("access")}
              choices={[
                { id: "Public", label: "Public", hint: "anyone with the address" },
                { id: "Members", label: "Members", hint: "members of this organization" },
                {
                  id: "Roles",
                  label: "Roles",
                  hint: access?.can("roles:view") ? "members with chosen roles" : "needs roles:view to choose",
                  disabled: !access?.can("roles:view"),
                },
              ]}
            />
            {accessPolicy === "Roles" && (
              <CheckboxGroup
                aria-label="Roles that can open it"
                value={accessRoles}
                onChange={setAccessRoles}
                className={pages.groupFieldset}
              >
                {(roles.data ?? []).map((r) => (
                  <CheckboxItem key={r.name} value={r.name}>
                    {r.displayName}
                  </CheckboxItem>
                ))}
                {problem?.fields
                  .filter((f) => f.path.startsWith("/body/access/roles"))
                  .map((f) => (
                    <p key={f.path} className={ui.fieldError}>
                      {f.message}
                    </p>
                  ))}
              </CheckboxGroup>
            )}
          </div>
          <IdlePolicyFields
            policy={idle}
            onPolicyChange={setIdle}
            timeout={timeout}
            onTimeoutChange={setIdleTimeout}
            defaultTimeout="12h"
            policyError={fieldError("idle/policy")}
            timeoutError={fieldError("idle/timeout")}
          />
        </div>
        <div className={p.section}>
          {free ? (
            <p>
              <Badge tone="green">Free</Badge> No subscription needed.
            </p>
          ) : (
            <RadioField
              label="Plan"
              value={billing}
              onChange={setBilling}
              error={fieldError("plan") ?? fieldError("trial")}
              choices={[
                ...(t.trial.days > 0
                  ? [
                      {
                        id: "trial",
                        label: `${t.trial.days}-day free trial`,
                        hint: t.trial.available ? "then choose a plan" : "already used in this organization",
                        disabled: !t.trial.available,
                      },
                    ]
                  : []),
                ...t.plans.map((plan) => ({ id: plan.id, label: planLabel(plan), hint: plan.id })),
              ]}
            />
          )}
        </div>
        <DialogActions>
          <Button onPress={props.onClose}>Cancel</Button>
          <Button type="submit" variant="primary" isDisabled={install.isPending || !name.trim()}>
            {install.isPending ? "Deploying…" : "Deploy"}
          </Button>
        </DialogActions>
      </Form>
    </ModalDialog>
  );
}
