// The organization's logo as the API serves it (same origin, so the CSP's img-src 'self' lets it
// through), or its first letter on a tile when it has none.
import w from "../pages/workspace.module.css";

export function OrgLogo({ name, logoUrl }: { name: string; logoUrl: string | null | undefined }) {
  if (logoUrl) return <img className={w.logo} src={logoUrl} alt={`Logo of ${name}`} width={64} height={64} />;
  return (
    <span className={w.logoTile} aria-hidden="true">
      {name.slice(0, 1).toUpperCase()}
    </span>
  );
}
