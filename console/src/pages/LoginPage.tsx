// Sign-in goes through the organization's identity provider (OIDC): the API starts it and
// brings the browser back to where it was going.
import { getRouteApi } from "@tanstack/react-router";
import s from "../components/layout.module.css";
import { buttonClass, Card } from "../components/ui.tsx";

const route = getRouteApi("/login");

export function LoginPage() {
  const { returnTo } = route.useSearch();
  const href = `/api/auth/login?returnTo=${encodeURIComponent(returnTo ?? "/")}`;
  return (
    <main className={s.centered}>
      <Card className={s.loginCard}>
        <div className={s.loginBody}>
          <p className={s.brandLarge} aria-hidden="true">
            Atrium
          </p>
          <h1 className={s.loginTitle}>Sign in to Atrium</h1>
          <p className={s.loginLead}>
            Your organization's identity provider confirms who you are; Atrium never sees your password.
          </p>
          <a className={`${buttonClass("primary")} ${s.loginButton}`} href={href}>
            Continue to sign in
          </a>
          <p className={s.loginHint}>
            Invited by email? Open the link in the invitation and sign in with that address.
          </p>
        </div>
      </Card>
    </main>
  );
}
