import { Link } from "@tanstack/react-router";
import s from "./layout.module.css";
import { Card, EmptyState } from "./ui.tsx";

export function NotFoundPage() {
  return (
    <main className={s.centered}>
      <Card>
        <EmptyState title="This page does not exist">
          <p>
            The link may be old or mistyped. <Link to="/">Go to your organization</Link>
          </p>
        </EmptyState>
      </Card>
    </main>
  );
}
