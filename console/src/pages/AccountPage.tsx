// The person's own page, in no organization: their data export across organizations (GDPR; the
// API's export-ready notice links to /account#export) and their default notification
// preferences, which each organization's settings may override. Both sections are the ones the
// settings page uses (components/sections.tsx).
import { api, unwrap } from "../api/client.ts";
import { ExportSection, PreferencesSection, useSectionFromHash } from "../components/sections.tsx";
import { Loading, PageHeader } from "../components/ui.tsx";
import { useMe } from "../lib/session.ts";
import { myExportsQuery } from "../lib/workspace.ts";
import w from "./workspace.module.css";

export function AccountPage() {
  const me = useMe().data;
  useSectionFromHash(!!me);
  if (!me) return <Loading what="your account" />;
  return (
    <>
      <PageHeader
        title="Your account"
        lead={`${me.name} · ${me.email}: your own data and your notification defaults.`}
      />
      <ul className={w.toc} aria-label="Sections">
        <li>
          <a href="#notifications">Notifications</a>
        </li>
        <li>
          <a href="#export">Your data</a>
        </li>
      </ul>
      <div className={w.stack}>
        <PreferencesSection lead="What reaches you, in the console's bell (feed) and by email, in every organization unless you choose otherwise in an organization's settings." />
        <ExportSection
          jobs={myExportsQuery}
          start={() => unwrap(api.POST("/api/me/exports"))}
          title="Your data"
          lead="What the platform holds about you across your organizations (profile and sign-in identities, memberships, sessions, your activity in the audit log, your notifications, the API keys you created) as a ZIP archive. Each archive stays downloadable until the date shown beside it."
        />
      </div>
    </>
  );
}
