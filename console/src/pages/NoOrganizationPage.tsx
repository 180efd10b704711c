import s from "../components/layout.module.css";
import { LogoutButton } from "../components/OrgLayout.tsx";
import { Card, EmptyState } from "../components/ui.tsx";
import { useMe } from "../lib/session.ts";

/** Signed in, but a member of no organization yet. */
export function NoOrganizationPage() {
  const me = useMe().data;
  return (
    <main className={s.centered}>
      <Card>
        <EmptyState title="You are not in any organization yet">
          <p>
            Signed in as {me?.email}. Ask an Admin of your organization to invite this address, then open the link in
            the invitation email.
          </p>
          <LogoutButton />
        </EmptyState>
      </Card>
    </main>
  );
}
