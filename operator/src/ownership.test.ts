import type { KubeObject } from "@atrium/kube";
import { describe, expect, it } from "vitest";
import { desiredService } from "./appinstance/desired.ts";
import { app, template } from "./appinstance/fixtures.ts";
import { foreignController, OwnedByAnother, ownerExists } from "./ownership.ts";
import { desiredRouteService } from "./routing/gateway-api.ts";

const named = (name: string, uid: string) => {
  const a = app();
  return { ...a, metadata: { ...a.metadata, name, uid } };
};

describe("foreignController", () => {
  it("names the other app when app x's route Service is app x-route's own Service", () => {
    const x = named("x", "uid-x");
    const xRoute = named("x-route", "uid-x-route");
    const route = desiredRouteService(x, template());
    const own = desiredService(xRoute, template());
    expect(route.metadata.name).toBe(own.metadata.name);
    expect(foreignController(route, own)).toMatchObject({ kind: "AppInstance", name: "x-route", uid: "uid-x-route" });
    expect(foreignController(own, route)).toMatchObject({ name: "x", uid: "uid-x" });
  });

  it("lets the operator write its own app's object, a new one, or one no controller owns", () => {
    const x = named("x", "uid-x");
    const own = desiredService(x, template());
    expect(foreignController(own, own)).toBeUndefined();
    expect(foreignController(own, undefined)).toBeUndefined();
    const unowned: KubeObject = { metadata: { name: own.metadata.name, namespace: "org-acme" } };
    expect(foreignController(own, unowned)).toBeUndefined();
    // An owner that is not the controller (a plain reference) does not make the object another's.
    const referenced = {
      metadata: {
        ...unowned.metadata,
        ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: "c", uid: "u" }],
      },
    };
    expect(foreignController(own, referenced)).toBeUndefined();
  });

  it("says which object and which owner in its error", () => {
    const own = desiredService(named("x-route", "uid-x-route"), template());
    const owner = foreignController(own, desiredRouteService(named("x", "uid-x"), template()));
    expect(owner).toBeDefined();
    expect(new OwnedByAnother("Service", own, owner as NonNullable<typeof owner>).message).toBe(
      'Service "x-route" already belongs to AppInstance "x": this app needs that name too, and the operator does not take another\'s object over; rename or remove one of the two',
    );
  });
});

describe("ownerExists", () => {
  const cache = (objects: KubeObject[]) => ({
    get: (key: string) =>
      objects.find((o) => `${o.metadata.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata.name}` === key),
  });
  const owners = {
    appInstances: cache([named("x", "uid-x")]),
    organizations: cache([{ metadata: { name: "acme", uid: "uid-acme" } }]),
  };
  const ref = (kind: string, name: string, uid: string) => ({ apiVersion: "atrium.dev/v1alpha1", kind, name, uid });

  it("is true only for the live app or organization of that uid", () => {
    expect(ownerExists(owners, ref("AppInstance", "x", "uid-x"), "org-acme")).toBe(true);
    expect(ownerExists(owners, ref("Organization", "acme", "uid-acme"), undefined)).toBe(true);
  });

  it("is false for a deleted owner, or one deleted and made again under its name (children the collector is removing)", () => {
    expect(ownerExists(owners, ref("AppInstance", "gone", "uid-gone"), "org-acme")).toBe(false);
    expect(ownerExists(owners, ref("AppInstance", "x", "uid-old-x"), "org-acme")).toBe(false);
    expect(ownerExists(owners, ref("Organization", "acme", "uid-old"), undefined)).toBe(false);
  });

  it("takes an owner of a kind it does not cache to be there", () => {
    expect(ownerExists(owners, ref("ConfigMap", "c", "u"), "org-acme")).toBe(true);
  });
});
