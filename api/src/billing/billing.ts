// Subscriptions, trials and invoices (state in the database), and the one thing of billing the
// cluster sees: the entitlement published into each AppInstance's status. The rules themselves
// (periods, proration, states, what a subscription entitles) are pure functions in domain.ts;
// this file reads and writes rows and publishes. Every write that races another (two API
// replicas, the install route and the AppInstance watch) is settled by a unique key or a
// conditional update, never by "read, then write if absent".
import {
  type AppInstance,
  type AppTemplate,
  type Entitlement,
  isPaid,
  namespaceFor,
  orgOfNamespace,
  type PricingInterval,
  type PricingPlan,
} from "@atrium/crds";
import { errorMessage, isNotFound as isKubeNotFound, type KubeClient, type Logger, R } from "@atrium/kube";
import type { Database, Invoice, InvoiceLine, Prisma, Subscription } from "../db/index.ts";
import { isUniqueViolation } from "../db/index.ts";
import { ApiError, conflict, notFound } from "../http/errors.ts";
import {
  DAY_MS,
  DUE_DAYS,
  dueWithoutSpan,
  entitlementFor,
  GRACE_DAYS,
  isRecurring,
  type Line,
  nextPeriod,
  periodEnd,
  periodWithoutSpan,
  planChange,
  prorateUpgrade,
  renewalDue,
  type SubscriptionState,
  sameEntitlement,
  transitionAt,
  trialEnd,
  trialNoticesDue,
} from "./domain.ts";
import type { InstallSource } from "./installs-source.ts";
import { localLedger, type PaymentProvider } from "./provider.ts";

export type { SubscriptionState } from "./domain.ts";

export type SubscriptionView = {
  id: string;
  template: string;
  /** null for a lifetime entitlement of the org (no single app). */
  app: string | null;
  /** Plan id; null while trialing without a chosen plan. */
  plan: string | null;
  interval: PricingInterval | null;
  /** Minor units. */
  amount: number | null;
  currency: string | null;
  state: SubscriptionState;
  trialEndsAt: string | null;
  currentPeriodEnd: string | null;
  cancelAtPeriodEnd: boolean;
  /** A downgrade that takes effect at the period's end. */
  pendingPlan: string | null;
  currentPeriodStart: string | null;
  /** Why a paused subscription is paused: TrialEnded, PaymentRequired or Unpaid. */
  pausedReason: string | null;
};

export type InvoiceView = {
  id: string;
  subscription: string | null;
  status: "open" | "paid" | "void";
  currency: string;
  /** Minor units; the sum of the lines' amounts. */
  total: number;
  issuedAt: string;
  dueAt: string;
  periodStart: string | null;
  periodEnd: string | null;
  paidAt: string | null;
  paidBy: string | null;
  lines: { description: string; quantity: number; unitAmount: number; amount: number }[];
};

export type PlanChangeResult = {
  change: "purchase" | "upgrade" | "downgrade" | "none";
  subscription: SubscriptionView;
  invoice: InvoiceView | null;
};

export type BillingOptions = {
  db: Database;
  kube: KubeClient;
  log?: Logger;
  now?: () => number;
  provider?: PaymentProvider;
  /** The catalog (H1's Catalog has this shape); without one, templates are read from the apiserver. */
  templates?: { get(name: string): AppTemplate | undefined };
  /** The AppInstances as a watch sees them (the apps feature's Installs, or watchInstalls()). */
  installs?: InstallSource;
  /**
   * Whether an organization is being deleted (its grace period: spec.deletion): its renewals and
   * dunning wait meanwhile (the operator holds its apps at zero; a restore picks them up again).
   */
  orgDeleting?: (org: string) => boolean;
};

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);
const SYSTEM = "system:billing";
/** How long a watch may lag behind our own status write (an echo, not a change). */
const PUBLISH_ECHO_MS = 10_000;
const liveKeyOfApp = (org: string, app: string) => `${org}/${app}`;
const liveKeyOfLifetime = (org: string, template: string) => `${org}/*${template}`;

type Tx = Prisma.TransactionClient;
type InvoiceWithLines = Invoice & { lines: InvoiceLine[] };

/** Two changes of one subscription at once (a double click, two replicas): one wins, the other hears 409. */
const changedMeanwhile = (error: unknown): never => {
  if (isUniqueViolation(error)) throw conflict("The subscription changed at the same moment; look again and retry");
  throw error;
};

export const planOf = (template: AppTemplate, id: string | undefined | null): PricingPlan | undefined =>
  id ? template.spec.pricing?.plans.find((p) => p.id === id) : undefined;

export function toView(s: Subscription): SubscriptionView {
  return {
    id: s.id,
    template: s.template,
    app: s.app,
    plan: s.planId,
    interval: (s.interval as PricingInterval | null) ?? null,
    amount: s.amount,
    currency: s.currency,
    state: s.state as SubscriptionState,
    trialEndsAt: iso(s.trialEnd),
    currentPeriodEnd: iso(s.currentPeriodEnd),
    cancelAtPeriodEnd: s.cancelAtPeriodEnd,
    pendingPlan: s.pendingPlanId,
    currentPeriodStart: iso(s.currentPeriodStart),
    pausedReason: s.pausedReason,
  };
}

export function toInvoiceView(i: InvoiceWithLines): InvoiceView {
  return {
    id: i.id,
    subscription: i.subscriptionId,
    status: i.status as InvoiceView["status"],
    currency: i.currency,
    total: i.total,
    issuedAt: i.issuedAt.toISOString(),
    dueAt: i.dueAt.toISOString(),
    periodStart: iso(i.periodStart),
    periodEnd: iso(i.periodEnd),
    paidAt: iso(i.paidAt),
    paidBy: i.paidBy,
    lines: [...i.lines]
      .sort((a, b) => a.position - b.position)
      .map((l) => ({ description: l.description, quantity: l.quantity, unitAmount: l.unitAmount, amount: l.amount })),
  };
}

export class Billing {
  private readonly db: Database;
  private readonly kube: KubeClient;
  private readonly log: Logger;
  readonly now: () => number;
  private readonly provider: PaymentProvider;
  private templates: { get(name: string): AppTemplate | undefined } | undefined;
  private installs: InstallSource | undefined;
  private readonly orgDeleting: (org: string) => boolean;
  /** What this replica last published per install, and when (wall clock): see publish(). */
  private readonly published = new Map<string, { said: string; at: number }>();
  /** Per-install chains, so the watch never handles one app twice at once. */
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(options: BillingOptions) {
    this.db = options.db;
    this.kube = options.kube;
    this.log = options.log ?? (() => {});
    this.now = options.now ?? Date.now;
    this.provider = options.provider ?? localLedger({ autopay: false });
    this.templates = options.templates;
    this.installs = options.installs;
    this.orgDeleting = options.orgDeleting ?? (() => false);
  }

  private get prisma() {
    return this.db.prisma;
  }

  /**
   * Follows the installs: a new AppInstance (kubectl's too) gets its subscription, a deleted one
   * ends it. Returns the unsubscribe function.
   */
  follow(installs: InstallSource, templates?: { get(name: string): AppTemplate | undefined }): () => void {
    this.installs = installs;
    if (templates) this.templates = templates;
    return installs.onChange((type, app) => {
      const org = orgOfNamespace(app.metadata.namespace);
      if (!org) return;
      if (type === "deleted") {
        this.serialize(org, app.metadata.name, () => this.onUninstalled(org, app.metadata.name));
        return;
      }
      if (!this.needsSubscribing(app)) return;
      this.serialize(org, app.metadata.name, () => this.subscribeNow(org, app, "kubectl"));
    });
  }

  /** Subscribes every install that has no entitlement yet (made while no API ran). */
  async sweep(): Promise<number> {
    const { items } = await this.kube.list<AppInstance>(R.appInstance);
    let done = 0;
    for (const app of items) {
      const org = orgOfNamespace(app.metadata.namespace);
      if (!org || !this.needsSubscribing(app)) continue;
      this.serialize(org, app.metadata.name, () => this.subscribeNow(org, app, "kubectl"));
      done++;
    }
    await this.idle();
    return done;
  }

  /** The watch calls subscribe only where something is missing: not on every status update. */
  private needsSubscribing(app: AppInstance): boolean {
    const published = app.status?.entitlement;
    if (!published) return true;
    // A plan set with kubectl on an app that waits for payment buys it.
    return !!app.spec.plan && !published.allowed && published.plan !== app.spec.plan;
  }

  /** Queues work on the install's chain (logging a failure), for the watch and the sweep. */
  private serialize(org: string, app: string, work: () => Promise<unknown>): void {
    void this.queued(org, app, work).catch((error) =>
      this.log("Billing could not handle an install", { org, app, error: errorMessage(error) }, "error"),
    );
  }

  /** Runs work after what is queued for the install, and answers its result (or its failure). */
  private queued<T>(org: string, app: string, work: () => Promise<T>): Promise<T> {
    const key = `${org}/${app}`;
    const result = (this.chains.get(key) ?? Promise.resolve()).then(work);
    const next = result.then(
      () => {},
      () => {},
    );
    this.chains.set(key, next);
    void next.then(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
    return result;
  }

  /** Resolves once every queued watch event has been handled (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  private async template(name: string): Promise<AppTemplate | undefined> {
    return this.templates?.get(name) ?? (await this.kube.get<AppTemplate>(R.appTemplate, name));
  }

  // ---- The contract with the install flow (CONTRACTS.md) ----

  /** Refuses a plan/trial choice before anything is written: 422 with field errors. No writes. */
  async checkChoice(org: string, template: AppTemplate, choice: { plan?: string; trial?: boolean }): Promise<void> {
    const fields: { path: string; message: string }[] = [];
    const plans = template.spec.pricing?.plans ?? [];
    if (choice.plan !== undefined && choice.trial)
      fields.push({ path: "/body/trial", message: "Choose a plan or a trial, not both" });
    if (choice.plan !== undefined && !planOf(template, choice.plan))
      fields.push({
        path: "/body/plan",
        message: plans.length
          ? `Unknown plan "${choice.plan}"; this app's plans: ${plans.map((p) => p.id).join(", ")}`
          : `Unknown plan "${choice.plan}": this app is free`,
      });
    if (choice.trial) {
      const days = template.spec.pricing?.trialDays ?? 0;
      if (!isPaid(template) || days <= 0) fields.push({ path: "/body/trial", message: "This app has no free trial" });
      else {
        const grant = await this.prisma.trialGrant.findUnique({
          where: { org_template: { org, template: template.metadata.name } },
        });
        if (grant)
          fields.push({
            path: "/body/trial",
            message: `This organization already had its free trial of this app (started ${grant.grantedAt.toISOString()}); choose a plan`,
          });
      }
    }
    if (fields.length)
      throw new ApiError(422, "validation_failed", (fields[0] as { message: string }).message, { fields });
  }

  /**
   * Gives an AppInstance its subscription (a trial where the org has one left for the app, the
   * plan in spec.plan, or none: it waits in PaymentRequired) and publishes its entitlement.
   * Idempotent; free apps get none (null). Queued behind the watch's handling of the same install
   * (and it behind this): the install route and the watch, seeing the new AppInstance at the same
   * moment, would otherwise both act on it, and the route could answer a subscription the watch
   * is still buying (paused, its autopaid invoice not yet issued). Other replicas are kept from
   * doing anything twice by the unique keys.
   */
  subscribe(org: string, app: AppInstance, actor: string = SYSTEM): Promise<SubscriptionView | null> {
    return this.queued(org, app.metadata.name, () => this.subscribeNow(org, app, actor));
  }

  private async subscribeNow(org: string, app: AppInstance, actor: string): Promise<SubscriptionView | null> {
    const template = await this.template(app.spec.template);
    if (!template || !isPaid(template)) return null;
    const name = app.metadata.name;
    for (let attempt = 0; attempt < 3; attempt++) {
      const live = await this.liveFor(org, name, template.metadata.name);
      if (live) {
        // A plan given with kubectl to an app that waits for payment buys it (once: the
        // subscription then has that plan).
        const plan = planOf(template, app.spec.plan);
        if (plan && !live.planId && live.app !== null && live.state !== "trialing")
          await this.changePlan(org, live.id, plan.id, actor);
        const current = (await this.prisma.subscription.findUnique({ where: { id: live.id } })) ?? live;
        await this.publish(org, name, current, app);
        return toView(current);
      }
      try {
        await this.start(org, app, template);
      } catch (error) {
        // Another replica or the watch started it (liveKey), or took the org's trial (TrialGrant):
        // look again.
        if (!isUniqueViolation(error)) throw error;
      }
    }
    throw conflict("The subscription changed while it was being started; try again");
  }

  async viewFor(org: string, app: string): Promise<SubscriptionView | null> {
    const installed = this.installs?.get(org, app);
    const template =
      installed?.spec.template ??
      (await this.prisma.subscription.findUnique({ where: { liveKey: liveKeyOfApp(org, app) } }))?.template;
    if (!template) return null;
    const live = await this.liveFor(org, app, template);
    return live ? toView(live) : null;
  }

  /** The live subscriptions of the org keyed by app name; a lifetime one under each install of its template. */
  async viewsIn(org: string): Promise<Map<string, SubscriptionView>> {
    const rows = await this.prisma.subscription.findMany({ where: { org, liveKey: { not: null } } });
    const views = new Map<string, SubscriptionView>();
    for (const row of rows) if (row.app) views.set(row.app, toView(row));
    for (const row of rows)
      if (!row.app && row.state === "active")
        for (const app of this.installs?.inOrg(org) ?? [])
          if (app.spec.template === row.template) views.set(app.metadata.name, toView(row));
    return views;
  }

  async trialsUsed(org: string): Promise<Set<string>> {
    const grants = await this.prisma.trialGrant.findMany({ where: { org }, select: { template: true } });
    return new Set(grants.map((g) => g.template));
  }

  /** The install is gone: its subscription ends (expired) and its open invoices are voided. Data is not billing's to delete. */
  async onUninstalled(org: string, app: string): Promise<void> {
    this.published.delete(`${org}/${app}`);
    const live = await this.prisma.subscription.findUnique({ where: { liveKey: liveKeyOfApp(org, app) } });
    if (!live) return;
    await this.end(live.id, "expired");
    this.log("Subscription ended with its install", { org, app, subscription: live.id });
  }

  // ---- Queries for the routes ----

  async list(org: string, options: { all?: boolean } = {}): Promise<SubscriptionView[]> {
    const rows = await this.prisma.subscription.findMany({
      where: { org, ...(options.all ? {} : { liveKey: { not: null } }) },
      orderBy: [{ createdAt: "desc" }, { id: "asc" }],
      take: 1000,
    });
    return rows.map(toView);
  }

  async get(org: string, id: string): Promise<Subscription> {
    const row = await this.prisma.subscription.findFirst({ where: { id, org } });
    if (!row) throw notFound(`Subscription "${id}"`);
    return row;
  }

  async invoices(org: string, options: { status?: string } = {}): Promise<InvoiceView[]> {
    const rows = await this.prisma.invoice.findMany({
      where: { org, ...(options.status ? { status: options.status } : {}) },
      include: { lines: true },
      orderBy: [{ issuedAt: "desc" }, { id: "asc" }],
      take: 1000,
    });
    return rows.map(toInvoiceView);
  }

  async invoice(org: string, id: string): Promise<InvoiceView> {
    const row = await this.prisma.invoice.findFirst({ where: { id, org }, include: { lines: true } });
    if (!row) throw notFound(`Invoice "${id}"`);
    return toInvoiceView(row);
  }

  // ---- Changes ----

  /**
   * Chooses or changes the plan of a subscription. Without a paid plan running (trialing, paused,
   * canceled) it is a purchase: an invoice for the first period (or the one payment), and the
   * subscription runs once it is paid. With one running: an upgrade takes effect now, prorated to
   * the day; a downgrade at the period's end. A lifetime plan covers the whole organization.
   */
  async changePlan(org: string, id: string, planId: string, actor: string): Promise<PlanChangeResult> {
    const sub = await this.get(org, id);
    if (!sub.liveKey) throw conflict("This subscription has ended; install the app again to subscribe");
    const template = await this.template(sub.template);
    if (!template) throw conflict(`The app's template "${sub.template}" no longer exists`);
    const plan = planOf(template, planId);
    if (!plan)
      throw new ApiError(422, "validation_failed", `Unknown plan "${planId}"`, {
        fields: [
          {
            path: "/body/plan",
            message: `Unknown plan "${planId}"; this app's plans: ${(template.spec.pricing?.plans ?? []).map((p) => p.id).join(", ")}`,
          },
        ],
      });
    const running = (sub.state === "active" || sub.state === "past_due") && sub.planId !== null;
    if (plan.interval === "lifetime" && sub.app !== null) return this.purchaseLifetime(sub, template, plan, actor);
    if (!running) return this.purchase(sub, plan, actor);
    const current = {
      id: sub.planId as string,
      interval: sub.interval as PricingInterval,
      amount: sub.amount ?? 0,
    };
    if (!isRecurring(current.interval))
      throw conflict(
        `This install is paid for good (${current.interval} plan ${current.id}): there is no plan to change`,
      );
    const change = planChange(current, plan);
    if (change !== "none" && plan.currency !== sub.currency)
      throw new ApiError(422, "validation_failed", "A change to another currency is not possible", {
        fields: [
          {
            path: "/body/plan",
            message: `Plan ${plan.id} is in ${plan.currency}, the subscription in ${sub.currency}: cancel and subscribe again`,
          },
        ],
      });
    if (change === "none" || change === "downgrade") {
      // Choosing the current plan again takes back a scheduled downgrade.
      const updated = await this.prisma.subscription.update({
        where: { id: sub.id },
        data: { pendingPlanId: change === "none" ? null : plan.id },
      });
      return { change, subscription: toView(updated), invoice: null };
    }
    return this.upgrade(sub, plan, actor);
  }

  /** Stops the subscription at the end of its period (a trial: at the trial's end); a paused one at once. */
  async cancel(org: string, id: string): Promise<SubscriptionView> {
    const sub = await this.get(org, id);
    if (!sub.liveKey || sub.state === "canceled") throw conflict("This subscription has already ended");
    if ((sub.state === "active" || sub.state === "past_due") && !isRecurring(sub.interval))
      throw conflict(`A ${sub.interval} plan is paid for good: there is nothing to cancel`);
    if (sub.state === "paused") {
      await this.end(sub.id, "canceled", { keepLive: true });
    } else {
      await this.prisma.subscription.update({
        where: { id: sub.id },
        data: { cancelAtPeriodEnd: true, pendingPlanId: null },
      });
    }
    const updated = await this.get(org, id);
    await this.publishSubscription(updated);
    return toView(updated);
  }

  /** Takes back a cancellation that has not taken effect yet. */
  async resume(org: string, id: string): Promise<SubscriptionView> {
    const sub = await this.get(org, id);
    if (!sub.cancelAtPeriodEnd || !["trialing", "active", "past_due"].includes(sub.state))
      throw conflict("Only a subscription canceled at its period's end, and still running, can be resumed");
    const updated = await this.prisma.subscription.update({
      where: { id: sub.id },
      data: { cancelAtPeriodEnd: false },
    });
    await this.publishSubscription(updated);
    return toView(updated);
  }

  /** Records the payment of an open invoice (the local ledger's "paid"), and what it unlocks. */
  async recordPayment(org: string, invoiceId: string, by: string): Promise<InvoiceView> {
    const at = new Date(this.now());
    const invoice = await this.prisma.invoice.findFirst({ where: { id: invoiceId, org } });
    if (!invoice) throw notFound(`Invoice "${invoiceId}"`);
    // The payment and its event commit together, once: the update only matches an open invoice.
    const event = {
      invoice: invoiceId,
      subscription: invoice.subscriptionId,
      total: invoice.total,
      currency: invoice.currency,
      paidBy: by,
      paidAt: at.toISOString(),
    };
    const recorded = await this.prisma.$transaction(async (tx) => {
      const { count } = await tx.invoice.updateMany({
        where: { id: invoiceId, org, status: "open" },
        data: { status: "paid", paidAt: at, paidBy: by },
      });
      if (count === 0) return false;
      await tx.outbox.create({
        data: { key: `payment-recorded:${invoiceId}`, type: "payment.recorded", org, payload: JSON.stringify(event) },
      });
      return true;
    });
    if (!recorded) {
      const now = await this.prisma.invoice.findUnique({ where: { id: invoiceId } });
      throw conflict(`Invoice "${invoiceId}" is ${now?.status ?? invoice.status}, not open`);
    }
    if (invoice.subscriptionId) await this.afterPayment(invoice.subscriptionId, invoiceId, at);
    return this.invoice(org, invoiceId);
  }

  // ---- Billing details ----

  async details(org: string) {
    return this.prisma.billingDetails.findUnique({ where: { org } });
  }

  async saveDetails(
    org: string,
    details: Omit<Prisma.BillingDetailsUncheckedCreateInput, "org" | "updatedBy" | "updatedAt">,
    by: string,
  ) {
    const data = {
      addressLine2: null,
      postalCode: null,
      region: null,
      taxId: null,
      ...details,
      updatedBy: by,
    };
    return this.prisma.billingDetails.upsert({ where: { org }, create: { org, ...data }, update: data });
  }

  // ---- The scheduler's work (one pass; the scheduler runs it on the leader only) ----

  /**
   * Everything time does at `now`: trial notices and ends, renewals (with downgrades and
   * cancellations at the period's end), invoices falling due, past-due subscriptions pausing.
   * Each step is a conditional update or a uniquely keyed insert, so a second pass (or a second
   * replica that wrongly thinks it leads) changes nothing and writes no event twice.
   * Organizations in their deletion grace period are held: no renewal, no invoice-due notice,
   * no move to past due or paused (their apps are held at zero anyway); a restore lets the next
   * pass do what waited, the renewals catching up period by period. Trials still end on time.
   */
  async runDue(): Promise<{ notices: number; transitions: number; renewals: number; held: number }> {
    const now = new Date(this.now());
    const result = { notices: 0, transitions: 0, renewals: 0, held: 0 };
    const held = new Set<string>();
    const holds = (org: string) => {
      if (!this.orgDeleting(org)) return false;
      held.add(org);
      return true;
    };
    const trialing = await this.prisma.subscription.findMany({
      where: { state: "trialing", liveKey: { not: null }, trialEnd: { lte: new Date(now.getTime() + 7 * DAY_MS) } },
    });
    for (const sub of trialing) {
      for (const days of trialNoticesDue(sub, now))
        if (
          await this.outbox(`trial-ending-${days}d:${sub.id}`, "trial.ending", sub.org, {
            subscription: sub.id,
            app: sub.app,
            template: sub.template,
            days,
            trialEndsAt: iso(sub.trialEnd),
          })
        )
          result.notices++;
      if (await this.applyTransition(sub, now)) result.transitions++;
    }
    const periodsEnded = await this.prisma.subscription.findMany({
      where: { state: { in: ["active", "past_due"] }, liveKey: { not: null }, currentPeriodEnd: { lte: now } },
    });
    for (const sub of periodsEnded) {
      if (holds(sub.org)) continue;
      if (renewalDue(sub, now)) result.renewals += await this.renew(sub, now);
      else if (await this.applyTransition(sub, now)) result.transitions++;
    }
    const due = (await this.prisma.invoice.findMany({ where: { status: "open", dueAt: { lte: now } } })).filter(
      (invoice) => !holds(invoice.org),
    );
    for (const invoice of due)
      if (
        await this.outbox(`invoice-due:${invoice.id}`, "invoice.due", invoice.org, {
          invoice: invoice.id,
          subscription: invoice.subscriptionId,
          total: invoice.total,
          currency: invoice.currency,
          dueAt: invoice.dueAt.toISOString(),
        })
      )
        result.notices++;
    // Only subscriptions with an invoice past its due date, or already past due, can move.
    const owing = [...new Set(due.map((i) => i.subscriptionId).filter((id): id is string => id !== null))];
    const unpaid = await this.prisma.subscription.findMany({
      where: {
        liveKey: { not: null },
        OR: [{ state: "past_due" }, { state: "active", id: { in: owing } }],
      },
    });
    for (const sub of unpaid) if (!holds(sub.org) && (await this.applyTransition(sub, now))) result.transitions++;
    result.held = held.size;
    return result;
  }

  /**
   * An organization restored from its deletion grace period is not billed for that period: its
   * apps were held at zero. The span from the deletion's request to the restore is taken out of
   * every running recurring period of its live subscriptions (they end that much later and renew
   * from there, domain.ts periodWithoutSpan) and of the dunning of its open invoices (due that
   * much later, dueWithoutSpan), then the entitlements are published again (their `until`
   * moved). Once per deletion, whichever replica or retry asks: the outbox event
   * `org.restored` keyed by the deletion's request is written in the same transaction (no notice
   * is sent for it). Returns what moved, or undefined when this deletion was already credited.
   */
  async creditDeletionGrace(
    org: string,
    requestedAt: Date,
    restoredAt: Date,
  ): Promise<{ periods: number; invoices: number } | undefined> {
    const from = requestedAt;
    const to = restoredAt;
    const moved = await this.prisma
      .$transaction(async (tx) => {
        await tx.outbox.create({
          data: {
            key: `org-restored:${org}:${from.toISOString()}`,
            type: "org.restored",
            org,
            payload: JSON.stringify({ requestedAt: from.toISOString(), restoredAt: to.toISOString() }),
          },
        });
        const subs = await tx.subscription.findMany({
          where: { org, liveKey: { not: null }, state: { in: ["active", "past_due"] } },
        });
        const changed: string[] = [];
        for (const sub of subs) {
          const period = periodWithoutSpan(sub, from, to);
          if (!period) continue;
          // Only from the end read here: a renewal at the same moment wins, and its new period is not moved.
          const { count } = await tx.subscription.updateMany({
            where: { id: sub.id, currentPeriodEnd: sub.currentPeriodEnd },
            data: period,
          });
          if (count) changed.push(sub.id);
        }
        const periods = changed.length;
        const open = await tx.invoice.findMany({ where: { org, status: "open" } });
        let invoices = 0;
        for (const invoice of open) {
          const dueAt = dueWithoutSpan(invoice.dueAt, from, to);
          if (!dueAt) continue;
          invoices += (
            await tx.invoice.updateMany({
              where: { id: invoice.id, status: "open", dueAt: invoice.dueAt },
              data: { dueAt },
            })
          ).count;
          if (invoice.subscriptionId && !changed.includes(invoice.subscriptionId)) changed.push(invoice.subscriptionId);
        }
        return { changed, periods, invoices };
      })
      .catch((error) => {
        if (isUniqueViolation(error)) return undefined;
        throw error;
      });
    if (!moved) return undefined;
    for (const id of moved.changed) {
      const sub = await this.prisma.subscription.findUnique({ where: { id } });
      if (sub) await this.publishSubscription(sub);
    }
    this.log("Deletion grace not billed", {
      org,
      from: from.toISOString(),
      to: to.toISOString(),
      periods: moved.periods,
      invoices: moved.invoices,
    });
    return { periods: moved.periods, invoices: moved.invoices };
  }

  // ---- Inside ----

  /** The subscription that entitles this install: the org's lifetime one for the template, else its own. */
  private async liveFor(org: string, app: string, template: string): Promise<Subscription | null> {
    const rows = await this.prisma.subscription.findMany({
      where: { liveKey: { in: [liveKeyOfLifetime(org, template), liveKeyOfApp(org, app)] } },
    });
    const lifetime = rows.find((r) => r.app === null && r.state === "active");
    return lifetime ?? rows.find((r) => r.app === app) ?? null;
  }

  /** A new install's subscription: the plan it names, else a trial if the org has one left, else waiting. */
  private async start(org: string, app: AppInstance, template: AppTemplate): Promise<void> {
    const now = new Date(this.now());
    const name = app.metadata.name;
    const plan = planOf(template, app.spec.plan);
    const days = template.spec.pricing?.trialDays ?? 0;
    const base = { org, template: template.metadata.name, app: name, liveKey: liveKeyOfApp(org, name) };
    if (!plan && days > 0) {
      const end = trialEnd(now, days);
      // One transaction: the grant's unique (org, template) refuses a second trial, the
      // subscription's liveKey a second subscription; either way nothing is left half-written.
      const started = await this.prisma
        .$transaction([
          this.prisma.trialGrant.create({
            data: { org, template: template.metadata.name, app: name, grantedAt: now, endsAt: end },
          }),
          this.prisma.subscription.create({
            data: { ...base, state: "trialing", trialStart: now, trialEnd: end },
          }),
        ])
        .then(
          () => true,
          async (error) => {
            if (!isUniqueViolation(error)) throw error;
            // The trial was taken (by another install of the app) unless our subscription exists.
            const existing = await this.prisma.subscription.findUnique({ where: { liveKey: base.liveKey } });
            if (existing) throw error;
            return false;
          },
        );
      if (started) {
        this.log("Trial started", { org, app: name, template: template.metadata.name, until: end.toISOString() });
        return;
      }
    }
    // The plan is written with the subscription: the AppInstance watch, handling the same new
    // install at the same moment, must see it chosen, or it would buy it a second time (two
    // purchase invoices, and with autopay possibly two payments).
    const sub = await this.prisma.subscription.create({
      data: {
        ...base,
        state: "paused",
        pausedReason: "PaymentRequired",
        ...(plan ? { planId: plan.id, interval: plan.interval, amount: plan.amount, currency: plan.currency } : {}),
      },
    });
    this.log("Install waits for payment", { org, app: name, template: template.metadata.name });
    if (plan) await this.purchase(sub, plan, SYSTEM);
  }

  /** The first invoice of a plan for a subscription without one running; it runs once paid. */
  private async purchase(sub: Subscription, plan: PricingPlan, actor: string): Promise<PlanChangeResult> {
    const now = new Date(this.now());
    const recurring = isRecurring(plan.interval);
    const end = recurring ? periodEnd(now, plan.interval) : null;
    const lines: Line[] = [
      {
        description: `${sub.template}: plan ${plan.id} (${plan.interval})`,
        quantity: 1,
        unitAmount: plan.amount,
        amount: plan.amount,
      },
    ];
    const invoice = await this.prisma
      .$transaction(async (tx) => {
        // Earlier unpaid purchase invoices of this subscription are replaced by this one.
        await tx.invoice.updateMany({ where: { subscriptionId: sub.id, status: "open" }, data: { status: "void" } });
        await tx.subscription.update({
          where: { id: sub.id },
          data: {
            planId: plan.id,
            interval: plan.interval,
            amount: plan.amount,
            currency: plan.currency,
            pendingPlanId: null,
            cancelAtPeriodEnd: false,
            ...(sub.state === "canceled" || sub.state === "expired"
              ? { state: "paused", pausedReason: "PaymentRequired" }
              : {}),
          },
        });
        return this.issue(tx, sub, {
          key: `sub:${sub.id}:purchase:${now.toISOString()}:${plan.id}`,
          currency: plan.currency,
          lines,
          issuedAt: now,
          dueAt: now,
          periodStart: recurring ? now : null,
          periodEnd: end,
        });
      })
      .catch(changedMeanwhile);
    this.log("Plan chosen", { org: sub.org, subscription: sub.id, plan: plan.id, invoice: invoice.id, actor });
    await this.collect(invoice);
    const updated = await this.get(sub.org, sub.id);
    await this.publishSubscription(updated);
    return { change: "purchase", subscription: toView(updated), invoice: await this.invoice(sub.org, invoice.id) };
  }

  /** A lifetime plan bought through one install: an org-wide subscription, running once paid. */
  private async purchaseLifetime(
    from: Subscription,
    template: AppTemplate,
    plan: PricingPlan,
    actor: string,
  ): Promise<PlanChangeResult> {
    const liveKey = liveKeyOfLifetime(from.org, template.metadata.name);
    let lifetime = await this.prisma.subscription.findUnique({ where: { liveKey } });
    if (lifetime?.state === "active") throw conflict("The organization already owns this app for good (lifetime plan)");
    lifetime ??= await this.prisma.subscription
      .create({
        data: {
          org: from.org,
          template: template.metadata.name,
          app: null,
          liveKey,
          state: "paused",
          pausedReason: "PaymentRequired",
        },
      })
      .catch(async (error) => {
        if (!isUniqueViolation(error)) throw error;
        return (await this.prisma.subscription.findUnique({ where: { liveKey } })) as Subscription;
      });
    return this.purchase(lifetime, plan, actor);
  }

  private async upgrade(sub: Subscription, plan: PricingPlan, actor: string): Promise<PlanChangeResult> {
    const now = new Date(this.now());
    const current = { id: sub.planId as string, interval: sub.interval as PricingInterval, amount: sub.amount ?? 0 };
    const proration =
      isRecurring(current.interval) && sub.currentPeriodStart && sub.currentPeriodEnd
        ? prorateUpgrade(current, plan, { start: sub.currentPeriodStart, end: sub.currentPeriodEnd }, now)
        : prorateUpgrade(current, plan, { start: now, end: now }, now);
    const count = await this.prisma.invoice.count({ where: { subscriptionId: sub.id } });
    const invoice = await this.prisma
      .$transaction(async (tx) => {
        await tx.subscription.update({
          where: { id: sub.id },
          data: {
            planId: plan.id,
            interval: plan.interval,
            amount: plan.amount,
            currency: plan.currency,
            pendingPlanId: null,
            cancelAtPeriodEnd: false,
            currentPeriodStart: proration.periodStart,
            currentPeriodEnd: proration.periodEnd,
            // Another interval starts its periods now; the same one keeps its anchor.
            ...(current.interval === plan.interval ? {} : { billingAnchor: isRecurring(plan.interval) ? now : null }),
          },
        });
        return this.issue(tx, sub, {
          key: `sub:${sub.id}:upgrade:${count}`,
          currency: plan.currency,
          lines: proration.lines,
          issuedAt: now,
          dueAt: new Date(now.getTime() + DUE_DAYS * DAY_MS),
          periodStart: proration.periodStart,
          periodEnd: proration.periodEnd,
        });
      })
      .catch(changedMeanwhile);
    this.log("Plan upgraded", { org: sub.org, subscription: sub.id, plan: plan.id, total: invoice.total, actor });
    await this.collect(invoice);
    const updated = await this.get(sub.org, sub.id);
    await this.publishSubscription(updated);
    return { change: "upgrade", subscription: toView(updated), invoice: await this.invoice(sub.org, invoice.id) };
  }

  /** Writes an invoice and its lines; the total is the lines' sum, by construction. */
  private issue(
    tx: Tx,
    sub: Subscription,
    i: {
      key: string;
      currency: string;
      lines: Line[];
      issuedAt: Date;
      dueAt: Date;
      periodStart: Date | null;
      periodEnd: Date | null;
    },
  ): Promise<Invoice> {
    return tx.invoice.create({
      data: {
        org: sub.org,
        subscriptionId: sub.id,
        key: i.key,
        status: "open",
        currency: i.currency,
        total: i.lines.reduce((sum, l) => sum + l.amount, 0),
        issuedAt: i.issuedAt,
        dueAt: i.dueAt,
        periodStart: i.periodStart,
        periodEnd: i.periodEnd,
        lines: {
          create: i.lines.map((l, position) => ({
            position,
            description: l.description,
            quantity: l.quantity,
            unitAmount: l.unitAmount,
            amount: l.amount,
            periodStart: i.periodStart,
            periodEnd: i.periodEnd,
          })),
        },
      },
    });
  }

  /** Hands a new invoice to the payment provider; a provider that settles it records the payment. */
  private async collect(invoice: Invoice): Promise<void> {
    const outcome = await this.provider.collect(invoice);
    if (outcome === "paid") await this.recordPayment(invoice.org, invoice.id, this.provider.name);
  }

  /** What a payment unlocks: a subscription that was not running starts its (first) period now. */
  private async afterPayment(subscriptionId: string, invoiceId: string, at: Date): Promise<void> {
    const sub = await this.prisma.subscription.findUnique({ where: { id: subscriptionId } });
    if (!sub?.liveKey) return;
    if (sub.state === "active" || sub.state === "past_due") {
      const open = await this.prisma.invoice.count({ where: { subscriptionId, status: "open" } });
      if (sub.state === "past_due" && open === 0)
        await this.prisma.subscription.updateMany({
          where: { id: sub.id, state: "past_due" },
          data: { state: "active" },
        });
    } else {
      // The first period runs from the payment, not from when the plan was chosen.
      const recurring = isRecurring(sub.interval);
      const end = recurring ? periodEnd(at, sub.interval as PricingInterval) : null;
      await this.prisma.$transaction([
        this.prisma.subscription.update({
          where: { id: sub.id },
          data: {
            state: "active",
            pausedReason: null,
            cancelAtPeriodEnd: false,
            currentPeriodStart: recurring ? at : null,
            currentPeriodEnd: end,
            billingAnchor: recurring ? at : null,
          },
        }),
        this.prisma.invoice.update({
          where: { id: invoiceId },
          data: recurring ? { periodStart: at, periodEnd: end } : {},
        }),
      ]);
      this.log("Subscription active", { org: sub.org, subscription: sub.id, plan: sub.planId });
      if (sub.app === null) {
        // A lifetime plan supersedes the installs' own subscriptions of the template.
        const own = await this.prisma.subscription.findMany({
          where: { org: sub.org, template: sub.template, app: { not: null }, liveKey: { not: null } },
        });
        for (const s of own) await this.end(s.id, "canceled");
      }
    }
    const updated = await this.prisma.subscription.findUnique({ where: { id: subscriptionId } });
    if (updated) await this.publishSubscription(updated);
  }

  /** Ends a subscription: its state, no longer live (unless kept for a resubscribe), open invoices voided. */
  private async end(id: string, state: "canceled" | "expired", options: { keepLive?: boolean } = {}): Promise<void> {
    const now = new Date(this.now());
    await this.prisma.$transaction([
      this.prisma.subscription.update({
        where: { id },
        data: {
          state,
          pausedReason: null,
          cancelAtPeriodEnd: false,
          pendingPlanId: null,
          ...(options.keepLive ? {} : { liveKey: null, endedAt: now }),
        },
      }),
      this.prisma.invoice.updateMany({ where: { subscriptionId: id, status: "open" }, data: { status: "void" } }),
    ]);
  }

  /** Applies what time does to a subscription (domain.transitionAt) if it still is as read. */
  private async applyTransition(sub: Subscription, now: Date): Promise<boolean> {
    const oldestOpen = await this.prisma.invoice.findFirst({
      where: { subscriptionId: sub.id, status: "open" },
      orderBy: { dueAt: "asc" },
    });
    const next = transitionAt(sub, now, oldestOpen?.dueAt ?? null);
    if (!next) return false;
    // The change and its event commit together; the condition makes the change happen once.
    const changed = await this.prisma.$transaction(async (tx) => {
      const { count } = await tx.subscription.updateMany({
        where: { id: sub.id, state: sub.state, updatedAt: sub.updatedAt },
        data: {
          state: next.state,
          pausedReason: next.pausedReason,
          ...(next.state === "canceled" ? { cancelAtPeriodEnd: false } : {}),
        },
      });
      if (count === 0) return false;
      if (next.event === "trial.ended") {
        const key = `trial-ended:${sub.id}`;
        const payload = JSON.stringify({
          subscription: sub.id,
          app: sub.app,
          template: sub.template,
          trialEndedAt: iso(sub.trialEnd),
          outcome: next.state,
        });
        await tx.outbox.upsert({
          where: { key },
          create: { key, type: "trial.ended", org: sub.org, payload },
          update: {},
        });
      }
      return true;
    });
    if (!changed) return false;
    this.log("Subscription state changed", { org: sub.org, subscription: sub.id, from: sub.state, to: next.state });
    const updated = await this.prisma.subscription.findUnique({ where: { id: sub.id } });
    if (updated) await this.publishSubscription(updated);
    return true;
  }

  /**
   * Renews a subscription whose period ended, period after period up to `now` (a scheduler that
   * was down catches up): a scheduled downgrade takes effect, each period gets its invoice (keyed
   * by its start, so never twice), due DUE_DAYS into the period.
   */
  private async renew(sub: Subscription, now: Date): Promise<number> {
    let current = sub;
    let renewed = 0;
    while (renewalDue(current, now) && renewed < 36) {
      const template = current.pendingPlanId ? await this.template(current.template) : undefined;
      const pending = template ? planOf(template, current.pendingPlanId) : undefined;
      const from = current.currentPeriodEnd as Date;
      const interval = (pending?.interval ?? current.interval) as PricingInterval;
      const switching = pending && pending.interval !== current.interval;
      const anchor = switching || !current.billingAnchor ? from : current.billingAnchor;
      const period = nextPeriod(anchor, interval, from);
      const amount = pending?.amount ?? current.amount ?? 0;
      const planId = pending?.id ?? (current.planId as string);
      const snapshot = current;
      const invoice = await this.prisma
        .$transaction(async (tx) => {
          const { count } = await tx.subscription.updateMany({
            where: { id: snapshot.id, currentPeriodEnd: from, state: snapshot.state },
            data: {
              currentPeriodStart: period.start,
              currentPeriodEnd: period.end,
              billingAnchor: anchor,
              ...(pending
                ? { planId: pending.id, interval: pending.interval, amount: pending.amount, currency: pending.currency }
                : {}),
              pendingPlanId: null,
            },
          });
          if (count === 0) return undefined;
          return this.issue(tx, snapshot, {
            key: `sub:${snapshot.id}:${period.start.toISOString()}`,
            currency: pending?.currency ?? (snapshot.currency as string),
            lines: [
              {
                description: `${snapshot.template}: plan ${planId} (${interval}), ${period.start.toISOString().slice(0, 10)} to ${period.end.toISOString().slice(0, 10)}`,
                quantity: 1,
                unitAmount: amount,
                amount,
              },
            ],
            issuedAt: period.start,
            dueAt: new Date(period.start.getTime() + DUE_DAYS * DAY_MS),
            periodStart: period.start,
            periodEnd: period.end,
          });
        })
        .catch((error) => {
          if (isUniqueViolation(error)) return undefined;
          throw error;
        });
      if (!invoice) break;
      renewed++;
      this.log("Subscription renewed", { org: sub.org, subscription: sub.id, until: period.end.toISOString() });
      await this.collect(invoice);
      const next = await this.prisma.subscription.findUnique({ where: { id: sub.id } });
      if (!next) break;
      current = next;
    }
    if (renewed) await this.publishSubscription(current);
    return renewed;
  }

  /** Writes an outbox event once: false when its key was already written. */
  private async outbox(key: string, type: string, org: string, payload: Record<string, unknown>): Promise<boolean> {
    try {
      await this.prisma.outbox.create({ data: { key, type, org, payload: JSON.stringify(payload) } });
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  // ---- Publishing the entitlement ----

  /** Republishes for every install the subscription covers. */
  private async publishSubscription(sub: Subscription): Promise<void> {
    if (sub.app !== null) {
      // A subscription superseded by a lifetime one publishes nothing: the lifetime one does.
      if (!sub.liveKey && sub.state === "canceled") {
        const live = await this.liveFor(sub.org, sub.app, sub.template);
        if (live) return this.publish(sub.org, sub.app, live);
      }
      return this.publish(sub.org, sub.app, sub);
    }
    const apps = this.installs
      ? this.installs.inOrg(sub.org)
      : (await this.kube.list<AppInstance>(R.appInstance, { namespace: namespaceFor(sub.org) })).items;
    for (const app of apps.filter((a) => a.spec.template === sub.template)) {
      const live = await this.liveFor(sub.org, app.metadata.name, sub.template);
      if (live) await this.publish(sub.org, app.metadata.name, live, app);
    }
  }

  /** The entitlement this subscription gives the install, for the routes and the tests. */
  async entitlementOf(sub: Subscription, app: string): Promise<Omit<Entitlement, "decidedAt">> {
    const open = await this.prisma.invoice.findFirst({
      where: { subscriptionId: sub.id, status: "open" },
      orderBy: { dueAt: "asc" },
    });
    const graceEnd = open ? new Date(open.dueAt.getTime() + GRACE_DAYS * DAY_MS) : null;
    return entitlementFor({ ...sub, graceEnd }, app, { openInvoice: !!open });
  }

  /**
   * Server-side apply of status.entitlement alone, as field manager atrium-api, skipped when the
   * install already shows the same decision (else every status update would echo back as a write).
   */
  private async publish(org: string, app: string, sub: Subscription, known?: AppInstance): Promise<void> {
    const entitlement = await this.entitlementOf(sub, app);
    const current = known ?? this.installs?.get(org, app);
    if (current && sameEntitlement(current.status?.entitlement, entitlement)) return;
    // The watch may not show our last write yet (the next event of the app still lacks it):
    // the same decision written by this replica moments ago is not written again.
    const key = `${org}/${app}`;
    const said = JSON.stringify(entitlement);
    const recent = this.published.get(key);
    if (recent?.said === said && Date.now() - recent.at < PUBLISH_ECHO_MS) return;
    try {
      await this.kube.apply(
        R.appInstance,
        {
          apiVersion: "atrium.dev/v1alpha1",
          kind: "AppInstance",
          metadata: { name: app, namespace: namespaceFor(org) },
          status: { entitlement: { ...entitlement, decidedAt: new Date(this.now()).toISOString() } },
        },
        { subresource: "status", force: true },
      );
      this.published.set(key, { said, at: Date.now() });
      this.log("Entitlement published", { org, app, allowed: entitlement.allowed, reason: entitlement.reason });
    } catch (error) {
      if (isKubeNotFound(error)) return; // uninstalled meanwhile
      throw error;
    }
  }

  /** Publishes the entitlement of one install from its live subscription (after a restore, or by hand). */
  async republish(org: string, app: AppInstance): Promise<void> {
    const live = await this.liveFor(org, app.metadata.name, app.spec.template);
    if (live) await this.publish(org, app.metadata.name, live, app);
  }
}
