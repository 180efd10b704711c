// Sections shared by the settings page and the account page: the card with its heading (a
// region named by it, so a #hash link lands on it), the caller's notification preferences, and a
// data export with its progress and download. One component each, so both pages behave alike.
import { useIsFetching, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useLocation } from "@tanstack/react-router";
import { type ReactNode, useEffect, useRef } from "react";
import { api, type ExportJob, unwrap } from "../api/client.ts";
import type { paths } from "../api/schema.d.ts";
import { formatDateTime } from "../lib/format.ts";
import { type ExportJobsQuery, preferencesQuery, workspaceKeys } from "../lib/workspace.ts";
import pages from "../pages/pages.module.css";
import w from "../pages/workspace.module.css";
import { Badge, Button, Card, Loading, ProblemBanner, ui } from "./ui.tsx";

/**
 * A link to a section (#export from a notice, #billing from a quick action) lands on it once the
 * page has drawn (`ready`) and its data is in: the router's own scrolling runs before a lazy page
 * exists, and sections above the target grow when their data arrives, pushing it down. Once per
 * hash, so a later refetch (the bell's, every half minute) does not scroll the page back.
 */
export function useSectionFromHash(ready: boolean) {
  const { hash } = useLocation();
  const queryClient = useQueryClient();
  const fetching = useIsFetching();
  const landed = useRef("");
  useEffect(() => {
    // Read now, not the count at render: the sections' queries start in their effects.
    if (!ready || !hash || landed.current === hash || fetching > 0 || queryClient.isFetching() > 0) return;
    const target = document.getElementById(hash);
    if (!target) return;
    landed.current = hash;
    target.scrollIntoView();
  }, [ready, hash, fetching, queryClient]);
}

export function Section(props: { id: string; title: string; lead?: ReactNode; danger?: boolean; children: ReactNode }) {
  return (
    <section id={props.id} className={w.section} aria-labelledby={`${props.id}-title`}>
      <Card className={props.danger ? w.danger : undefined}>
        <div className={w.cardBody}>
          <h2 id={`${props.id}-title`} className={`${w.cardTitle} ${w.cardHead} ${props.danger ? w.dangerTitle : ""}`}>
            {props.title}
          </h2>
          {props.lead && <p className={w.sectionLead}>{props.lead}</p>}
          {props.children}
        </div>
      </Card>
    </section>
  );
}

type PreferenceChange =
  paths["/api/me/notification-preferences"]["put"]["requestBody"]["content"]["application/json"]["changes"][number];

/**
 * The caller's notification preferences per event, feed and email: in one organization (`org`,
 * overriding the person's defaults there) or the person's defaults (no `org`, the account page).
 */
export function PreferencesSection({ org, lead }: { org?: string | undefined; lead: string }) {
  const queryClient = useQueryClient();
  const prefs = useQuery(preferencesQuery(org));
  const change = useMutation({
    mutationFn: (changes: PreferenceChange[]) =>
      unwrap(api.PUT("/api/me/notification-preferences", { body: { ...(org ? { org } : {}), changes } })),
    onSuccess: (data) => queryClient.setQueryData(workspaceKeys.preferences(org), data),
  });
  const events = prefs.data?.events ?? [];
  return (
    <Section id="notifications" title="Notifications" lead={lead}>
      <ProblemBanner problem={prefs.error} title="The preferences could not be loaded" />
      <ProblemBanner problem={change.error} title="The preference was not saved" />
      {prefs.isPending ? (
        <Loading what="preferences" />
      ) : !events.length ? (
        prefs.error ? null : (
          <p className={ui.description}>No notification events are defined.</p>
        )
      ) : (
        <div className={ui.tableWrap} data-scrolls>
          <table className={`${ui.table} ${w.prefs}`}>
            <caption className="visually-hidden">Notification preferences per event</caption>
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Feed</th>
                <th scope="col">Email</th>
                <th scope="col">
                  <span className="visually-hidden">Override</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => {
                const overridden = e.channels.feed.overridden || e.channels.email.overridden;
                return (
                  <tr key={e.event}>
                    <th scope="row">{e.label}</th>
                    {(["feed", "email"] as const).map((channel) => {
                      const pref = e.channels[channel];
                      return (
                        <td key={channel}>
                          {pref.available ? (
                            <PrefBox
                              label={`${channel === "feed" ? "Feed" : "Email"}: ${e.label}`}
                              checked={pref.enabled}
                              disabled={change.isPending}
                              onChange={(enabled) =>
                                change.mutate([{ event: e.event as PreferenceChange["event"], channel, enabled }])
                              }
                            />
                          ) : (
                            <span className={ui.muted}>—</span>
                          )}
                        </td>
                      );
                    })}
                    <td>
                      {overridden ? (
                        <Button
                          small
                          isDisabled={change.isPending}
                          aria-label={`Use defaults for “${e.label}”`}
                          onPress={() =>
                            change.mutate([
                              { event: e.event as PreferenceChange["event"], channel: "feed", enabled: null },
                              { event: e.event as PreferenceChange["event"], channel: "email", enabled: null },
                            ])
                          }
                        >
                          Use defaults
                        </Button>
                      ) : (
                        <span className={ui.description}>Default</span>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}

function PrefBox(props: { label: string; checked: boolean; disabled: boolean; onChange(v: boolean): void }) {
  return (
    <input
      type="checkbox"
      className={w.prefBox}
      aria-label={props.label}
      checked={props.checked}
      disabled={props.disabled}
      onChange={(e) => props.onChange(e.currentTarget.checked)}
    />
  );
}

const STATE_TONE = { queued: "blue", running: "blue", succeeded: "green", failed: "red", expired: "grey" } as const;
const formatBytes = (n: number | null) =>
  n === null ? "" : n < 1024 * 1024 ? `${Math.max(1, Math.round(n / 1024))} KB` : `${(n / 1024 / 1024).toFixed(1)} MB`;

function ExportRow({ job }: { job: ExportJob }) {
  const moving = job.state === "queued" || job.state === "running";
  const { done, total, step } = job.progress;
  return (
    <li>
      <span>
        <Badge tone={STATE_TONE[job.state]}>{job.state}</Badge>{" "}
        <span className={ui.muted}>{formatDateTime(job.createdAt)}</span>
        {job.error && <span className={ui.fieldError}> {job.error}</span>}
      </span>
      {moving ? (
        <span className={w.exportProgress}>
          <progress
            className={w.progressBar}
            max={total || 1}
            value={done}
            aria-label={`Export progress${step ? `: ${step}` : ""}`}
          />
          <span className={ui.description}>
            {step ?? "Waiting"} {total ? `${done} / ${total}` : ""}
          </span>
        </span>
      ) : job.state === "succeeded" && job.downloadUrl ? (
        <span>
          <a href={job.downloadUrl} download>
            Download
          </a>{" "}
          <span className={ui.description}>
            {formatBytes(job.sizeBytes)}
            {job.expiresAt ? ` · until ${formatDateTime(job.expiresAt)}` : ""}
          </span>
        </span>
      ) : null}
    </li>
  );
}

/**
 * A data export (an organization's or the person's own): start one, follow its progress, download
 * the archive. `jobs` lists the scope's exports, `start` asks the API for a new one; `refusal` is
 * why the caller may not (the section then says so and asks nothing of the API).
 */
export function ExportSection(props: {
  jobs: ExportJobsQuery;
  start(): Promise<unknown>;
  lead: string;
  title?: string;
  refusal?: string | undefined;
}) {
  const queryClient = useQueryClient();
  const { refusal } = props;
  const jobs = useQuery({ ...props.jobs, enabled: !refusal });
  const start = useMutation({
    mutationFn: props.start,
    onSuccess: () => queryClient.invalidateQueries({ queryKey: props.jobs.queryKey }),
  });
  const items = jobs.data ?? [];
  const running = items.some((j) => j.state === "queued" || j.state === "running");
  return (
    <Section id="export" title={props.title ?? "Data export"} lead={props.lead}>
      {refusal ? (
        <p className={ui.description}>{refusal}: you cannot export this data.</p>
      ) : (
        <>
          <ProblemBanner problem={jobs.error} title="The exports could not be loaded" />
          <ProblemBanner problem={start.error} title="The export did not start" />
          <Button variant="primary" isDisabled={running || start.isPending} onPress={() => start.mutate()}>
            {running ? "Export under way…" : "Export data"}
          </Button>
          {jobs.isPending ? (
            <Loading what="exports" />
          ) : items.length ? (
            <ul className={`${w.list} ${pages.spaced}`} aria-label="Exports" aria-live="polite">
              {items.map((j) => (
                <ExportRow key={j.id} job={j} />
              ))}
            </ul>
          ) : (
            <p className={ui.description}>No export yet.</p>
          )}
        </>
      )}
    </Section>
  );
}
