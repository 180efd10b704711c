import { describe, expect, it } from "vitest";
import { hostCookieName } from "../http/cookies.ts";
import { MAX_LOGINS_UNDER_WAY, takeLogin, withLogin } from "./login-binding.ts";

describe("login binding", () => {
  it("keeps the logins under way in the cookie, newest first, a bounded few", () => {
    expect(withLogin(undefined, "a")).toBe("a");
    expect(withLogin("a", "b")).toBe("b.a");
    let value = "";
    for (let i = 0; i < MAX_LOGINS_UNDER_WAY + 2; i++) value = withLogin(value, `s${i}`);
    expect(value.split(".")).toEqual(["s5", "s4", "s3", "s2"]);
    // Whatever else a browser sends is dropped, not echoed back.
    expect(withLogin("x;y.ok.<script>", "n")).toBe("n.ok");
  });

  it("accepts a state only from the cookie that holds it, and only once", () => {
    expect(takeLogin("b.a", "a")).toEqual({ bound: true, rest: "b" });
    expect(takeLogin("a", "a")).toEqual({ bound: true, rest: "" });
    expect(takeLogin(undefined, "a")).toEqual({ bound: false, rest: "" });
    expect(takeLogin("b", "a")).toEqual({ bound: false, rest: "b" });
    expect(takeLogin("ab", "a").bound).toBe(false);
    expect(takeLogin("b.a", "").bound).toBe(false);
  });

  it("names the cookie __Host- only where browsers accept it (Secure, over https)", () => {
    expect(hostCookieName("atrium_login", true)).toBe("__Host-atrium_login");
    expect(hostCookieName("atrium_login", false)).toBe("atrium_login");
  });
});
