// The fixture of billing tests that move time (billing-paths.test.ts, org-restore-billing.test.ts):
// the real API assembly, operator and control plane (api/world.ts) with the API's clock injected,
// so a period ends without waiting a month, and its scheduler driven by hand; sessions that
// outlast the moved clock; and the tests' priced app templates in the catalog before any test.
import { R } from "@atrium/kube";
import { afterAll, beforeAll } from "vitest";
import { until } from "../cluster/until.ts";
import { startWorld, type World } from "./api/world.ts";

/**
 * The API's session lifetime: sessions made at the start stay valid years ahead of the real
 * clock (also for an API a test starts again itself).
 */
export const BILLING_SESSION_TTL_HOURS = String(24 * 365 * 5);

export type BillingWorld = {
  /** The started world (from the describe block's beforeAll on). */
  readonly w: World;
  /** How far ahead of the real clock the API's is, in ms: tests move it. */
  offset: number;
  /** The API's clock. */
  clock: () => number;
  billing: () => World["api"]["services"]["billing"];
  prisma: () => World["api"]["db"]["prisma"];
  /** Two passes of the scheduler: what the first one's work makes due is done by the second. */
  schedulerPasses: () => Promise<void>;
};

/**
 * Starts the world before the tests of the calling describe block (and stops it after them),
 * with `templates` created and in the API's catalog.
 */
export function billingWorld(
  provider: "sqlite" | "postgresql",
  templates: { metadata: { name: string } }[],
): BillingWorld {
  let world: World | undefined;
  const fixture: BillingWorld = {
    get w() {
      if (!world) throw new Error("the billing world has not started");
      return world;
    },
    offset: 0,
    clock: () => Date.now() + fixture.offset,
    billing: () => fixture.w.api.services.billing,
    prisma: () => fixture.w.api.db.prisma,
    schedulerPasses: async () => {
      await fixture.w.api.scheduler.runOnce();
      await fixture.w.api.scheduler.runOnce();
    },
  };
  beforeAll(async () => {
    world = await startWorld({
      provider,
      env: { ATRIUM_SESSION_TTL_HOURS: BILLING_SESSION_TTL_HOURS },
      api: { now: fixture.clock, scheduler: false },
    });
    for (const t of templates) await world.kube.create(R.appTemplate, t as never);
    const catalog = world.api.services.catalog;
    await until("the catalog has the templates", async () => templates.every((t) => !!catalog.get(t.metadata.name)));
  }, 300_000);
  afterAll(async () => {
    await world?.stop();
  });
  return fixture;
}
