// The browser-app recipe of docs/api.md ("Browser apps"), with plain fetch: an app on another
// origin (listed in the IAM's CORS_ALLOWED_ORIGINS) signs in with the cookie or the hybrid
// transport, refreshes when a call answers 401, and signs out.
//
// - Every request goes with credentials: "include" (the IAM's HttpOnly cookies travel).
// - The CSRF token comes from the X-CSRFToken response header (GET /api/auth/csrf/, and every
//   cookie or hybrid login, which rotates it); the app cannot read the IAM's csrftoken cookie.
//   It is sent back in the X-CSRFToken request header on every unsafe request.
// - Hybrid transport: the access token stays in memory (never in storage) and goes as a bearer
//   header; the refresh token is an HttpOnly cookie. After a page load the app has no access
//   token: a refresh gets one.

export function iamClient(iam) {
  let csrfToken = null;
  let access = null; // hybrid transport only
  let refreshing = null; // one refresh at a time: concurrent 401s wait for the same one
  const stats = { csrfFetches: 0, refreshes: 0 };

  async function send(method, path, body, retry = true) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && csrfToken) headers["X-CSRFToken"] = csrfToken;
    if (access) headers["Authorization"] = `Bearer ${access}`;
    const response = await fetch(iam + path, {
      method,
      headers,
      credentials: "include",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const token = response.headers.get("X-CSRFToken");
    if (token) csrfToken = token; // a login rotates it: always keep the newest
    if (retry && response.status === 403 && method !== "GET") {
      // another tab signed in (a new token) or the cookie is gone: fetch the current one, once
      const error = await response.clone().json().catch(() => ({}));
      if (error.code === "csrf_failed") {
        await csrf();
        return send(method, path, body, false);
      }
    }
    return response;
  }

  async function csrf() {
    stats.csrfFetches += 1;
    await send("GET", "/api/auth/csrf/");
  }

  async function login(email, password, transport = "cookie") {
    if (!csrfToken) await csrf();
    const response = await send("POST", "/api/auth/login/", { email, password, transport });
    const body = await response.json();
    if (response.ok) access = body.access ?? null;
    return { status: response.status, body };
  }

  function refresh() {
    refreshing ??= (async () => {
      if (!csrfToken) await csrf(); // e.g. after a page load
      stats.refreshes += 1;
      const response = await send("POST", "/api/auth/refresh/", {});
      if (response.ok) access = (await response.json()).access ?? null;
      else if (response.status === 401) access = null; // the session is over: sign in again
      return response.ok;
    })().finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  // What an axios 401 interceptor does: refresh once, then repeat the call.
  async function request(method, path, body) {
    let response = await send(method, path, body);
    if (response.status === 401 && (await refresh())) response = await send(method, path, body);
    return response;
  }

  async function logout() {
    const response = await send("POST", "/api/auth/logout/", {});
    access = null;
    return response.status;
  }

  return { csrf, login, refresh, request, logout, stats };
}
