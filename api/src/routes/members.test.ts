import { describe, expect, it } from "vitest";
import type { MemberObj } from "../authz/directory.ts";
import { adminsAmong, type ListQuery, listMembers, sortViews } from "./members.ts";
import type { memberView } from "./views.ts";

type View = ReturnType<typeof memberView>;
const view = (i: number, over: Partial<View> = {}): View => ({
  name: `m${String(i).padStart(3, "0")}`,
  email: `user${i}@x.example`,
  displayName: `User ${String(i).padStart(3, "0")}`,
  role: i % 3 === 0 ? "manager" : "member",
  roleDisplayName: "",
  level: i % 3 === 0 ? 60 : 40,
  status: i % 5 === 0 ? "Invited" : "Active",
  active: true,
  invitedAt: null,
  invitationExpiresAt: null,
  joinedAt: null,
  lastLoginAt: i % 4 === 0 ? null : new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(),
  ...over,
});
const all = Array.from({ length: 95 }, (_, i) => view(i));
const list = (query: ListQuery) => listMembers(sortViews(all, query.sort, query.order), query);
const q = (over: Partial<ListQuery>): ListQuery => ({ sort: "name", order: "asc", limit: 20, ...over });

/** Every page, following nextCursor. */
function walk(query: ListQuery) {
  const pages = [];
  let cursor: string | undefined;
  do {
    const page = listMembers(sortViews(all, query.sort, query.order), { ...query, ...(cursor ? { cursor } : {}) });
    pages.push(page);
    cursor = page.nextCursor ?? undefined;
  } while (cursor && pages.length < 50);
  return pages;
}

describe("listMembers", () => {
  it.each(["name", "email", "role", "lastLogin", "status"] as const)(
    "pages through everyone exactly once, sorted by %s, both orders",
    (sort) => {
      for (const order of ["asc", "desc"] as const) {
        const pages = walk(q({ sort, order }));
        const names = pages.flatMap((p) => p.items.map((i) => i.name));
        expect(names).toHaveLength(95);
        expect(new Set(names).size).toBe(95);
        expect(pages.at(-1)?.nextCursor).toBeNull();
      }
    },
  );

  it("search, role and status filters combine, and total counts the matches", () => {
    const page = list(q({ q: "USER 01", role: "member", status: "Active" }));
    // 010-019, minus managers (012, 015, 018) and the invited (010, 015).
    expect(page.items.map((i) => i.displayName)).toEqual([
      "User 011",
      "User 013",
      "User 014",
      "User 016",
      "User 017",
      "User 019",
    ]);
    expect(page.total).toBe(6);
  });

  it("sorts by role with the highest rank first, then by name", () => {
    const page = list(q({ sort: "role", limit: 3 }));
    expect(page.items.map((i) => [i.role, i.name])).toEqual([
      ["manager", "m000"],
      ["manager", "m003"],
      ["manager", "m006"],
    ]);
  });

  it("refuses a cursor it did not make", () => {
    expect(() => list(q({ cursor: "bm9wZQ" }))).toThrow(/cursor/);
  });
});

describe("adminsAmong", () => {
  const member = (name: string, role: string, over: { active?: boolean; joined?: boolean; deleting?: boolean } = {}) =>
    ({
      metadata: { name, ...(over.deleting ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}) },
      spec: { email: `${name}@x.example`, role, ...(over.active === false ? { active: false } : {}) },
      status: over.joined === false ? {} : { joinedAt: "2026-01-01T00:00:00Z" },
    }) as unknown as MemberObj;
  const levelOf = (role: string) => ({ admin: 100, "co-admin": 80 })[role] ?? 0;

  it("counts joined, active, top-level members that are not being deleted", () => {
    const members = [
      member("a", "admin"),
      member("b", "admin", { active: false }),
      member("c", "admin", { joined: false }),
      member("d", "admin", { deleting: true }),
      member("e", "co-admin"),
    ];
    expect(adminsAmong(members, levelOf)).toEqual(["a"]);
  });

  it("counts a newer Member with an address already owned as no Admin (it grants nothing)", () => {
    const owner = member("owner", "viewer");
    const duplicate = member("dup", "admin");
    duplicate.spec.email = "Owner@x.example ";
    owner.metadata.creationTimestamp = "2026-01-01T00:00:00Z";
    duplicate.metadata.creationTimestamp = "2026-02-01T00:00:00Z";
    expect(adminsAmong([duplicate, owner, member("a", "admin")], levelOf)).toEqual(["a"]);
  });
});
