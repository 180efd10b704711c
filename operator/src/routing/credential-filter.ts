// Atrium's credentials never reach a Public app in Gateway API mode (ADR 0023). The embedded
// gateway takes them off every request (gateway/src/headers.ts); for the other apps the data
// plane's external authorization does (ext-auth.ts: the API's "yes" lists them for removal).
// A Public app has no such check, yet a visitor's browser sends it Atrium's session and CSRF
// cookies (the API's ATRIUM_COOKIE_DOMAIN makes them reach app hosts) and a script may send an
// Atrium API key: any Public app (a marketplace app) could use them. So each Public app's
// HTTPRoute gets an Envoy Gateway EnvoyExtensionPolicy with a small inline Lua filter that
// removes them in Envoy itself: no call out per request. It runs only on the route's rules that
// can see them: the rule of requests carrying them (CREDENTIALS_RULE, chosen by a header match
// in Envoy's router) and the health-checks rule (whose paths outrank it). The rest of the app's
// traffic skips the filter, so warm traffic keeps Envoy's speed (running Lua on every request
// cost 24 µs of CPU each). The Envoy Gateway must allow Lua (its EnvoyGateway config's
// extensionApis.enableLua). Pure builders; data-plane.ts applies.
import type { AppInstance } from "@atrium/crds";
import type { KubeObject } from "@atrium/kube";
import { needsExtAuth } from "./ext-auth.ts";
import { CREDENTIALS_RULE, HEALTH_RULE } from "./gateway-api.ts";
import { appRoutePolicy } from "./route-policy.ts";

type App = AppInstance & KubeObject;

export const credentialFilterName = (app: string) => `${app}-credentials`;

/**
 * The filter, for Envoy's LuaJIT (Lua 5.1 patterns). It matches what the embedded gateway
 * strips, exactly: the cookies atrium_session and atrium_csrf (the gateway's ATRIUM_COOKIES,
 * `(?:^|;\s*)atrium_(?:session|csrf)=[^;]*`, the rest of Cookie kept in its order, and no Cookie
 * when nothing is left), an Authorization that holds an Atrium API key (the API's ATRIUM_KEY,
 * `^Bearer\s+atr_(sk|ai)_` ignoring case; an app's own Authorization passes), and a client's
 * X-Atrium-User (nobody checked it). `\s` of those JavaScript patterns, over header text read as
 * Latin-1, is ASCII space, tab, LF, VT, FF, CR and NBSP (byte 160): hence `[%s\160]`. Every
 * value of a repeated header is looked at (HTTP/2 may send several Cookie fields). Envoy Gateway
 * runs the script once with its mock request (strict validation): it must not fail there either.
 */
export const CREDENTIAL_FILTER_LUA = String.raw`-- Atrium (operator/src/routing/credential-filter.ts): Atrium's credentials never reach this app.
local WS = "[%s\160]"
local ATRIUM_COOKIES = { "atrium_session", "atrium_csrf" }

local function without_atrium_cookies(cookie)
  if not string.find(cookie, "atrium_", 1, true) then return cookie end
  for _, name in ipairs(ATRIUM_COOKIES) do
    cookie = string.gsub(cookie, "^" .. name .. "=[^;]*", "")
    cookie = string.gsub(cookie, ";" .. WS .. "*" .. name .. "=[^;]*", "")
  end
  cookie = string.gsub(cookie, "^;" .. WS .. "*", "")
  return string.match(cookie, "^" .. WS .. "*(.-)" .. WS .. "*$")
end

local function without_atrium_key(authorization)
  local kind = string.match(string.lower(authorization), "^bearer" .. WS .. "+atr_(%l%l)_")
  if kind == "sk" or kind == "ai" then return "" end
  return authorization
end

-- Rewrites every value of one header; a value that becomes empty goes.
local function scrub(headers, name, clean)
  local count = headers:getNumValues(name)
  if count == 0 then return end
  local kept, changed = {}, false
  for i = 0, count - 1 do
    local value = headers:getAtIndex(name, i)
    local cleaned = clean(value)
    if cleaned ~= value then changed = true end
    if cleaned ~= "" then kept[#kept + 1] = cleaned end
  end
  if not changed then return end
  headers:remove(name)
  for _, value in ipairs(kept) do headers:add(name, value) end
end

function envoy_on_request(request_handle)
  local headers = request_handle:headers()
  scrub(headers, "cookie", without_atrium_cookies)
  scrub(headers, "authorization", without_atrium_key)
  headers:remove("x-atrium-user")
end
`;

/** Whether the app's route gets the filter: Public apps only (the others' external authorization strips). */
export const needsCredentialFilter = (app: Pick<AppInstance, "spec">) => !needsExtAuth(app);

/** The app's EnvoyExtensionPolicy: the Lua filter on two rules of its HTTPRoute (named after the app), owned by the app. */
export function desiredCredentialFilter(app: App): KubeObject {
  return appRoutePolicy(
    app,
    {
      kind: "EnvoyExtensionPolicy",
      name: credentialFilterName(app.metadata.name),
      ruleNames: [HEALTH_RULE, CREDENTIALS_RULE],
    },
    { lua: [{ type: "Inline", inline: CREDENTIAL_FILTER_LUA }] },
  );
}

type PolicyStatus = {
  status?: { ancestors?: { conditions?: { type: string; status: string; message?: string }[] }[] };
};

/**
 * Why Envoy Gateway refused the app's filter, if it did (an ancestor's Accepted is False: say
 * Lua is not enabled, or the script failed its validation): the Public app then receives
 * Atrium's credentials, which its admins must hear about. Undefined while it is accepted or not
 * yet looked at.
 */
export function filterRefusal(policy: PolicyStatus | undefined): string | undefined {
  for (const ancestor of policy?.status?.ancestors ?? [])
    for (const c of ancestor.conditions ?? [])
      if (c.type === "Accepted" && c.status === "False") return c.message || "not accepted";
  return undefined;
}
