import { describe, expect, it } from "vitest";
import { AnswerCache, answerKey, type Generation } from "./answer-cache.ts";

const body = (text: string) => Buffer.from(text);
const gen = (catalog: object, installs: number): Generation => ({ catalog, installs });

describe("AnswerCache", () => {
  it("keeps an answer while the catalog and the installs are the same", () => {
    const cache = new AnswerCache({ maxBytes: 1000 });
    const g = gen({}, 1);
    expect(cache.get("k", g)).toBeUndefined();
    cache.set("k", { body: body("page"), trials: undefined }, g, g);
    expect(cache.get("k", gen(g.catalog, 1))?.body.toString()).toBe("page");
  });

  it("drops every answer when the catalog changes (a new index)", () => {
    const cache = new AnswerCache({ maxBytes: 1000 });
    const g = gen({}, 1);
    cache.get("a", g);
    cache.set("a", { body: body("old a"), trials: undefined }, g, g);
    cache.set("b", { body: body("old b"), trials: undefined }, g, g);
    const next = gen({}, 1);
    expect(cache.get("a", next)).toBeUndefined();
    expect(cache.get("b", next)).toBeUndefined();
    expect(cache.size()).toEqual({ answers: 0, bytes: 0 });
  });

  it("drops every answer when any install changes", () => {
    const cache = new AnswerCache({ maxBytes: 1000 });
    const catalog = {};
    cache.set("a", { body: body("a"), trials: undefined }, gen(catalog, 1), gen(catalog, 1));
    expect(cache.get("a", gen(catalog, 2))).toBeUndefined();
  });

  it("does not keep an answer built before a change that landed while it was built", () => {
    const cache = new AnswerCache({ maxBytes: 1000 });
    const before = gen({}, 1);
    cache.get("a", before);
    // The build waited for the trials read; meanwhile the catalog changed.
    const after = gen({}, 1);
    cache.set("a", { body: body("stale"), trials: undefined }, before, after);
    expect(cache.get("a", after)).toBeUndefined();
    cache.set("a", { body: body("stale"), trials: undefined }, before, gen(before.catalog, 2));
    expect(cache.get("a", gen(before.catalog, 2))).toBeUndefined();
  });

  it("keeps at most maxBytes, the oldest answers out first", () => {
    const cache = new AnswerCache({ maxBytes: 10 });
    const g = gen({}, 0);
    cache.set("a", { body: body("aaaa"), trials: undefined }, g, g);
    cache.set("b", { body: body("bbbb"), trials: undefined }, g, g);
    cache.set("c", { body: body("cccc"), trials: undefined }, g, g);
    expect(cache.get("a", g)).toBeUndefined();
    expect(cache.get("b", g)?.body.toString()).toBe("bbbb");
    expect(cache.get("c", g)?.body.toString()).toBe("cccc");
    expect(cache.size()).toEqual({ answers: 2, bytes: 8 });
    cache.set("big", { body: body("x".repeat(11)), trials: undefined }, g, g);
    expect(cache.get("big", g)).toBeUndefined();
  });

  it("keeps the trials read an answer used, for the route to compare", () => {
    const cache = new AnswerCache({ maxBytes: 100 });
    const g = gen({}, 0);
    const trials = Promise.resolve(new Set(["vaultwarden"]));
    cache.set("a", { body: body("a"), trials }, g, g);
    expect(cache.get("a", g)?.trials).toBe(trials);
  });
});

describe("answerKey", () => {
  it("tells apart queries whose fields would run together as text", () => {
    const fields = ["q", "category"];
    expect(answerKey("org", { q: "a\nProductivity" }, fields)).not.toBe(
      answerKey("org", { q: "a", category: "Productivity" }, fields),
    );
    expect(answerKey("a", { q: "b" }, fields)).not.toBe(answerKey("a\u0000b", {}, fields));
    expect(answerKey("org", { q: "x", limit: 24 }, ["q", "limit"])).toBe(
      answerKey("org", { limit: 24, q: "x" }, ["q", "limit"]),
    );
  });
});
