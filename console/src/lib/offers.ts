// What may be done to a member, each with the reason when the caller may not (the rank rules
// of crds/src/rank.ts). Apart from the dialogs, so a page lists its actions before their code loads.

import { mayActOn } from "../../../crds/src/rank.ts";
import type { MemberView } from "../api/client.ts";
import type { Access } from "./session.ts";

export type MemberAction = "role" | "activate" | "deactivate" | "resend" | "cancel";
export type Offer = { action: MemberAction; label: string; reason: string | undefined };

const pending = (m: MemberView) => m.status === "Invited" || m.status === "Expired";

/** The actions that fit this member's state, each with why the caller may not take it (if so). */
export function offersFor(access: Access, m: MemberView): Offer[] {
  const onMember = mayActOn(access, { email: m.email, level: m.level });
  const rankReason = onMember.ok ? undefined : onMember.reason;
  const offers: Offer[] = [];
  if (pending(m)) {
    const reason = access.lacks("members:invite") ?? rankReason;
    offers.push({ action: "resend", label: "Resend invitation", reason });
    offers.push({ action: "cancel", label: "Cancel invitation", reason });
  }
  offers.push({ action: "role", label: "Change role…", reason: access.lacks("members:role") ?? rankReason });
  if (!pending(m))
    offers.push(
      m.active
        ? { action: "deactivate", label: "Deactivate", reason: access.lacks("members:deactivate") ?? rankReason }
        : { action: "activate", label: "Activate", reason: access.lacks("members:deactivate") ?? rankReason },
    );
  return offers;
}
