// What may be done to a member, and the dialogs that do it. Each action is offered with the
// reason when the caller may not take it (the rank rules of crds/src/rank.ts, the API's own); the API decides.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Form } from "react-aria-components";
import { mayAssign, mayInvite } from "../../../crds/src/rank.ts";
import { DEFAULT_ROLE } from "../../../crds/src/roles.ts";
import { ApiProblem, api, type MemberView, type RoleView, unwrap } from "../api/client.ts";
import type { MemberAction } from "../lib/offers.ts";
import { keys } from "../lib/queries.ts";
import type { Access } from "../lib/session.ts";
import { DialogActions, Field, ModalDialog } from "./forms.tsx";
import { SelectField } from "./SelectField.tsx";
import { Banner, Button, ProblemBanner } from "./ui.tsx";

const roleChoices = (roles: readonly RoleView[], allowed: (r: RoleView) => { ok: boolean; reason?: string }) =>
  roles.map((r) => {
    const v = allowed(r);
    return {
      id: r.name,
      label: r.displayName,
      hint: `Level ${r.level}${r.builtIn ? "" : " · custom"}`,
      disabledReason: v.ok ? undefined : v.reason,
    };
  });

function useInvalidateMembers(org: string) {
  const queryClient = useQueryClient();
  return () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: keys.members(org) }),
      queryClient.invalidateQueries({ queryKey: keys.roles(org) }),
    ]);
}

export function AddUserDialog(props: {
  org: string;
  access: Access;
  roles: readonly RoleView[];
  isOpen: boolean;
  onOpenChange(open: boolean): void;
}) {
  const { org, access } = props;
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  // Only the roles this caller may give; without roles:view the API's default role is all there is.
  const roles = props.roles.length
    ? props.roles
    : [{ name: DEFAULT_ROLE, displayName: "Member", level: 40, permissions: [], builtIn: true } as unknown as RoleView];
  const choices = roleChoices(roles, (r) => mayInvite(access, r, DEFAULT_ROLE)).filter((c) => !c.disabledReason);
  const [role, setRole] = useState<string | null>(
    choices.some((c) => c.id === DEFAULT_ROLE) ? DEFAULT_ROLE : (choices[0]?.id ?? null),
  );
  const [sent, setSent] = useState<string | undefined>();
  const invalidate = useInvalidateMembers(org);
  const invite = useMutation({
    mutationFn: () =>
      unwrap(
        api.POST("/api/orgs/{org}/members", {
          params: { path: { org } },
          body: { email, ...(name.trim() ? { displayName: name.trim() } : {}), ...(role ? { role } : {}) },
        }),
      ),
    onSuccess: async (result) => {
      await invalidate();
      setSent(
        result.emailSent
          ? `Invitation sent to ${result.member.email}.`
          : `${result.member.email} was added, but the email could not be sent: resend it later.`,
      );
      setName("");
      setEmail("");
    },
  });
  const problem = invite.error instanceof ApiProblem ? invite.error : undefined;
  const close = (open: boolean) => {
    if (!open) {
      invite.reset();
      setSent(undefined);
    }
    props.onOpenChange(open);
  };
  return (
    <ModalDialog title="Add User" isOpen={props.isOpen} onOpenChange={close}>
      {sent && <Banner tone="info">{sent}</Banner>}
      <ProblemBanner problem={invite.error} title="The invitation was not sent" />
      <Form
        validationBehavior="aria"
        onSubmit={(e) => {
          e.preventDefault();
          if (!invite.isPending) invite.mutate();
        }}
      >
        <Field
          label="Name"
          value={name}
          onChange={setName}
          maxLength={100}
          error={problem?.fieldMessage("displayName")}
          autoFocus
        />
        <Field
          label="Email"
          type="email"
          value={email}
          onChange={(value) => {
            setEmail(value);
            // A refusal is about what was sent: editing the address clears it.
            if (invite.error) invite.reset();
          }}
          isRequired
          maxLength={320}
          error={problem?.fieldMessage("email")}
          description="They get an email with a link that is valid for 7 days."
        />
        <SelectField
          label="Role"
          value={role}
          onChange={setRole}
          choices={choices}
          error={problem?.fieldMessage("role")}
          description={choices.length < roles.length ? "Only the roles you may give are offered." : undefined}
        />
        <DialogActions>
          <Button slot="close" onPress={() => close(false)}>
            {sent ? "Done" : "Cancel"}
          </Button>
          {/* Never disabled: a disabled button drops the keyboard focus out of the dialog (a second
              press while sending is ignored in onSubmit instead). */}
          <Button type="submit" variant="primary">
            {invite.isPending ? "Sending…" : "Send invitation"}
          </Button>
        </DialogActions>
      </Form>
    </ModalDialog>
  );
}

export function ChangeRoleDialog(props: {
  org: string;
  access: Access;
  member: MemberView;
  roles: readonly RoleView[];
  onClose(): void;
}) {
  const { org, member } = props;
  const [role, setRole] = useState<string | null>(member.role);
  const invalidate = useInvalidateMembers(org);
  const change = useMutation({
    mutationFn: () =>
      unwrap(
        api.PATCH("/api/orgs/{org}/members/{member}", {
          params: { path: { org, member: member.name } },
          body: { role: role ?? member.role },
        }),
      ),
    onSuccess: async () => {
      await invalidate();
      props.onClose();
    },
  });
  const problem = change.error instanceof ApiProblem ? change.error : undefined;
  return (
    <ModalDialog title={`Change the role of ${member.displayName}`} isOpen onOpenChange={(o) => !o && props.onClose()}>
      <ProblemBanner problem={change.error} title="The role was not changed" />
      <Form
        validationBehavior="aria"
        onSubmit={(e) => {
          e.preventDefault();
          change.mutate();
        }}
      >
        <SelectField
          label="Role"
          value={role}
          onChange={setRole}
          choices={roleChoices(props.roles, (r) =>
            r.name === member.role ? { ok: true } : mayAssign(props.access, r),
          )}
          error={problem?.fieldMessage("role")}
          description="Roles you may not give are shown with the reason."
        />
        <DialogActions>
          <Button onPress={props.onClose}>Cancel</Button>
          <Button type="submit" variant="primary" isDisabled={change.isPending || role === member.role}>
            Save role
          </Button>
        </DialogActions>
      </Form>
    </ModalDialog>
  );
}

const CONFIRM: Record<
  Exclude<MemberAction, "role">,
  { title: string; text: (m: MemberView) => string; button: string }
> = {
  deactivate: {
    title: "Deactivate member",
    text: (m) =>
      `${m.displayName} (${m.email}) loses access to this organization and their API keys stop working until activated again.`,
    button: "Deactivate",
  },
  activate: {
    title: "Activate member",
    text: (m) => `${m.displayName} (${m.email}) gets the access of their role again.`,
    button: "Activate",
  },
  resend: {
    title: "Resend invitation",
    text: (m) => `A new link goes to ${m.email}; the link sent before stops working.`,
    button: "Resend",
  },
  cancel: {
    title: "Cancel invitation",
    text: (m) => `The invitation of ${m.email} is withdrawn and its link stops working.`,
    button: "Cancel invitation",
  },
};

export function ConfirmMemberAction(props: {
  org: string;
  member: MemberView;
  action: Exclude<MemberAction, "role">;
  onClose(): void;
}) {
  const { org, member, action } = props;
  const invalidate = useInvalidateMembers(org);
  const path = { org, member: member.name };
  const run = useMutation({
    mutationFn: async () => {
      if (action === "activate" || action === "deactivate")
        await unwrap(
          api.PATCH("/api/orgs/{org}/members/{member}", { params: { path }, body: { active: action === "activate" } }),
        );
      else if (action === "resend")
        await unwrap(api.POST("/api/orgs/{org}/members/{member}/invitation", { params: { path } }));
      else await unwrap(api.DELETE("/api/orgs/{org}/members/{member}/invitation", { params: { path } }));
    },
    onSuccess: async () => {
      await invalidate();
      props.onClose();
    },
  });
  const c = CONFIRM[action];
  return (
    <ModalDialog title={c.title} isOpen onOpenChange={(o) => !o && props.onClose()} role="alertdialog">
      <ProblemBanner problem={run.error} />
      <p>{c.text(member)}</p>
      <DialogActions>
        <Button onPress={props.onClose}>Keep as is</Button>
        <Button
          variant={action === "activate" || action === "resend" ? "primary" : "danger"}
          isDisabled={run.isPending}
          onPress={() => run.mutate()}
        >
          {c.button}
        </Button>
      </DialogActions>
    </ModalDialog>
  );
}

/** The open dialog for one member, if any. */
export function MemberActionDialog(props: {
  org: string;
  access: Access;
  roles: readonly RoleView[];
  open: { member: MemberView; action: MemberAction } | undefined;
  onClose(): void;
}) {
  const { open } = props;
  if (!open) return null;
  if (open.action === "role")
    return (
      <ChangeRoleDialog
        org={props.org}
        access={props.access}
        member={open.member}
        roles={props.roles}
        onClose={props.onClose}
      />
    );
  return <ConfirmMemberAction org={props.org} member={open.member} action={open.action} onClose={props.onClose} />;
}
