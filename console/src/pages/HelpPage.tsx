// The workspace FAQ: the four things people ask first.
import { getRouteApi, Link } from "@tanstack/react-router";
import { Card, PageHeader, ui } from "../components/ui.tsx";
import p from "./pages.module.css";

const route = getRouteApi("/orgs/$org/help");

export function HelpPage() {
  const { org } = route.useParams();
  return (
    <>
      <PageHeader title="Help" lead="Answers to what people ask most about their workspace." />
      <Card>
        <div className={`${ui.cardBody} ${p.faq}`}>
          <details open>
            <summary>How do I invite a member?</summary>
            <ol>
              <li>
                Open{" "}
                <Link to="/orgs/$org/members" params={{ org }}>
                  Members
                </Link>{" "}
                and choose “Add User”.
              </li>
              <li>Enter their name and email and pick a role. Only roles below your own rank are offered.</li>
              <li>
                They get an email with a link valid for 7 days. Once they open it and sign in with that address, they
                show as Active. “Resend invitation” sends a new link; “Cancel invitation” withdraws it.
              </li>
            </ol>
          </details>
          <details>
            <summary>How do I make a custom role?</summary>
            <p>
              On{" "}
              <Link to="/orgs/$org/roles" params={{ org }}>
                Roles
              </Link>
              , choose “New Role”, give it a level below your own and tick its permissions, grouped as in the catalog.
              You can only grant permissions you hold yourself. Deleting a role that members hold asks which role they
              move to.
            </p>
          </details>
          <details>
            <summary>How do I revoke an API key?</summary>
            <p>
              On{" "}
              <Link to="/orgs/$org/api-keys" params={{ org }}>
                API keys
              </Link>
              , choose “Revoke” beside the key and confirm. It stops working at once and cannot be restored: create a
              new key if you need one. You can revoke your own keys; revoking others' needs the permission
              apikeys:revoke.
            </p>
          </details>
          <details>
            <summary>How do I switch organizations?</summary>
            <p>
              Use the Organization menu in the sidebar, under the ORG tab. Atrium remembers the last one you chose and
              opens it next time. You see only organizations you are a member of.
            </p>
          </details>
        </div>
      </Card>
    </>
  );
}
