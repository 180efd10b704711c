// The console's building blocks on react-aria-components: what is focusable, labelled and
// announced comes from there; how it looks from ui.module.css.
import type { ReactNode } from "react";
import { Button as AriaButton, type ButtonProps } from "react-aria-components";
import type { ApiProblem } from "../api/client.ts";
import s from "./ui.module.css";

type Variant = "primary" | "danger" | "quiet" | "default";
const variantClass = (v: Variant = "default") => (v === "default" ? "" : (s[v] ?? ""));

export function Button({
  variant,
  small,
  className,
  ...props
}: ButtonProps & { variant?: Variant; small?: boolean; className?: string }) {
  return (
    <AriaButton
      {...props}
      className={[s.button, variantClass(variant), small ? s.small : "", className ?? ""].join(" ")}
    />
  );
}

export const buttonClass = (variant?: Variant, small?: boolean) =>
  [s.button, variantClass(variant), small ? s.small : ""].join(" ");

/** The API's refusal: its message as the title of the form (field messages go beside fields). */
export function ProblemBanner({ problem, title }: { problem: unknown; title?: string }) {
  if (!problem) return null;
  // The API names fields by JSON pointer ("/body/env/API_TOKEN: is required"); a person reads the name.
  const message = (problem instanceof Error ? problem.message : String(problem)).replace(/\/body\/(env\/)?/g, "");
  const fields = (problem as Partial<ApiProblem>).fields ?? [];
  return (
    <div className={`${s.banner} ${s.bannerError}`} role="alert">
      <strong className={s.bannerTitle}>{title ?? "That did not work"}</strong>
      {message}
      {fields.length > 1 && " (see the fields below)"}
    </div>
  );
}

export function Banner({ tone, children }: { tone: "info" | "warning"; children: ReactNode }) {
  return (
    <div className={`${s.banner} ${tone === "info" ? s.bannerInfo : s.bannerWarning}`} role="status">
      {children}
    </div>
  );
}

const BADGE_TONES = { green: s.badgeGreen, blue: s.badgeBlue, amber: s.badgeAmber, red: s.badgeRed, grey: "" };
export const Badge = ({ tone, children }: { tone: keyof typeof BADGE_TONES; children: ReactNode }) => (
  <span className={`${s.badge} ${BADGE_TONES[tone]}`}>{children}</span>
);

export function PageHeader(props: { title: string; lead?: ReactNode; actions?: ReactNode }) {
  return (
    <header className={s.pageHeader}>
      <div>
        <h1 className={s.pageTitle}>{props.title}</h1>
        {props.lead && <p className={s.pageLead}>{props.lead}</p>}
      </div>
      {props.actions && <div>{props.actions}</div>}
    </header>
  );
}

export const Card = ({ children, className }: { children: ReactNode; className?: string }) => (
  <section className={`${s.card} ${className ?? ""}`}>{children}</section>
);

export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className={s.empty}>
      <p className={s.emptyTitle}>{title}</p>
      {children}
    </div>
  );
}

export const Loading = ({ what }: { what: string }) => (
  <p className={s.loading} role="status" aria-live="polite">
    Loading {what}…
  </p>
);

export { s as ui };
