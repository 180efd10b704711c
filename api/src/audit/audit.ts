// The audit log: every write through the API, allowed or not, with who, what, where and how
// it ended. Writes are queued and never fail the request they describe; a failure to record
// is logged.
import type { Logger } from "@atrium/kube";
import type { Request } from "express";
import { actorName, type Principal } from "../auth/principal.ts";
import type { Database } from "../db/index.ts";

export type AuditEntry = {
  org: string | undefined;
  principal: Principal | undefined;
  action: string;
  target: string | undefined;
  result: "success" | "denied" | "error";
  status: number;
  ip: string | undefined;
  detail?: Record<string, unknown>;
};

export class AuditLog {
  private readonly db: Database;
  private readonly log: Logger;
  private pending: Promise<unknown> = Promise.resolve();

  constructor(db: Database, log: Logger) {
    this.db = db;
    this.log = log;
  }

  record(e: AuditEntry): void {
    // Refused calls carry the raw path: PostgreSQL would refuse the whole record over a NUL.
    const data = {
      org: e.org?.replaceAll("\u0000", "\uFFFD") ?? null,
      actor: actorName(e.principal),
      actorType: e.principal ? (e.principal.kind === "session" ? "user" : "apikey") : "anonymous",
      action: e.action,
      target: e.target?.replaceAll("\u0000", "\uFFFD") ?? null,
      result: e.result,
      status: e.status,
      ip: e.ip ?? null,
      detail: e.detail ? JSON.stringify(e.detail) : null,
    };
    this.pending = this.pending
      .then(() => this.db.prisma.auditEvent.create({ data }))
      .catch((err) => this.log("Audit write failed", { action: e.action, error: String(err) }, "error"));
  }

  /** Resolves when every queued entry is written (tests, shutdown). */
  flushed(): Promise<void> {
    return this.pending.then(() => undefined);
  }
}

export const clientIp = (req: Request) => req.ip ?? req.socket.remoteAddress;
