// The hosted pages' shared module: calls to the public JSON API (cookie transport, the
// X-CSRFToken header), the silent refresh every tab shares, the error sentences, form helpers.
//
// No token is ever visible here: in cookie transport the access and refresh tokens travel in
// HttpOnly cookies. What this module keeps in localStorage is only *when* the access cookie
// expires, so that every tab can plan the next refresh.

const API = document.querySelector('meta[name="iam-api"]')?.content ?? "";
const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
const EXPIRES = "iam-ui:expires"; // {"at": ms, "lifetime": ms}; no secret
const AFTER_VERIFY = "iam-ui:after-verify"; // where to go after the e-mail link, e.g. an invitation
// 401 codes a refresh may cure (the access cookie expired or is missing)
const REFRESHABLE = new Set(["not_authenticated", "token_not_valid", "authentication_failed"]);
const channel = "BroadcastChannel" in window ? new BroadcastChannel("iam-ui") : null;

// ---- sentences -------------------------------------------------------------------------------

const TEXT = new Map(
  [...document.querySelectorAll("#iam-text [data-code]")].map((p) => [p.dataset.code, p.textContent]),
);

export function say(code, fallback) {
  return TEXT.get(code) ?? fallback ?? TEXT.get("unknown");
}

export function duration(seconds) {
  const n = Math.max(1, Math.ceil(Number(seconds) || 1));
  const [unit, count] = n < 90 ? ["second", n] : n < 5400 ? ["minute", Math.ceil(n / 60)] : ["hour", Math.ceil(n / 3600)];
  return count === 1 ? say(unit) : say(`${unit}s`).replace("{n}", String(count));
}

// ---- errors ----------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super(body?.detail ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.code ?? (status >= 500 ? "server_error" : "unknown");
    this.fields = body?.fields ?? {};
    this.retryAfter = retryAfter;
  }
}

export class NetworkError extends Error {}

/** The sentence for an error of any kind. */
export function describe(error) {
  if (error instanceof NetworkError) return say("network");
  if (!(error instanceof ApiError)) return say("unknown");
  if (error.code === "throttled") return say("throttled").replace("{wait}", duration(error.retryAfter));
  return say(error.code, error.message);
}

// ---- HTTP ------------------------------------------------------------------------------------

function cookie(name) {
  const found = document.cookie.split("; ").find((c) => c.startsWith(`${name}=`));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
}

// The CSRF token: the IAM's `csrftoken` cookie on its own origin; pages on another origin
// cannot read that cookie and take the token from the X-CSRFToken header the IAM answers with.
let csrf = "";
async function csrfToken(renew = false) {
  const current = () => (API ? csrf || cookie("csrftoken") : cookie("csrftoken") || csrf);
  if (!renew && current()) return current();
  const response = await fetch(`${API}/api/auth/csrf/`, { credentials: "include", cache: "no-store" });
  csrf = response.headers.get("X-CSRFToken") || csrf;
  return current();
}

async function send(method, path, body, retried = false) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "include", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    if (!SAFE.has(method)) headers["X-CSRFToken"] = await csrfToken();
    response = await fetch(API + path, init);
  } catch {
    throw new NetworkError();
  }
  csrf = response.headers.get("X-CSRFToken") || csrf; // a sign-in rotates it
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (response.ok) return data;
  const error = new ApiError(response.status, data, response.headers.get("Retry-After"));
  if (error.code === "csrf_failed" && !retried) {
    // the token rotates at sign-in: fetch the current one once and try again
    await csrfToken(true).catch(() => {});
    return send(method, path, body, true);
  }
  throw error;
}

/** A call that needs no sign-in (sign-in, sign-up, links). */
export const call = (method, path, body) => send(method, path, body);

/** A call as the signed-in user: an expired access cookie is refreshed once, then retried. */
export async function api(method, path, body) {
  const seen = expiry().at;
  try {
    return await send(method, path, body);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401 || !REFRESHABLE.has(error.code)) throw error;
    if (!(await refresh(seen))) {
      sessionOver();
      throw error;
    }
    return send(method, path, body);
  }
}

// ---- the session shared by every tab -----------------------------------------------------------

function expiry() {
  try {
    return JSON.parse(localStorage.getItem(EXPIRES)) ?? { at: 0, lifetime: 0 };
  } catch {
    return { at: 0, lifetime: 0 };
  }
}

export function signedInHere() {
  return expiry().at > 0;
}

/** Tokens arrived (sign-in, refresh, tenant switch): remember when they expire, tell the tabs. */
export function tokensArrived(data, event = "refreshed") {
  const lifetime = Number(data?.expires_in) * 1000;
  if (!lifetime) return;
  localStorage.setItem(EXPIRES, JSON.stringify({ at: Date.now() + lifetime, lifetime }));
  channel?.postMessage({ type: event });
  schedule();
}

let pending = null;
/**
 * Rotate the refresh token, once for every tab: the Web Lock lets one tab refresh at a time, and
 * a tab that waited finds the new expiry another tab wrote and does not refresh again (two tabs
 * presenting the same refresh token would cost the grace window, or a sign-out after it).
 * `after`: a call was refused with the access cookie of this expiry, so refresh unless another
 * tab already has; without it (the timer), refresh only while the expiry is still due.
 * Resolves true when the tab has a fresh access cookie, false when the session is over.
 */
export function refresh(after = null) {
  const done = (now) => now.at - Date.now() > margin(now.lifetime) && (after === null || now.at !== after);
  pending ??= withLock(async (waited) => {
    let now = expiry();
    // A tab that waited for another's refresh may not see its write yet: Chromium hands a
    // localStorage change to the other tabs a moment after the lock, not with it.
    if (waited && !done(now)) now = await expiryChange(now.at, 500);
    if (done(now)) return true;
    try {
      tokensArrived(await send("POST", "/api/auth/refresh/", {}));
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return false;
      throw error;
    }
  }).finally(() => {
    pending = null;
  });
  return pending;
}

/** The expiry once another tab's write of it arrives here (or as it is after `ms`). */
function expiryChange(at, ms) {
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(giveUp);
      removeEventListener("storage", changed);
      resolve(expiry());
    };
    const changed = (event) => event.key === EXPIRES && expiry().at !== at && finish();
    addEventListener("storage", changed);
    const giveUp = setTimeout(finish, ms);
    if (expiry().at !== at) finish();
  });
}

const LEASE = "iam-ui:refreshing";
const LOCK = "iam-ui:refresh";
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** `task(waited)` with the refresh lock held; `waited`: another tab held it first. */
async function withLock(task) {
  if (navigator.locks) {
    let ran = false;
    const result = await navigator.locks.request(LOCK, { ifAvailable: true }, (lock) => {
      if (!lock) return null;
      ran = true;
      return task(false);
    });
    return ran ? result : navigator.locks.request(LOCK, () => task(true));
  }
  // No Web Locks (a page outside a secure context): a short lease in localStorage. Not atomic,
  // but with the timers' jitter two tabs rarely meet here, and if they do the IAM's grace
  // window answers the second one.
  let waited = 0;
  for (; Number(localStorage.getItem(LEASE)) > Date.now() && waited < 5000; waited += 50) {
    await pause(50);
  }
  localStorage.setItem(LEASE, String(Date.now() + 5000));
  try {
    return await task(waited > 0);
  } finally {
    localStorage.removeItem(LEASE);
  }
}

// refresh a fifth of the lifetime before the end, at least 2 s and at most a minute before
function margin(lifetime) {
  return Math.min(60_000, Math.max(2_000, lifetime / 5));
}

let timer = 0;
let keepAlive = false;
function schedule() {
  clearTimeout(timer);
  const { at, lifetime } = expiry();
  if (!keepAlive || !at) return;
  timer = setTimeout(() => {
    refresh().then((ok) => ok || sessionOver(), () => schedule());
  }, Math.max(0, at - margin(lifetime) - Date.now()) + Math.random() * 250); // tabs fire apart
}

/** Keep this tab's sign-in fresh while it is open (console pages). */
export function keepSignedIn() {
  keepAlive = true;
  schedule();
  // a background tab's timers are slowed down: catch up when it is shown again
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") schedule();
  });
}

// the IAM refused the session: a session this browser knew has ended; a first visit just signs in
// (while another tab signs out, a refusal here is that sign-out, not a session that ended)
function sessionOver() {
  signedOut(signingOutElsewhere ? "signed_out" : signedInHere() ? "session_ended" : "");
}

let signingOutElsewhere = false;
let signingOutTimer = 0;
function anotherTabSigningOut() {
  signingOutElsewhere = true;
  clearTimeout(signingOutTimer);
  signingOutTimer = setTimeout(() => (signingOutElsewhere = false), 10_000); // it did not finish
}

/** Tell the other tabs a sign-out starts here, before the IAM ends the session: a refresh of
 * theirs that the IAM refuses meanwhile then reads as the sign-out it is. */
export function signingOut() {
  channel?.postMessage({ type: "signing-out" });
}

let leaving = false;
/** The session is over (signed out here or elsewhere): forget it and go to the sign-in page. */
export function signedOut(reason = "signed_out", { broadcast = true } = {}) {
  if (leaving) return;
  localStorage.removeItem(EXPIRES);
  clearTimeout(timer);
  if (broadcast) channel?.postMessage({ type: "signed-out" });
  if (keepAlive) {
    leaving = true;
    // an ended session comes back here after the sign-in; a chosen sign-out does not
    const query = ["signed_out", "account_deleted"].includes(reason) ? {} : { next: location.pathname + location.search };
    if (reason) query.notice = reason;
    location.assign(`/sign-in?${new URLSearchParams(query)}`);
  }
}

export async function signOut() {
  signingOut();
  try {
    await send("POST", "/api/auth/logout/", {});
  } finally {
    signedOut("signed_out");
  }
}

channel?.addEventListener("message", ({ data }) => {
  if (data?.type === "refreshed") schedule();
  else if (data?.type === "signing-out") anotherTabSigningOut();
  else if (data?.type === "signed-out") signedOut("signed_out", { broadcast: false });
  else if (data?.type === "signed-in" || data?.type === "switched") onSignedIn?.();
});

let onSignedIn = null;
/** What this tab does when another tab signs in or switches organisation. */
export function whenSignedInElsewhere(handler) {
  onSignedIn = handler;
}

// ---- navigation ------------------------------------------------------------------------------

/** A same-origin path to go to after sign-in; anything else (other origins, //x, /\x) is refused. */
export function safeNext(value, fallback = "/account") {
  if (typeof value !== "string" || !value.startsWith("/") || value.startsWith("//") || value.includes("\\")) {
    return fallback;
  }
  try {
    const url = new URL(value, location.origin);
    return url.origin === location.origin ? url.pathname + url.search + url.hash : fallback;
  } catch {
    return fallback;
  }
}

export function param(name) {
  return new URLSearchParams(location.search).get(name);
}

/** Remember where to go once the e-mail link has been used (it opens in a new tab). */
export function rememberAfterVerify(next) {
  if (next) localStorage.setItem(AFTER_VERIFY, safeNext(next));
}

export function takeAfterVerify() {
  const next = localStorage.getItem(AFTER_VERIFY);
  localStorage.removeItem(AFTER_VERIFY);
  return next ? safeNext(next) : null;
}

/** Link tokens leave the address bar (and the history) once read. */
export function takeLinkToken() {
  const token = param("token");
  if (token) history.replaceState(null, "", location.pathname);
  return token;
}

// ---- DOM helpers -----------------------------------------------------------------------------

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** Build an element: h("li", {class: "x"}, "text", child). Text is always text, never HTML. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : value);
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export function show(el, visible = true) {
  if (el) el.hidden = !visible;
}

/** A message in a page- or form-level box (role=alert for errors, role=status for news). */
export function message(box, text, { focus = false } = {}) {
  if (!box) return;
  box.textContent = text ?? "";
  box.hidden = !text;
  if (text && focus) box.focus();
}

export function dateTime(value) {
  if (!value) return "";
  return new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" }).format(new Date(value));
}

// ---- forms -----------------------------------------------------------------------------------

function fieldError(form, name) {
  const input = form.elements.namedItem(name);
  if (!(input instanceof HTMLElement)) return null;
  return { input, box: document.getElementById(`${input.id}-error`) };
}

export function clearErrors(form) {
  for (const input of form.querySelectorAll("[aria-invalid]")) {
    input.removeAttribute("aria-invalid");
    const box = document.getElementById(`${input.id}-error`);
    if (box) {
      box.hidden = true;
      box.textContent = "";
      const ids = (input.getAttribute("aria-describedby") ?? "").split(" ").filter((id) => id && id !== box.id);
      if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
      else input.removeAttribute("aria-describedby");
    }
  }
  message(form.querySelector(".alert"), "");
}

/** Show an error next to its input: aria-invalid, and the sentence tied by aria-describedby. */
export function setFieldError(form, name, text) {
  const found = fieldError(form, name);
  if (!found?.box) return false;
  found.input.setAttribute("aria-invalid", "true");
  found.box.textContent = text;
  found.box.hidden = false;
  const ids = new Set((found.input.getAttribute("aria-describedby") ?? "").split(" ").filter(Boolean));
  ids.add(found.box.id);
  found.input.setAttribute("aria-describedby", [...ids].join(" "));
  return true;
}

/**
 * An API error on a form: field errors beside their inputs, an error about one input (`fieldFor`
 * maps its code to the input's name) beside that input, the rest in the form's alert.
 */
export function showError(form, error, fieldFor = () => null) {
  let first = null;
  if (error instanceof ApiError) {
    for (const [name, items] of Object.entries(error.fields ?? {})) {
      const text = items.map((item) => say(item.code, item.message)).join(" ");
      if (setFieldError(form, name, text)) first ??= fieldError(form, name).input;
    }
    const target = first ? null : fieldFor(error.code);
    if (target && setFieldError(form, target, describe(error))) first = fieldError(form, target).input;
  }
  const alert = form.querySelector(".alert");
  if (!first) message(alert, describe(error));
  (first ?? alert)?.focus();
}

/** Empty required fields, reported like the API would, before anything is sent. */
function missing(form) {
  let first = null;
  for (const input of form.querySelectorAll("[required]")) {
    const empty = input.type === "checkbox" ? !input.checked : !String(input.value).trim();
    if (!input.closest("[hidden]") && empty) {
      setFieldError(form, input.name, say("required"));
      first ??= input;
    }
  }
  first?.focus();
  return first !== null;
}

export function values(form) {
  return Object.fromEntries(
    [...new FormData(form).entries()].filter(([, v]) => typeof v === "string").map(([k, v]) => [k, v]),
  );
}

/**
 * Handle a form's submit with `action(values)`: empty required fields and API errors are shown
 * where they belong, what was typed stays, the submit button is busy meanwhile. `done(result)`
 * runs after a success, `failed(error)` after an error has been shown.
 */
export function onSubmit(form, action, { done, failed, fieldFor } = {}) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = event.submitter ?? form.querySelector('[type="submit"]');
    if (button?.getAttribute("aria-busy") === "true") return;
    clearErrors(form);
    if (missing(form)) return;
    button?.setAttribute("aria-busy", "true");
    let result;
    try {
      result = await action(values(form), event.submitter);
    } catch (error) {
      showError(form, error, fieldFor);
      failed?.(error);
      return;
    } finally {
      button?.removeAttribute("aria-busy");
    }
    await done?.(result);
  });
}
// ---- the console -----------------------------------------------------------------------------

/**
 * Start a console page: confirm the sign-in (refreshing if the access cookie expired), fill in
 * the header and navigation, keep the sign-in fresh. Resolves with the user (GET /api/auth/me/).
 */
export async function consolePage() {
  keepSignedIn();
  whenSignedInElsewhere(() => location.reload());
  let me;
  try {
    me = await api("GET", "/api/auth/me/");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      sessionOver();
      return new Promise(() => {}); // leaving the page
    }
    message($("#page-alert"), describe(error), { focus: true });
    $('[data-when="loading"]')?.remove();
    throw error;
  }
  if (!expiry().at) tokensArrived({ expires_in: accessLifetime() });
  $("#who-email").textContent = me.email;
  for (const button of $$('[data-action="sign-out"]')) {
    button.addEventListener("click", () => signOut().catch(() => {}));
  }
  navExtras(me);
  $('[data-when="loading"]')?.remove();
  for (const el of $$('[data-when="ready"]')) show(el);
  return me;
}

function accessLifetime() {
  return Number(document.querySelector('meta[name="iam-access-lifetime"]')?.content) || 300;
}

async function navExtras(me) {
  // the organisation settings link, for a session scoped to a tenant (/me names it where the
  // IAM's /me has the tenant and permissions; otherwise the tenant list says which is current)
  let tenant = me.tenant;
  let perms = me.perms;
  if (tenant === undefined) {
    const tenants = await api("GET", "/api/tenants/").catch(() => []);
    tenant = tenants.find((t) => t.current) ?? null;
    perms = null;
  }
  if (tenant && (perms ?? ["tenant.read"]).includes("tenant.read")) show($('[data-needs="tenant"]'));
  // connected accounts: only where social sign-in exists on this IAM
  if (await socialAvailable()) show($('[data-needs="social"]'));
}

let providers = null;
/** The social sign-in providers, or null where this IAM has no social sign-in (the page says
 * whether it has: no request, and no 404, where it has not). */
export function socialProviders() {
  if (!document.querySelector('meta[name="iam-social"]')) return Promise.resolve(null);
  providers ??= send("GET", "/api/auth/social/providers/").then(
    (data) => (Array.isArray(data) ? data : (data?.providers ?? data?.results ?? [])),
    () => null,
  );
  return providers;
}

async function socialAvailable() {
  return (await socialProviders()) !== null;
}
