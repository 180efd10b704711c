// The organization's settings, one section each: name and description, logo (preview before
// upload, the served image after), billing details and invoices, the caller's notification
// preferences here, data export with its progress and download, and the danger zone (delete by
// typing the name; restore during the grace period). What the caller may not change is shown
// disabled with the reason; the API decides.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { getRouteApi, useNavigate } from "@tanstack/react-router";
import { useEffect, useId, useState } from "react";
import { Form, Label, TextArea, TextField } from "react-aria-components";
import { ApiProblem, api, request, unwrap } from "../api/client.ts";
import { DialogActions, Field, ModalDialog } from "../components/forms.tsx";
import { OrgLogo } from "../components/OrgLogo.tsx";
import { ExportSection, PreferencesSection, Section, useSectionFromHash } from "../components/sections.tsx";
import { Badge, Banner, Button, Loading, PageHeader, ProblemBanner, ui } from "../components/ui.tsx";
import { formatDate, formatDateTime } from "../lib/format.ts";
import { formatMoney } from "../lib/prices.ts";
import { type Access, useAccess } from "../lib/session.ts";
import { billingDetailsQuery, exportsQuery, invoicesQuery, orgQuery, workspaceKeys } from "../lib/workspace.ts";
import pages from "./pages.module.css";
import w from "./workspace.module.css";

const route = getRouteApi("/orgs/$org/settings");
const LOGO_TYPES = ["image/png", "image/jpeg", "image/webp"];
const LOGO_MAX = 1024 * 1024;

/** Why the caller may not, as a line under the section (or nothing). */
const Refusal = ({ reason }: { reason: string | undefined }) =>
  reason ? <p className={ui.description}>{reason}: you can read this but not change it.</p> : null;

function GeneralSection({ org, access }: { org: string; access: Access }) {
  const queryClient = useQueryClient();
  const current = useQuery(orgQuery(org));
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  useEffect(() => {
    if (current.data) {
      setName(current.data.displayName);
      setDescription(current.data.description ?? "");
    }
  }, [current.data]);
  const save = useMutation({
    mutationFn: () =>
      unwrap(
        api.PATCH("/api/orgs/{org}", {
          params: { path: { org } },
          body: { displayName: name.trim(), description: description.trim() || null },
        }),
      ),
    onSuccess: async () => {
      await Promise.all([
        queryClient.invalidateQueries({ queryKey: ["orgs", org] }),
        queryClient.invalidateQueries({ queryKey: ["me", "organizations"] }),
      ]);
    },
  });
  const refusal = access.lacks("org:update");
  const problem = save.error instanceof ApiProblem ? save.error : undefined;
  return (
    <Section id="general" title="Name and description">
      <Refusal reason={refusal} />
      <ProblemBanner problem={save.error ?? current.error} title="The organization was not saved" />
      {save.isSuccess && !save.isPending && <Banner tone="info">Saved.</Banner>}
      <Form
        validationBehavior="aria"
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <div className={pages.twoCols}>
          <Field
            label="Display name"
            value={name}
            onChange={setName}
            isRequired
            maxLength={100}
            error={problem?.fieldMessage("displayName")}
            description={`The name people see; the organization's id stays “${org}”.`}
          />
          <TextField
            className={ui.field}
            value={description}
            onChange={setDescription}
            maxLength={2000}
            isInvalid={!!problem?.fieldMessage("description")}
          >
            <Label className={ui.label}>Description</Label>
            <TextArea className={ui.input} rows={3} />
            {problem?.fieldMessage("description") && (
              <span className={ui.fieldError}>{problem.fieldMessage("description")}</span>
            )}
          </TextField>
        </div>
        <Button type="submit" variant="primary" isDisabled={!!refusal || save.isPending || !name.trim()}>
          Save
        </Button>
      </Form>
    </Section>
  );
}

function LogoSection({ org, access }: { org: string; access: Access }) {
  const queryClient = useQueryClient();
  const current = useQuery(orgQuery(org));
  const inputId = useId();
  const [file, setFile] = useState<File | undefined>();
  const [preview, setPreview] = useState<string | undefined>();
  const [localError, setLocalError] = useState<string | undefined>();
  // A new key empties the file input once the chosen file is saved.
  const [inputKey, setInputKey] = useState(0);
  const served = current.data?.logoUrl ?? null;
  const done = async () => {
    setFile(undefined);
    setPreview(undefined);
    setInputKey((k) => k + 1);
    await Promise.all([
      queryClient.invalidateQueries({ queryKey: workspaceKeys.org(org) }),
      queryClient.invalidateQueries({ queryKey: workspaceKeys.overview(org) }),
    ]);
  };
  const upload = useMutation({
    mutationFn: (f: File) =>
      request<{ logoUrl: string }>("PUT", `/api/orgs/${encodeURIComponent(org)}/logo`, f, f.type),
    onSuccess: done,
  });
  const remove = useMutation({
    mutationFn: () => unwrap(api.DELETE("/api/orgs/{org}/logo", { params: { path: { org } } })),
    onSuccess: done,
  });
  const refusal = access.lacks("org:update");
  const choose = (f: File | undefined) => {
    upload.reset();
    setLocalError(undefined);
    setFile(f);
    setPreview(undefined);
    if (!f) return;
    if (!LOGO_TYPES.includes(f.type)) setLocalError("Choose a PNG, JPEG or WebP image.");
    else if (f.size > LOGO_MAX) setLocalError("The image is larger than 1 MiB.");
    // A data: URL, as the CSP allows (img-src 'self' data:), not a blob: URL.
    const reader = new FileReader();
    reader.onload = () => setPreview(String(reader.result));
    reader.readAsDataURL(f);
  };
  return (
    <Section id="logo" title="Logo" lead="PNG, JPEG or WebP, at most 1 MiB; shown square in the console.">
      <Refusal reason={refusal} />
      <ProblemBanner problem={upload.error ?? remove.error} title="The logo was not saved" />
      <div className={w.fileRow}>
        {preview ? (
          <img className={w.logo} src={preview} alt="Preview of the chosen logo" width={64} height={64} />
        ) : (
          <OrgLogo name={access.org.displayName} logoUrl={served} />
        )}
        <div className={w.fileField}>
          <label className={ui.label} htmlFor={inputId}>
            Image file
          </label>
          <input
            key={inputKey}
            className={w.fileInput}
            id={inputId}
            type="file"
            accept={LOGO_TYPES.join(",")}
            disabled={!!refusal}
            aria-describedby={localError ? `${inputId}-error` : undefined}
            onChange={(e) => choose(e.currentTarget.files?.[0])}
          />
          {localError && (
            <p id={`${inputId}-error`} className={ui.fieldError}>
              {localError}
            </p>
          )}
        </div>
      </div>
      <div className={`${w.actionsRow} ${pages.spaced}`}>
        <Button
          variant="primary"
          isDisabled={!!refusal || !file || !!localError || upload.isPending}
          onPress={() => file && upload.mutate(file)}
        >
          {upload.isPending ? "Uploading…" : "Upload logo"}
        </Button>
        {served && !file && (
          <Button isDisabled={!!refusal || remove.isPending} onPress={() => remove.mutate()}>
            Remove logo
          </Button>
        )}
        {upload.isSuccess && !file && (
          <span role="status" className={ui.description}>
            Logo saved.
          </span>
        )}
      </div>
    </Section>
  );
}

type Details = {
  contactName: string;
  email: string;
  addressLine1: string;
  addressLine2: string;
  city: string;
  postalCode: string;
  region: string;
  country: string;
  taxId: string;
};
const EMPTY_DETAILS: Details = {
  contactName: "",
  email: "",
  addressLine1: "",
  addressLine2: "",
  city: "",
  postalCode: "",
  region: "",
  country: "",
  taxId: "",
};
const DETAIL_FIELDS: Array<{ key: keyof Details; label: string; required?: boolean; hint?: string }> = [
  { key: "contactName", label: "Contact name", required: true },
  { key: "email", label: "Billing email", required: true },
  { key: "addressLine1", label: "Address", required: true },
  { key: "addressLine2", label: "Address, line 2" },
  { key: "city", label: "City", required: true },
  { key: "postalCode", label: "Postal code" },
  { key: "region", label: "Region or state" },
  { key: "country", label: "Country", required: true, hint: "Two-letter code, e.g. DE" },
  { key: "taxId", label: "Tax id", hint: "VAT or other tax number, if any" },
];

function BillingSection({ org, access }: { org: string; access: Access }) {
  const queryClient = useQueryClient();
  const canView = access.can("billing:view");
  const details = useQuery({ ...billingDetailsQuery(org), enabled: canView });
  const invoices = useQuery({ ...invoicesQuery(org), enabled: canView });
  const [form, setForm] = useState<Details>(EMPTY_DETAILS);
  useEffect(() => {
    const d = details.data;
    if (d)
      setForm({
        contactName: d.contactName,
        email: d.email,
        addressLine1: d.addressLine1,
        addressLine2: d.addressLine2 ?? "",
        city: d.city,
        postalCode: d.postalCode ?? "",
        region: d.region ?? "",
        country: d.country,
        taxId: d.taxId ?? "",
      });
  }, [details.data]);
  const save = useMutation({
    mutationFn: () => {
      const opt = (v: string) => (v.trim() ? v.trim() : null);
      return unwrap(
        api.PUT("/api/orgs/{org}/billing/details", {
          params: { path: { org } },
          body: {
            contactName: form.contactName,
            email: form.email,
            addressLine1: form.addressLine1,
            addressLine2: opt(form.addressLine2),
            city: form.city,
            postalCode: opt(form.postalCode),
            region: opt(form.region),
            country: form.country.trim().toUpperCase(),
            taxId: opt(form.taxId),
          },
        }),
      );
    },
    onSuccess: () => queryClient.invalidateQueries({ queryKey: workspaceKeys.billingDetails(org) }),
  });
  if (!canView)
    return (
      <Section id="billing" title="Billing">
        <p className={ui.description}>{access.lacks("billing:view")}: billing details and invoices are hidden.</p>
      </Section>
    );
  const refusal = access.lacks("billing:manage");
  const problem = save.error instanceof ApiProblem ? save.error : undefined;
  const items = invoices.data ?? [];
  return (
    <Section id="billing" title="Billing" lead="Who pays, as printed on invoices; and the invoices themselves.">
      <Refusal reason={refusal} />
      <ProblemBanner problem={save.error ?? details.error} title="The billing details were not saved" />
      {save.isSuccess && <Banner tone="info">Billing details saved.</Banner>}
      {details.isPending ? (
        <Loading what="billing details" />
      ) : (
        <Form
          validationBehavior="aria"
          aria-label="Billing details"
          onSubmit={(e) => {
            e.preventDefault();
            save.mutate();
          }}
        >
          <div className={pages.twoCols}>
            {DETAIL_FIELDS.map((f) => (
              <Field
                key={f.key}
                label={f.label}
                value={form[f.key]}
                onChange={(v) => setForm({ ...form, [f.key]: v })}
                isRequired={f.required}
                type={f.key === "email" ? "email" : "text"}
                error={problem?.fieldMessage(f.key)}
                {...(f.hint ? { description: f.hint } : {})}
              />
            ))}
          </div>
          <Button type="submit" variant="primary" isDisabled={!!refusal || save.isPending}>
            Save billing details
          </Button>
        </Form>
      )}
      <h3 className={`${w.cardTitle} ${pages.spaced}`}>Invoices</h3>
      <ProblemBanner problem={invoices.error} title="The invoices could not be loaded" />
      {invoices.isPending ? (
        <Loading what="invoices" />
      ) : !items.length ? (
        <p className={ui.description}>No invoices yet: they appear when a paid plan or a trial's end bills.</p>
      ) : (
        <div className={ui.tableWrap} data-scrolls>
          <table className={ui.table}>
            <caption className="visually-hidden">Invoices, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Issued</th>
                <th scope="col">Total</th>
                <th scope="col">Status</th>
                <th scope="col">Due</th>
                <th scope="col">
                  <span className="visually-hidden">Download</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((i) => (
                <tr key={i.id}>
                  <td className={ui.nowrap}>{formatDate(i.issuedAt)}</td>
                  <td className={ui.nowrap}>{formatMoney(i.total, i.currency)}</td>
                  <td>
                    <Badge tone={i.status === "paid" ? "green" : i.status === "open" ? "amber" : "grey"}>
                      {i.status}
                    </Badge>
                  </td>
                  <td className={ui.nowrap}>{i.status === "open" ? formatDate(i.dueAt) : "—"}</td>
                  <td>
                    <a
                      href={`/api/orgs/${encodeURIComponent(org)}/invoices/${encodeURIComponent(i.id)}?format=csv`}
                      download
                      aria-label={`Download invoice of ${formatDate(i.issuedAt)} as CSV`}
                    >
                      CSV
                    </a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}

function DangerSection({ org, access }: { org: string; access: Access }) {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const current = useQuery(orgQuery(org));
  const [confirming, setConfirming] = useState(false);
  const [typed, setTyped] = useState("");
  const refresh = () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: workspaceKeys.org(org) }),
      queryClient.invalidateQueries({ queryKey: ["me", "organizations"] }),
    ]);
  const remove = useMutation({
    mutationFn: () => unwrap(api.DELETE("/api/orgs/{org}", { params: { path: { org } }, body: { confirm: typed } })),
    onSuccess: async () => {
      await refresh();
      setConfirming(false);
      setTyped("");
    },
  });
  const restore = useMutation({
    mutationFn: () => unwrap(api.POST("/api/orgs/{org}/restore", { params: { path: { org } } })),
    onSuccess: refresh,
  });
  const refusal = access.lacks("org:delete");
  const deletion = current.data?.deletion;
  const problem = remove.error instanceof ApiProblem ? remove.error : undefined;
  return (
    <Section id="danger" title="Danger zone" danger>
      <ProblemBanner problem={restore.error} title="The organization was not restored" />
      {deletion ? (
        <>
          <Banner tone="warning">
            Deletion requested by {deletion.requestedBy} on {formatDateTime(deletion.requestedAt)}.{" "}
            {deletion.deletesAt
              ? `Everything is deleted on ${formatDateTime(deletion.deletesAt)} unless restored before.`
              : "The grace period starts once the operator has seen the request."}{" "}
            Apps are stopped and API keys refused meanwhile.
          </Banner>
          <Button variant="primary" isDisabled={!!refusal || restore.isPending} onPress={() => restore.mutate()}>
            Restore organization
          </Button>
        </>
      ) : (
        <>
          <p>
            Deleting stops every app at once and refuses API keys; after the grace period, the organization, its
            members, apps and their data are gone for good. Until then it can be restored here.
          </p>
          <Button variant="danger" isDisabled={!!refusal} onPress={() => setConfirming(true)}>
            Delete organization…
          </Button>
        </>
      )}
      <Refusal reason={refusal} />
      {confirming && (
        <ModalDialog
          title={`Delete ${access.org.displayName}?`}
          isOpen
          role="alertdialog"
          onOpenChange={(o) => {
            if (!o) {
              setConfirming(false);
              setTyped("");
              remove.reset();
            }
          }}
        >
          <ProblemBanner problem={remove.error} title="The organization was not deleted" />
          <Form
            validationBehavior="aria"
            onSubmit={(e) => {
              e.preventDefault();
              remove.mutate();
            }}
          >
            <p>Its apps stop now and API keys stop working. It is deleted for good after the grace period.</p>
            <Field
              label={`Type “${org}” to confirm`}
              value={typed}
              onChange={setTyped}
              autoFocus
              error={problem?.fieldMessage("confirm")}
            />
            <DialogActions>
              <Button onPress={() => setConfirming(false)}>Keep organization</Button>
              <Button type="submit" variant="danger" isDisabled={typed !== org || remove.isPending}>
                Delete organization
              </Button>
            </DialogActions>
          </Form>
        </ModalDialog>
      )}
      {remove.isSuccess && (
        <p role="status" className={ui.description}>
          Deletion scheduled.{" "}
          <button type="button" className={ui.sortButton} onClick={() => navigate({ to: "/" })}>
            Go to another organization
          </button>
        </p>
      )}
    </Section>
  );
}

export function SettingsPage() {
  const { org } = route.useParams();
  const access = useAccess(org);
  useSectionFromHash(!!access);
  if (!access) return <Loading what="settings" />;
  return (
    <>
      <PageHeader title="Settings" lead={`${access.org.displayName}: what it is called, who pays, what reaches you.`} />
      <ul className={w.toc} aria-label="Sections">
        {[
          ["general", "Name"],
          ["logo", "Logo"],
          ["billing", "Billing"],
          ["notifications", "Notifications"],
          ["export", "Data export"],
          ["danger", "Danger zone"],
        ].map(([id, label]) => (
          <li key={id}>
            <a href={`#${id}`}>{label}</a>
          </li>
        ))}
      </ul>
      <div className={w.stack}>
        <GeneralSection org={org} access={access} />
        <LogoSection org={org} access={access} />
        <BillingSection org={org} access={access} />
        <PreferencesSection
          org={org}
          lead="What reaches you from this organization, in the console's bell (feed) and by email. A change here overrides your default for this organization only."
        />
        <ExportSection
          jobs={exportsQuery(org)}
          start={() => unwrap(api.POST("/api/orgs/{org}/exports", { params: { path: { org } } }))}
          refusal={access.lacks("org:export")}
          lead="Everything this organization holds (members, roles, apps and their settings without secrets, billing, audit log) as a ZIP archive of JSON files. Three a day; each archive stays downloadable until the date shown beside it."
        />
        <DangerSection org={org} access={access} />
      </div>
    </>
  );
}
